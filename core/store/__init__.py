"""The store: files, images, descriptors, quality numbers, scores, runs and labels.

:class:`Store` is the one door to the database. It speaks the domain (``save_file``,
``reference_images``, ``night_rows``, ``add_label``) so that the rest of calspot never
writes SQL. SQLite in the home by default; any SQLAlchemy URL by configuration.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import and_, case, func, select

from ..config import Settings
from .database import StoreError, open_database, transaction
from .schema import SCHEMA_VERSION, Descriptor, File, Image, Label, Quality, Run, Score, utcnow

__all__ = [
    "SCHEMA_VERSION",
    "Store",
    "StoreError",
    "StoredImage",
    "NewImage",
    "NewFile",
    "NewScore",
    "VERDICTS",
]

VERDICTS = ("accept", "reject")
# ESO's data-product type says what a frame is in the words experts use (``LAMP,FLAT``).
HEADER_TYPE_KEYWORD = "HIERARCH ESO DPR TYPE"


def pack_profiles(profiles: Mapping[str, np.ndarray]) -> bytes | None:
    """Serialise named 1-D arrays (compressed ``.npz``)."""
    if not profiles:
        return None
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{k: np.asarray(v, np.float32) for k, v in profiles.items()})
    return buffer.getvalue()


def unpack_profiles(blob: bytes | None) -> dict[str, np.ndarray]:
    """Inverse of :func:`pack_profiles`."""
    if not blob:
        return {}
    with np.load(io.BytesIO(blob)) as archive:
        return {k: archive[k] for k in archive.files}


def pack_preview(picture: np.ndarray | None) -> bytes | None:
    """Serialise a preview compactly: float16 offsets from its median, plus the median."""
    if picture is None:
        return None
    median = np.float32(np.median(picture))
    return pack_profiles({"offsets": (picture - median).astype(np.float16), "median": np.array([median])})


def unpack_preview(blob: bytes | None) -> np.ndarray | None:
    """Inverse of :func:`pack_preview` (float32 ADU)."""
    if not blob:
        return None
    with np.load(io.BytesIO(blob)) as archive:
        return archive["offsets"].astype(np.float32) + archive["median"][0]


@dataclass
class NewImage:
    """An image extension ready to be stored."""

    ext: int
    extname: str
    shape: tuple[int, int]
    instrument: str
    arm: str
    category: str
    label: str
    mode: str
    image_type: str
    night: str
    date_obs: datetime | None
    exptime: float | None
    header: dict[str, Any]
    problems: list[str]
    thumbnail: bytes | None
    metrics: dict[str, float] | None
    profiles: dict[str, np.ndarray]
    descriptor: np.ndarray | None
    preview: np.ndarray | None = None


@dataclass
class NewFile:
    """A described file ready to be stored (``error`` set when unreadable)."""

    path: str
    content_hash: str
    size: int
    night: str
    error: str | None
    images: list[NewImage] = field(default_factory=list)


@dataclass
class NewScore:
    """A detector's result for one image."""

    image_id: int
    score: float | None
    threshold: float | None
    flagged: bool
    reference: str
    reasons: list[str]
    details: dict[str, Any]
    difference: bytes | None = None


@dataclass
class StoredImage:
    """An image as the detector sees it: identity, descriptor, quality numbers, verdicts."""

    image_id: int
    file_id: int
    path: str
    ext: int
    shape: tuple[int, int]
    instrument: str
    image_type: str
    category: str
    header_type: str
    mode: str
    night: str
    date_obs: datetime | None
    problems: list[str]
    duplicate_of: str | None
    descriptor: np.ndarray | None
    metrics: dict[str, float]
    profiles: dict[str, np.ndarray]
    verdict: str | None = None
    flagged: bool | None = None


class Store:
    """Calspot's database.

    Parameters
    ----------
    url
        SQLAlchemy URL. A new database gets its tables; an old one must have this
        calspot's schema version.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._sessions = open_database(url)

    @classmethod
    def open(cls, settings: Settings) -> Store:
        """The store of a home, as configured."""
        return cls(settings.store_url)

    # runs ---------------------------------------------------------------------------

    def start_run(self, command: str, settings: Mapping[str, Any]) -> int:
        """Record the start of a command; returns the run id."""
        with transaction(self._sessions) as session:
            run = Run(command=command, settings=dict(settings), status="running")
            session.add(run)
            session.flush()
            return run.id

    def finish_run(self, run_id: int, status: str, counts: Mapping[str, Any]) -> None:
        """Record how a command ended (``done``, ``interrupted``, ``failed``) and what it did."""
        with transaction(self._sessions) as session:
            run = session.get(Run, run_id)
            run.status = status
            run.counts = dict(counts)
            run.finished_at = utcnow()

    # ingestion ----------------------------------------------------------------------

    def complete_files(self, pairs: Iterable[tuple[str, str]], fingerprint: str, qc_version: str) -> set[tuple[str, str]]:
        """The (path, content hash) pairs already stored with descriptors of this fingerprint.

        A file is complete when its row exists and every image has a descriptor for
        ``fingerprint`` and quality numbers of ``qc_version`` (an unreadable file is
        complete as soon as it is recorded). A file known under an older model is not
        complete: it gets described again by the new one.
        """
        pairs = set(pairs)
        if not pairs:
            return set()
        hashes = {h for _, h in pairs}
        complete = set()
        with self._sessions() as session:
            files = session.execute(
                select(File.id, File.path, File.content_hash, File.error).where(File.content_hash.in_(hashes))
            ).all()
            exts = _group(session.execute(select(Image.file_id, Image.ext).join(File).where(File.content_hash.in_(hashes))).all())
            described = set(
                session.execute(
                    select(Descriptor.content_hash, Descriptor.ext).where(
                        Descriptor.content_hash.in_(hashes), Descriptor.fingerprint == fingerprint
                    )
                ).all()
            )
            measured = set(
                session.execute(
                    select(Quality.content_hash, Quality.ext).where(
                        Quality.content_hash.in_(hashes), Quality.qc_version == qc_version
                    )
                ).all()
            )
        for file_id, path, content_hash, error in files:
            if (path, content_hash) not in pairs:
                continue
            file_exts = exts.get(file_id, [])
            if error or all((content_hash, e) in described and (content_hash, e) in measured for e in file_exts):
                complete.add((path, content_hash))
        return complete

    def stored_descriptors(self, keys: Iterable[tuple[str, int]], fingerprint: str) -> set[tuple[str, int]]:
        """Which (content hash, ext) already have a descriptor of this fingerprint."""
        keys = set(keys)
        if not keys:
            return set()
        with self._sessions() as session:
            rows = session.execute(
                select(Descriptor.content_hash, Descriptor.ext).where(
                    Descriptor.content_hash.in_({h for h, _ in keys}), Descriptor.fingerprint == fingerprint
                )
            ).all()
        return {tuple(r) for r in rows} & keys

    def first_paths(self, hashes: Iterable[str]) -> dict[str, str]:
        """For each content hash, the path it was first stored under."""
        hashes = set(hashes)
        if not hashes:
            return {}
        with self._sessions() as session:
            rows = session.execute(
                select(File.content_hash, File.path).where(File.content_hash.in_(hashes)).order_by(File.id)
            ).all()
        first: dict[str, str] = {}
        for content_hash, path in rows:
            first.setdefault(content_hash, path)
        return first

    def save_files(self, files: Sequence[NewFile], run_id: int, fingerprint: str, qc_version: str) -> list[int]:
        """Store described files in one transaction: all of them or none.

        A file already stored (same path and content) only gains the descriptors and
        quality numbers it lacks; nothing is duplicated.

        Returns
        -------
        list of int
            The file ids, in the order given.
        """
        ids = []
        with transaction(self._sessions) as session:
            for new in files:
                ids.append(self._save_file(session, new, run_id, fingerprint, qc_version))
        return ids

    def _save_file(self, session, new: NewFile, run_id: int, fingerprint: str, qc_version: str) -> int:
        row = session.scalars(select(File).where(File.path == new.path, File.content_hash == new.content_hash)).first()
        if row is None:
            original = session.scalars(
                select(File.id).where(File.content_hash == new.content_hash, File.path != new.path).order_by(File.id)
            ).first()
            row = File(
                path=new.path,
                content_hash=new.content_hash,
                size=new.size,
                night=new.night,
                error=new.error,
                duplicate_of=original,
                run_id=run_id,
            )
            session.add(row)
            session.flush()
            for image in new.images:
                session.add(_image_row(row.id, image))
        have_descriptor = set(
            session.scalars(
                select(Descriptor.ext).where(Descriptor.content_hash == new.content_hash, Descriptor.fingerprint == fingerprint)
            )
        )
        have_quality = set(
            session.scalars(select(Quality.ext).where(Quality.content_hash == new.content_hash, Quality.qc_version == qc_version))
        )
        for image in new.images:
            if image.descriptor is not None and image.ext not in have_descriptor:
                session.add(
                    Descriptor(
                        content_hash=new.content_hash,
                        ext=image.ext,
                        fingerprint=fingerprint,
                        vector=np.asarray(image.descriptor, np.float32).tobytes(),
                    )
                )
            if image.metrics is not None and image.ext not in have_quality:
                session.add(
                    Quality(
                        content_hash=new.content_hash,
                        ext=image.ext,
                        qc_version=qc_version,
                        metrics=image.metrics,
                        profiles=pack_profiles(image.profiles),
                        preview=pack_preview(image.preview),
                    )
                )
        return row.id

    # scoring ------------------------------------------------------------------------

    def image_groups(self, night: str) -> list[tuple[str, str]]:
        """The (image type, mode) groups that have images in a night."""
        with self._sessions() as session:
            rows = session.execute(
                select(Image.image_type, Image.mode).where(Image.night == night).distinct().order_by(Image.image_type, Image.mode)
            ).all()
        return [tuple(r) for r in rows]

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
        conditions = []
        if night is not None:
            conditions.append(Image.night == night)
        if nights is not None:
            conditions.append(Image.night.in_(list(nights)))
        if image_type is not None:
            conditions.append(Image.image_type == image_type)
        if mode is not None:
            conditions.append(Image.mode == mode)
        if image_ids is not None:
            conditions.append(Image.id.in_(list(image_ids)))
        original = File.__table__.alias("original")
        with self._sessions() as session:
            rows = session.execute(
                select(Image, File.path, original.c.path, Descriptor.vector, Quality.metrics, Quality.profiles)
                .join(File, Image.file_id == File.id)
                .outerjoin(original, original.c.id == File.duplicate_of)
                .outerjoin(Descriptor, _descriptor_of_image(fingerprint))
                .outerjoin(Quality, _quality_of_image(qc_version))
                .where(*conditions)
                .order_by(Image.night, Image.date_obs, Image.id)
            ).all()
            ids = [r[0].id for r in rows]
            verdicts = self._latest_verdicts(session, ids)
            flags = self._latest_flags(session, ids)
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

    @staticmethod
    def _latest_verdicts(session, image_ids: Sequence[int]) -> dict[int, str]:
        if not image_ids:
            return {}
        latest = (
            select(func.max(Label.id)).where(Label.image_id.in_(image_ids)).group_by(Label.image_id).scalar_subquery()
        )
        return dict(session.execute(select(Label.image_id, Label.verdict).where(Label.id.in_(latest))).all())

    @staticmethod
    def _latest_file_verdicts(session, file_ids: Sequence[int]) -> dict[int, str]:
        """Latest verdict on whole files (labels without an image: unreadable files)."""
        if not file_ids:
            return {}
        latest = (
            select(func.max(Label.id))
            .where(Label.file_id.in_(file_ids), Label.image_id.is_(None))
            .group_by(Label.file_id)
            .scalar_subquery()
        )
        return dict(session.execute(select(Label.file_id, Label.verdict).where(Label.id.in_(latest))).all())

    @staticmethod
    def _latest_flags(session, image_ids: Sequence[int]) -> dict[int, bool]:
        if not image_ids:
            return {}
        latest = (
            select(func.max(Score.id)).where(Score.image_id.in_(image_ids)).group_by(Score.image_id).scalar_subquery()
        )
        return dict(session.execute(select(Score.image_id, Score.flagged).where(Score.id.in_(latest))).all())

    def earlier_nights(self, image_type: str, mode: str, before: str, count: int) -> list[str]:
        """The latest ``count`` nights before ``before`` that have images of this type and mode."""
        with self._sessions() as session:
            rows = session.scalars(
                select(Image.night)
                .where(Image.image_type == image_type, Image.mode == mode, Image.night < before)
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
                .join(Quality, _quality_of_image(qc_version))
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
                .join(Descriptor, _descriptor_of_image(fingerprint))
                .where(Image.instrument == instrument, Image.night.in_(recent), File.duplicate_of.is_(None))
            ).all()
            ids = [image.id for image, _, _ in rows]
            verdicts = self._latest_verdicts(session, ids)
            flags = self._latest_flags(session, ids)
        return [
            _stored_image(image, path, None, np.frombuffer(vector, np.float32), {}, {}, verdicts.get(image.id), flags.get(image.id))
            for image, path, vector in rows
        ]

    def add_scores(self, scores: Sequence[NewScore], run_id: int, model_version: str) -> None:
        """Append detector results (earlier ones stay, superseded)."""
        with transaction(self._sessions) as session:
            session.add_all(
                Score(
                    image_id=s.image_id,
                    run_id=run_id,
                    model_version=model_version,
                    score=s.score,
                    threshold=s.threshold,
                    flagged=s.flagged,
                    reference=s.reference,
                    reasons=s.reasons,
                    details=s.details,
                    difference=s.difference,
                )
                for s in scores
            )

    # reporting ----------------------------------------------------------------------

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
            images = session.scalars(
                select(Image).join(File).where(File.night == night).order_by(File.path, Image.ext)
            ).all()
            ids = [i.id for i in images]
            latest = (
                select(func.max(Score.id)).where(Score.image_id.in_(ids)).group_by(Score.image_id).scalar_subquery()
            )
            scores = {s.image_id: s for s in session.scalars(select(Score).where(Score.id.in_(latest)))} if ids else {}
            verdicts = self._latest_verdicts(session, ids)
            file_verdicts = self._latest_file_verdicts(session, [f.id for f in files if f.error])
            file_paths = {f.id: f.path for f in files}
            rows = []
            for f in files:
                if f.error:
                    rows.append(
                        {
                            "path": f.path, "ext": None, "image_type": "", "category": "", "mode": "",
                            "night": night, "score": None, "threshold": None, "flagged": True,
                            "reasons": [f"unreadable: {f.error}"], "reference": "", "details": {},
                            "image_id": None, "file_id": f.id, "verdict": file_verdicts.get(f.id), "thumbnail": None,
                            "difference": None,
                            "date_obs": None, "exptime": None, "model_version": "",
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

    # labels -------------------------------------------------------------------------

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


def _descriptor_of_image(fingerprint: str):
    """Join condition: the descriptor of an image's content by one embedder."""
    return and_(Descriptor.content_hash == File.content_hash, Descriptor.ext == Image.ext, Descriptor.fingerprint == fingerprint)


def _quality_of_image(qc_version: str):
    """Join condition: the quality numbers of an image's content of one QC version."""
    return and_(Quality.content_hash == File.content_hash, Quality.ext == Image.ext, Quality.qc_version == qc_version)


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


def _group(pairs: Iterable[tuple[int, int]]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for key, value in pairs:
        out.setdefault(key, []).append(value)
    return out


def _image_row(file_id: int, image: NewImage) -> Image:
    return Image(
        file_id=file_id,
        ext=image.ext,
        extname=image.extname,
        ny=image.shape[0],
        nx=image.shape[1],
        instrument=image.instrument,
        arm=image.arm,
        category=image.category,
        label=image.label,
        mode=image.mode,
        image_type=image.image_type,
        night=image.night,
        date_obs=image.date_obs,
        exptime=image.exptime,
        header=image.header,
        problems=image.problems,
        thumbnail=image.thumbnail,
    )
