"""Ingestion: files, their images, descriptors and quality numbers, stored once.

A file is known by its path and content hash; descriptors and quality numbers by the
content (hash and extension) and what made them (embedder fingerprint, QC version),
so that a file seen again, or a copy under another path, is never described twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from .database import transaction
from .queries import StorePart
from .records import NewFile, NewImage, pack_preview, pack_profiles
from .schema import Descriptor, File, Image, Quality


class FilesPart(StorePart):
    """The store's ingestion: what is already complete, and saving described files."""

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
            files = session.execute(select(File.id, File.path, File.content_hash, File.error).where(File.content_hash.in_(hashes))).all()
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
                    select(Quality.content_hash, Quality.ext).where(Quality.content_hash.in_(hashes), Quality.qc_version == qc_version)
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
            rows = session.execute(select(File.content_hash, File.path).where(File.content_hash.in_(hashes)).order_by(File.id)).all()
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
                ids.append(_save_file(session, new, run_id, fingerprint, qc_version))
        return ids


def _save_file(session: Session, new: NewFile, run_id: int, fingerprint: str, qc_version: str) -> int:
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
        session.scalars(select(Descriptor.ext).where(Descriptor.content_hash == new.content_hash, Descriptor.fingerprint == fingerprint))
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
