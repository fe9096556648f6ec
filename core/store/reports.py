"""What the morning report reads: the nights, their counts, and the rows of one night.

The report and the dashboard's Night page read the same rows, so that what the CLI
prints and what the page shows never disagree.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select

from .queries import StorePart, latest_file_verdicts, latest_verdicts
from .schema import File, Image, Score


class ReportsPart(StorePart):
    """The store as the report reads it."""

    def nights(self) -> list[str]:
        """Every night with files, oldest first."""
        with self._sessions() as session:
            return list(session.scalars(select(File.night).distinct().order_by(File.night)))

    def night_counts(self) -> list[dict[str, Any]]:
        """Per night, newest first: images, flagged images (latest score), unreadable files."""
        latest = select(Score.image_id, func.max(Score.id).label("score_id")).group_by(Score.image_id).subquery()
        with self._sessions() as session:
            images = session.execute(
                select(File.night, func.count(Image.id), func.sum(case((Score.flagged, 1), else_=0)))
                .join(Image, Image.file_id == File.id)
                .outerjoin(latest, latest.c.image_id == Image.id)
                .outerjoin(Score, Score.id == latest.c.score_id)
                .group_by(File.night)
            ).all()
            unreadable = dict(
                session.execute(select(File.night, func.count(File.id)).where(File.error.is_not(None)).group_by(File.night)).all()
            )
        counts = {night: {"night": night, "images": n, "flagged": int(flagged or 0), "unreadable": 0} for night, n, flagged in images}
        for night, n in unreadable.items():
            row = counts.setdefault(night, {"night": night, "images": 0, "flagged": 0, "unreadable": 0})
            row["unreadable"] = n
            row["flagged"] += n
        return [counts[n] for n in sorted(counts, reverse=True)]

    def night_rows(self, night: str) -> list[dict[str, Any]]:
        """One row per image extension of a night (one per unreadable file), with its latest score.

        The rows carry what the report and the dashboard show: path, ext, identity,
        score, threshold, flag, reasons, details, thumbnail and latest verdict.
        """
        with self._sessions() as session:
            files = session.scalars(select(File).where(File.night == night).order_by(File.path)).all()
            images = session.scalars(select(Image).join(File).where(File.night == night).order_by(File.path, Image.ext)).all()
            ids = [i.id for i in images]
            latest = select(func.max(Score.id)).where(Score.image_id.in_(ids)).group_by(Score.image_id).scalar_subquery()
            scores = {s.image_id: s for s in session.scalars(select(Score).where(Score.id.in_(latest)))} if ids else {}
            verdicts = latest_verdicts(session, ids)
            file_verdicts = latest_file_verdicts(session, [f.id for f in files if f.error])
            file_paths = {f.id: f.path for f in files}
            rows = []
            for f in files:
                if f.error:
                    rows.append(
                        {
                            "path": f.path,
                            "ext": None,
                            "image_type": "",
                            "category": "",
                            "mode": "",
                            "night": night,
                            "score": None,
                            "threshold": None,
                            "flagged": True,
                            "reasons": [f"unreadable: {f.error}"],
                            "reference": "",
                            "details": {},
                            "image_id": None,
                            "file_id": f.id,
                            "verdict": file_verdicts.get(f.id),
                            "thumbnail": None,
                            "difference": None,
                            "date_obs": None,
                            "exptime": None,
                            "model_version": "",
                        }
                    )
            for image in images:
                score = scores.get(image.id)
                rows.append(
                    {
                        "path": file_paths[image.file_id],
                        "ext": image.ext,
                        "image_type": image.image_type,
                        "category": image.category,
                        "mode": image.mode,
                        "night": image.night,
                        "score": score.score if score else None,
                        "threshold": score.threshold if score else None,
                        "flagged": bool(score.flagged) if score else False,
                        "reasons": list(score.reasons) if score else ["not scored yet"],
                        "reference": score.reference if score else "",
                        "details": dict(score.details) if score else {},
                        "image_id": image.id,
                        "file_id": image.file_id,
                        "verdict": verdicts.get(image.id),
                        "thumbnail": image.thumbnail,
                        "difference": score.difference if score else None,
                        "date_obs": image.date_obs,
                        "exptime": image.exptime,
                        "model_version": score.model_version if score else "",
                    }
                )
        return sorted(rows, key=lambda r: (r["path"], -1 if r["ext"] is None else r["ext"]))
