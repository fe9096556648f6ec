"""Experts' verdicts: append-only, each saying who, when, and which model version showed the flag."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import and_, select

from .database import transaction
from .queries import StorePart, latest_label_of_image, latest_score_of_image
from .records import VERDICTS, JudgedImage
from .schema import File, Image, Label, Score


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
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, not {verdict!r}")
        if not reviewer.strip():
            raise ValueError("a verdict needs the reviewer's name")
        path = str(Path(path).expanduser().absolute())
        with transaction(self._sessions) as session:
            file_row = session.scalars(select(File).where(File.path == path).order_by(File.id.desc())).first()
            if file_row is None:
                raise KeyError(f"{path} is not in the store; ingest it first")
            image_id = None
            score = None
            if ext is None and not file_row.error:
                exts = sorted(session.scalars(select(Image.ext).where(Image.file_id == file_row.id)))
                raise ValueError(f"{path} is readable: say which image extension ({', '.join(map(str, exts))})")
            if ext is not None:
                image_id = session.scalars(select(Image.id).where(Image.file_id == file_row.id, Image.ext == ext)).first()
                if image_id is None:
                    exts = sorted(session.scalars(select(Image.ext).where(Image.file_id == file_row.id)))
                    raise KeyError(f"{path} has no image extension {ext} (it has: {', '.join(map(str, exts)) or 'none'})")
                score = session.scalars(select(Score).where(Score.image_id == image_id).order_by(Score.id.desc())).first()
            label = Label(
                file_id=file_row.id,
                image_id=image_id,
                verdict=verdict,
                reviewer=reviewer.strip(),
                note=note,
                model_version=score.model_version if score else "",
                score_id=score.id if score else None,
            )
            session.add(label)
            session.flush()
            return label.id

    def labels(self, image_id: int | None = None) -> list[Label]:
        """Labels, oldest first (all, or those of one image)."""
        with self._sessions() as session:
            query = select(Label).order_by(Label.id)
            if image_id is not None:
                query = query.where(Label.image_id == image_id)
            return list(session.scalars(query))

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
