"""Experts' verdicts: append-only, each saying who, when, and which model version showed the flag."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, select

from . import direct
from .constants import VERDICTS
from .database import transaction
from .queries import StorePart, latest_label_of_image, latest_score_of_image, session_sql
from .records import JudgedImage
from .schema import File, Image, Label, Score

# What a verdict record holds, in this order (``calspot export labels``).
VERDICT_FIELDS = (
    "content_hash",
    "ext",
    "verdict",
    "reviewer",
    "note",
    "created_at",
    "model_version",
    "path",
    "night",
    "image_type",
    "mode",
)


@dataclass
class VerdictImport:
    """What an import of verdict records did: added, already there, without their frame here, older than the frame's newest."""

    added: int = 0
    known: int = 0
    missing: list[str] = field(default_factory=list)
    superseded: list[str] = field(default_factory=list)


class LabelsPart(StorePart):
    """The store's verdicts."""

    def add_label(self, path: str | Path, ext: int | None, verdict: str, reviewer: str, note: str = "") -> int:
        """Append an expert's verdict on an image (or, with ``ext`` None, on an unreadable file).

        The label records the model version of the score that was shown. Earlier
        labels stay; the newest one counts.

        Raises
        ------
        KeyError
            No stored image at that path and extension.
        ValueError
            The verdict is not ``accept`` or ``reject``, or the reviewer is empty.
        """
        with transaction(self._sessions) as session:
            return direct.add_label(session_sql(session), path, ext, verdict, reviewer, note)

    def add_labels(self, verdicts: Sequence[tuple[str | Path, int | None, str, str, str]]) -> list[int | str]:
        """Append many verdicts ``(path, ext, verdict, reviewer, note)`` in one transaction.

        Returns, in the order given, each stored label's id, or why that verdict was
        refused (the others are stored all the same).
        """
        out: list[int | str] = []
        with transaction(self._sessions) as session:
            sql = session_sql(session)
            for path, ext, verdict, reviewer, note in verdicts:
                try:  # a refused verdict is refused before it writes anything
                    out.append(direct.add_label(sql, path, ext, verdict, reviewer, note))
                except (KeyError, ValueError) as exc:
                    out.append(str(exc.args[0] if exc.args else exc))
        return out

    def labels(self, image_id: int | None = None) -> list[Label]:
        """Labels, oldest first (all, or those of one image)."""
        with self._sessions() as session:
            query = select(Label).order_by(Label.id)
            if image_id is not None:
                query = query.where(Label.image_id == image_id)
            return list(session.scalars(query))

    def verdict_records(self) -> list[dict[str, Any]]:
        """Every verdict ever given (oldest first) keyed by its file's content hash and extension.

        The content hash, not the path, says which frame a verdict is about, so that
        verdicts survive moving the raw files and can be imported into another store.
        """
        with self._sessions() as session:
            rows = session.execute(
                select(Label, File, Image)
                .join(File, File.id == Label.file_id)
                .outerjoin(Image, Image.id == Label.image_id)
                .order_by(Label.id)
            ).all()
            return [
                {
                    "content_hash": file.content_hash,
                    "ext": None if image is None else image.ext,
                    "verdict": label.verdict,
                    "reviewer": label.reviewer,
                    "note": label.note or "",
                    "created_at": _utc(label.created_at).isoformat(),
                    "model_version": label.model_version or "",
                    "path": file.path,
                    "night": file.night,
                    "image_type": "" if image is None else image.image_type,
                    "mode": "" if image is None else image.mode,
                }
                for label, file, image in rows
            ]

    def import_verdicts(self, records: list[dict[str, Any]]) -> VerdictImport:
        """Add the verdict records this store lacks, in one transaction (importing the same records again adds nothing).

        A record is matched to a frame by content hash and extension (an empty
        extension: a file that could not be read) and counts as known when the frame
        already has a verdict with the same verdict, reviewer, note and time. The
        newest verdict of a frame is the one that counts: a record older than a verdict
        the frame has here is left out (listed in ``superseded``), never put after it.

        Raises
        ------
        ValueError
            A record lacks a field, or has an unknown verdict or an unreadable time.
        """
        done = VerdictImport()
        with transaction(self._sessions) as session:
            for number, record in enumerate(records, start=1):
                verdict, reviewer, created = _checked_record(number, record)
                ext = None if record.get("ext") in (None, "") else int(record["ext"])
                file_row = session.scalars(
                    select(File).where(File.content_hash == str(record["content_hash"])).order_by(File.duplicate_of.is_not(None), File.id)
                ).first()
                image_id = None
                if file_row is not None and ext is not None:
                    image_id = session.scalars(select(Image.id).where(Image.file_id == file_row.id, Image.ext == ext)).first()
                if file_row is None or (ext is not None and image_id is None):
                    done.missing.append(f"{record.get('path') or record['content_hash']} ext {'-' if ext is None else ext}")
                    continue
                same = select(Label).where(
                    Label.file_id == file_row.id,
                    Label.image_id.is_(None) if image_id is None else Label.image_id == image_id,
                    Label.verdict == verdict,
                    Label.reviewer == reviewer,
                    Label.note == str(record.get("note") or ""),
                )
                if any(_utc(label.created_at) == created for label in session.scalars(same)):
                    done.known += 1
                    continue
                newest = session.scalars(
                    select(Label.created_at)
                    .where(Label.file_id == file_row.id, Label.image_id.is_(None) if image_id is None else Label.image_id == image_id)
                    .order_by(Label.id.desc())
                ).first()
                if newest is not None and _utc(newest) > created:
                    done.superseded.append(f"{file_row.path} ext {'-' if ext is None else ext}")
                    continue
                session.add(
                    Label(
                        file_id=file_row.id,
                        image_id=image_id,
                        verdict=verdict,
                        reviewer=reviewer,
                        note=str(record.get("note") or ""),
                        model_version=str(record.get("model_version") or ""),
                        created_at=created,
                    )
                )
                done.added += 1
        return done

    def judged_images(self) -> list[JudgedImage]:
        """Every image with a verdict, its latest verdict and its latest score (oldest night first)."""
        with self._sessions() as session:
            rows = session.execute(
                select(Image, Label.verdict, Label.reviewer, Score.score, Score.threshold, Score.details)
                .join(Label, and_(Label.image_id == Image.id, latest_label_of_image()))
                .outerjoin(Score, and_(Score.image_id == Image.id, latest_score_of_image()))
                .order_by(Image.night, Image.id)
            ).all()
        return [
            JudgedImage(
                image_id=image.id,
                image_type=image.image_type,
                mode=image.mode,
                category=image.category,
                instrument=image.instrument,
                night=image.night,
                verdict=verdict,
                reviewer=reviewer,
                score=score,
                threshold=_unsupervised_threshold(threshold, details or {}),
                history_threshold=(details or {}).get("history_threshold"),
                z={str(k): float(v) for k, v in (details or {}).get("z", {}).items()},
            )
            for image, verdict, reviewer, score, threshold, details in rows
        ]


def _unsupervised_threshold(threshold: float | None, details: dict) -> float | None:
    """The detector's own threshold of a score (a score of calspot before training records only the one it used)."""
    if "unsupervised_threshold" in details:
        return details["unsupervised_threshold"]
    return None if "learned" in details else threshold


def _utc(moment: datetime) -> datetime:
    """SQLite gives back naive datetimes: they are UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _checked_record(number: int, record: dict[str, Any]) -> tuple[str, str, datetime]:
    """A record's verdict, reviewer and time, or a ValueError naming the record and what is wrong."""
    for name in ("content_hash", "verdict", "reviewer", "created_at"):
        if not str(record.get(name) or "").strip():
            raise ValueError(f"verdict record {number}: no {name}")
    if record["verdict"] not in VERDICTS:
        raise ValueError(f"verdict record {number}: verdict must be one of {', '.join(VERDICTS)}, not {record['verdict']!r}")
    try:
        created = _utc(datetime.fromisoformat(str(record["created_at"])))
    except ValueError:
        raise ValueError(f"verdict record {number}: created_at {record['created_at']!r} is not an ISO time") from None
    return str(record["verdict"]), str(record["reviewer"]).strip(), created
