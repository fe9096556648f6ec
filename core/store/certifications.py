"""Certified changes: after an intervention an expert says "new normal from this night on".

A certification names an image type and mode and a night; from that night on the
reference of that type and mode is built only from frames of that night and later
(:func:`core.scoring.choose_reference`). Certifications are append-only, like verdicts:
the newest one on or before a night decides where that night's history starts.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from .database import transaction
from .queries import StorePart
from .records import CertifiedChange
from .schema import Certification, Image


class CertificationsPart(StorePart):
    """The store's certified changes."""

    def certify(self, image_type: str, mode: str, night: str, reviewer: str, note: str = "") -> int:
        """Record that the frames of this type and mode from ``night`` on are the new normal.

        Raises
        ------
        ValueError
            The night is not a date (``YYYY-MM-DD``), the reviewer is empty, or the
            store holds no frame of this type and mode.
        """
        if not _is_night(night):
            raise ValueError(f"the night must be a date as YYYY-MM-DD, not {night!r}")
        if not reviewer.strip():
            raise ValueError("a certification needs the name of who certifies it")
        with transaction(self._sessions) as session:
            known = session.scalars(select(Image.id).where(Image.image_type == image_type, Image.mode == mode).limit(1)).first()
            if known is None:
                raise ValueError(f"the store holds no frame of type {image_type!r} and mode {mode!r}")
            row = Certification(image_type=image_type, mode=mode, night=night, reviewer=reviewer.strip(), note=note.strip())
            session.add(row)
            session.flush()
            return row.id

    def certifications(self, image_type: str | None = None, mode: str | None = None) -> list[CertifiedChange]:
        """Certified changes, oldest night first (of one type, or one type and mode, when given)."""
        query = select(Certification)
        if image_type is not None:
            query = query.where(Certification.image_type == image_type)
        if mode is not None:
            query = query.where(Certification.mode == mode)
        with self._sessions() as session:
            rows = session.scalars(query.order_by(Certification.night, Certification.id)).all()
            return [_certified(row) for row in rows]

    def certified_since(self, image_type: str, mode: str, night: str) -> CertifiedChange | None:
        """The newest change certified on or before ``night`` for this type and mode (None if none)."""
        with self._sessions() as session:
            row = session.scalars(
                select(Certification)
                .where(Certification.image_type == image_type, Certification.mode == mode, Certification.night <= night)
                .order_by(Certification.night.desc(), Certification.id.desc())
                .limit(1)
            ).first()
            return None if row is None else _certified(row)


def _is_night(text: str) -> bool:
    try:
        return len(text) == 10 and date.fromisoformat(text).isoformat() == text
    except ValueError:
        return False


def _certified(row: Certification) -> CertifiedChange:
    return CertifiedChange(row.id, row.image_type, row.mode, row.night, row.reviewer, row.note, row.created_at)
