"""What the detector reads and writes: images with their numbers, their history, and scores.

Scores are append-only: a new score supersedes the older ones of its image, which stay.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from sqlalchemy import and_, func, insert, select

from .database import transaction
from .queries import (
    StorePart,
    descriptor_of_image,
    image_filters,
    latest_flags,
    latest_verdicts,
    quality_of_image,
)
from .records import HEADER_TYPE_KEYWORD, NewScore, StoredImage, unpack_preview, unpack_profiles
from .schema import Descriptor, File, Image, Quality, Score


class ScoresPart(StorePart):
    """The store as the detector sees it."""

    def image_groups(self, night: str) -> list[tuple[str, str]]:
        """The (image type, mode) groups that have images in a night."""
        with self._sessions() as session:
            rows = session.execute(
                select(Image.image_type, Image.mode).where(Image.night == night).distinct().order_by(Image.image_type, Image.mode)
            ).all()
        return [tuple(r) for r in rows]

    def unscored_nights(self) -> list[str]:
        """Nights holding an image that has no score yet (a run stopped after storing it, before scoring), oldest first."""
        scored = select(Score.id).where(Score.image_id == Image.id).exists()
        with self._sessions() as session:
            return list(session.scalars(select(Image.night).where(~scored).distinct().order_by(Image.night)))

    def images(
        self,
        fingerprint: str,
        qc_version: str,
        *,
        night: str | None = None,
        image_type: str | None = None,
        mode: str | None = None,
        nights: Sequence[str] | None = None,
        image_ids: Sequence[int] | None = None,
    ) -> list[StoredImage]:
        """Images with their descriptor, quality numbers, latest verdict and latest flag.

        Filters combine: one night or a list of nights, an image type and mode, or
        explicit ids.
        """
        conditions = image_filters(night=night, nights=nights, image_type=image_type, mode=mode, image_ids=image_ids)
        original = File.__table__.alias("original")
        with self._sessions() as session:
            rows = session.execute(
                select(Image, File.path, original.c.path, Descriptor.vector, Quality.metrics, Quality.profiles)
                .join(File, Image.file_id == File.id)
                .outerjoin(original, original.c.id == File.duplicate_of)
                .outerjoin(Descriptor, descriptor_of_image(fingerprint))
                .outerjoin(Quality, quality_of_image(qc_version))
                .where(*conditions)
                .order_by(Image.night, Image.date_obs, Image.id)
            ).all()
            ids = [r[0].id for r in rows]
            verdicts = latest_verdicts(session, ids)
            flags = latest_flags(session, ids)
        return [
            _stored_image(
                image,
                path,
                duplicate_path,
                np.frombuffer(vector, np.float32) if vector is not None else None,
                dict(metrics or {}),
                unpack_profiles(profiles),
                verdicts.get(image.id),
                flags.get(image.id),
            )
            for image, path, duplicate_path, vector, metrics, profiles in rows
        ]

    def measured_by_older_calspot(
        self,
        qc_version: str,
        *,
        night: str | None = None,
        nights: Sequence[str] | None = None,
        image_type: str | None = None,
        mode: str | None = None,
    ) -> dict[int, str]:
        """Images whose quality numbers exist only of another QC version, with the newest of those versions.

        Filters combine as in :meth:`images`.

        After an upgrade that changed the quality numbers, the stored images keep their
        old numbers until their files are ingested again; they must not be scored (or
        stand for normal) as if they had none.
        """
        conditions = image_filters(night=night, nights=nights, image_type=image_type, mode=mode)
        same_content = and_(Quality.content_hash == File.content_hash, Quality.ext == Image.ext)
        current = select(Quality.id).where(quality_of_image(qc_version)).correlate(File, Image).exists()
        with self._sessions() as session:
            rows = session.execute(
                select(Image.id, func.max(Quality.qc_version))
                .join(File, Image.file_id == File.id)
                .join(Quality, same_content)
                .where(*conditions, ~current)
                .group_by(Image.id)
            ).all()
        return dict(rows)

    def earlier_nights(self, image_type: str, mode: str, before: str, count: int, since: str | None = None) -> list[str]:
        """The latest ``count`` nights before ``before`` (and on or after ``since``) with images of this type and mode."""
        later = [] if since is None else [Image.night >= since]
        with self._sessions() as session:
            rows = session.scalars(
                select(Image.night)
                .where(Image.image_type == image_type, Image.mode == mode, Image.night < before, *later)
                .distinct()
                .order_by(Image.night.desc())
                .limit(count)
            ).all()
        return sorted(rows)

    def previews(self, image_ids: Iterable[int], qc_version: str) -> dict[int, np.ndarray]:
        """The stored previews (small reduced pictures, ADU) of some images."""
        image_ids = list(set(image_ids))
        if not image_ids:
            return {}
        with self._sessions() as session:
            rows = session.execute(
                select(Image.id, Quality.preview)
                .join(File, Image.file_id == File.id)
                .join(Quality, quality_of_image(qc_version))
                .where(Image.id.in_(image_ids))
            ).all()
        return {image_id: unpack_preview(blob) for image_id, blob in rows if blob}

    def type_examples(self, instrument: str, before: str, nights: int, fingerprint: str) -> list[StoredImage]:
        """Frames of every type and mode of an instrument from its latest ``nights`` nights before ``before``.

        Only what the type classifier needs is loaded: identity, descriptor, latest
        verdict and flag (no quality numbers or profiles).
        """
        with self._sessions() as session:
            recent = session.scalars(
                select(Image.night)
                .where(Image.instrument == instrument, Image.night < before)
                .distinct()
                .order_by(Image.night.desc())
                .limit(nights)
            ).all()
            if not recent:
                return []
            rows = session.execute(
                select(Image, File.path, Descriptor.vector)
                .join(File, Image.file_id == File.id)
                .join(Descriptor, descriptor_of_image(fingerprint))
                .where(Image.instrument == instrument, Image.night.in_(recent), File.duplicate_of.is_(None))
            ).all()
            ids = [image.id for image, _, _ in rows]
            verdicts = latest_verdicts(session, ids)
            flags = latest_flags(session, ids)
        return [
            _stored_image(
                image,
                path,
                None,
                np.frombuffer(vector, np.float32),
                {},
                {},
                verdicts.get(image.id),
                flags.get(image.id),
            )
            for image, path, vector in rows
        ]

    def add_scores(self, scores: Sequence[NewScore], run_id: int, model_version: str) -> None:
        """Append detector results in one bulk statement (earlier ones stay, superseded)."""
        if not scores:
            return
        with transaction(self._sessions) as session:
            session.execute(
                insert(Score),
                [
                    {
                        "image_id": s.image_id,
                        "run_id": run_id,
                        "model_version": model_version,
                        "score": s.score,
                        "threshold": s.threshold,
                        "flagged": s.flagged,
                        "reference": s.reference,
                        "reasons": s.reasons,
                        "details": s.details,
                        "difference": s.difference,
                    }
                    for s in scores
                ],
            )


def _stored_image(
    image: Image,
    path: str,
    duplicate_of: str | None,
    descriptor: np.ndarray | None,
    metrics: dict[str, float],
    profiles: dict[str, np.ndarray],
    verdict: str | None,
    flagged: bool | None,
) -> StoredImage:
    return StoredImage(
        image_id=image.id,
        file_id=image.file_id,
        path=path,
        ext=image.ext,
        shape=(image.ny, image.nx),
        instrument=image.instrument,
        image_type=image.image_type,
        category=image.category,
        header_type=str((image.header or {}).get(HEADER_TYPE_KEYWORD) or image.label),
        mode=image.mode,
        night=image.night,
        date_obs=image.date_obs,
        problems=list(image.problems or []),
        duplicate_of=duplicate_of,
        descriptor=descriptor,
        metrics=metrics,
        profiles=profiles,
        verdict=verdict,
        flagged=flagged,
    )
