"""Light reads of many images at once, for maps, clusterings, lists and histories.

Rows without pixels, profiles or headers (:class:`ImageRow`), the types in the store,
and one kind of number at a time (descriptors, quality numbers) for a list of image
ids: what a page of thousands of points needs, in one indexed query each.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import func, select

from .queries import (
    StorePart,
    chunks,
    descriptor_of_image,
    header_type,
    image_filters,
    latest_label_of_image,
    latest_score_of_image,
    quality_of_image,
)
from .records import ImageRow
from .schema import Descriptor, File, Image, Label, Quality, Score


class ImagesPart(StorePart):
    """The store's images, read light."""

    def image_rows(
        self,
        image_ids: Sequence[int] | None = None,
        *,
        night: str | None = None,
        nights: Sequence[str] | None = None,
        image_type: str | None = None,
        mode: str | None = None,
        instrument: str | None = None,
    ) -> list[ImageRow]:
        """Images with their latest score and verdict, ordered by night, time and id.

        Filters combine: explicit ids, one night or a list of nights, an image type,
        a mode, an instrument. Without any filter, every image of the store.
        """
        conditions = image_filters(night=night, nights=nights, image_type=image_type, mode=mode, instrument=instrument)
        query = (
            select(
                Image.id,
                Image.file_id,
                File.path,
                Image.ext,
                Image.night,
                Image.date_obs,
                Image.instrument,
                Image.arm,
                Image.image_type,
                Image.mode,
                Image.category,
                header_type(),
                Image.ny,
                Image.nx,
                Score.score,
                Score.threshold,
                Score.flagged,
                Label.verdict,
                Score.reasons,
                Score.model_version,
            )
            .join(File, Image.file_id == File.id)
            .outerjoin(Score, latest_score_of_image())
            .outerjoin(Label, latest_label_of_image())
        )
        with self._sessions() as session:
            connection = session.connection()  # plain rows: no ORM loading for thousands of them
            if image_ids is None:
                rows = connection.execute(query.where(*conditions)).all()
            else:
                rows = [
                    row for chunk in chunks(image_ids) for row in connection.execute(query.where(Image.id.in_(chunk), *conditions)).all()
                ]
        rows.sort(key=lambda r: (r[4], r[5] is None, r[5] or 0, r[0]))
        return [_image_row(row) for row in rows]

    def image_types(self) -> list[dict[str, Any]]:
        """One entry per (instrument, image type, mode): its category, images and nights.

        Keys: ``instrument``, ``image_type``, ``mode``, ``category``, ``images``,
        ``nights``, ``first_night``, ``last_night``.
        """
        with self._sessions() as session:
            rows = session.execute(
                select(
                    Image.instrument,
                    Image.image_type,
                    Image.mode,
                    func.max(Image.category),
                    func.count(),
                    func.count(Image.night.distinct()),
                    func.min(Image.night),
                    func.max(Image.night),
                )
                .group_by(Image.instrument, Image.image_type, Image.mode)
                .order_by(Image.instrument, Image.image_type, Image.mode)
            ).all()
        keys = ("instrument", "image_type", "mode", "category", "images", "nights", "first_night", "last_night")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def descriptors(self, image_ids: Sequence[int], fingerprint: str) -> dict[int, np.ndarray]:
        """The descriptors (float32 vectors) by one embedder of those images that have one."""
        vectors: dict[int, np.ndarray] = {}
        with self._sessions() as session:
            for chunk in chunks(image_ids):
                rows = session.execute(
                    select(Image.id, Descriptor.vector)
                    .join(File, Image.file_id == File.id)
                    .join(Descriptor, descriptor_of_image(fingerprint))
                    .where(Image.id.in_(chunk))
                ).all()
                vectors.update((image_id, np.frombuffer(vector, np.float32)) for image_id, vector in rows)
        return vectors

    def thumbnails(self, image_ids: Sequence[int]) -> dict[int, bytes]:
        """The stored thumbnails (PNG) of those images that have one."""
        pictures: dict[int, bytes] = {}
        with self._sessions() as session:
            for chunk in chunks(image_ids):
                rows = session.execute(select(Image.id, Image.thumbnail).where(Image.id.in_(chunk), Image.thumbnail.is_not(None))).all()
                pictures.update(rows)
        return pictures

    def headers(self, image_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """The header keywords kept with each image at ingest (what an expert sees when the file is gone)."""
        kept: dict[int, dict[str, Any]] = {}
        with self._sessions() as session:
            for chunk in chunks(image_ids):
                rows = session.execute(select(Image.id, Image.header).where(Image.id.in_(chunk))).all()
                kept.update((image_id, dict(header or {})) for image_id, header in rows)
        return kept

    def metrics(self, image_ids: Sequence[int], qc_version: str) -> dict[int, dict[str, float]]:
        """The quality numbers of one QC version of those images that have them."""
        numbers: dict[int, dict[str, float]] = {}
        with self._sessions() as session:
            for chunk in chunks(image_ids):
                rows = session.execute(
                    select(Image.id, Quality.metrics)
                    .join(File, Image.file_id == File.id)
                    .join(Quality, quality_of_image(qc_version))
                    .where(Image.id.in_(chunk))
                ).all()
                numbers.update((image_id, dict(values or {})) for image_id, values in rows)
        return numbers


def _image_row(row) -> ImageRow:
    (
        image_id,
        file_id,
        path,
        ext,
        night,
        date_obs,
        instrument,
        arm,
        image_type,
        mode,
        category,
        header_type_,
        ny,
        nx,
        score,
        threshold,
        flagged,
        verdict,
        reasons,
        model_version,
    ) = row
    return ImageRow(
        image_id=image_id,
        file_id=file_id,
        path=path,
        ext=ext,
        night=night,
        date_obs=date_obs,
        instrument=instrument,
        arm=arm,
        image_type=image_type,
        mode=mode,
        category=category,
        header_type=str(header_type_ or ""),
        shape=(ny, nx),
        score=score,
        threshold=threshold,
        flagged=None if flagged is None else bool(flagged),
        verdict=verdict,
        reasons=list(reasons or []),
        model_version=model_version or "",
    )
