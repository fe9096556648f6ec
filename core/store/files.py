"""Ingestion: files, their images, descriptors and quality numbers, stored once.

A file is known by its path and content hash; descriptors and quality numbers by the
content (hash and extension) and what made them (embedder fingerprint, QC version),
so that a file seen again, or a copy under another path, is never described twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from .database import transaction
from .queries import StorePart, chunks
from .records import NewFile, NewImage, pack_preview, pack_profiles
from .schema import Descriptor, File, Image, Quality, TypeNight

# The INSERT of each database calspot runs on, which can leave alone a row that exists already.
UPSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


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
        quality numbers it lacks; nothing is duplicated. A copy of a stored content
        under another path points to the first file stored with it (``duplicate_of``).
        The rows are written in bulk, a few statements per batch whatever its size, so
        that a backfill of years of archive writes as fast as the database takes them;
        they are the rows that storing the files one by one, in the order given, makes.

        Returns
        -------
        list of int
            The file ids, in the order given.
        """
        if not files:
            return []
        with transaction(self._sessions) as session:
            return _save_batch(session, files, run_id, fingerprint, qc_version)


def _save_batch(session: Session, files: Sequence[NewFile], run_id: int, fingerprint: str, qc_version: str) -> list[int]:
    """Write a batch of files: new file rows and their images, then the descriptors and quality numbers missing."""
    hashes = {new.content_hash for new in files}
    stored = _stored_files(session, hashes)
    originals: dict[str, int] = {}
    for file_id, _, content_hash in stored:
        originals.setdefault(content_hash, file_id)
    known = {(path, content_hash) for _, path, content_hash in stored}
    fresh: dict[tuple[str, str], NewFile] = {}
    first_fresh: dict[str, tuple[str, str]] = {}  # content hash -> the first new file of the batch with it
    copies: dict[tuple[str, str], tuple[str, str]] = {}  # a copy of a content first stored in this batch -> its original
    for new in files:
        key = (new.path, new.content_hash)
        if key in known or key in fresh:
            continue
        fresh[key] = new
        if new.content_hash not in originals and new.content_hash in first_fresh:
            copies[key] = first_fresh[new.content_hash]
        first_fresh.setdefault(new.content_hash, key)
    if fresh:
        session.execute(insert(File), [_file_row(new, originals.get(new.content_hash), run_id) for new in fresh.values()])
    ids = {(path, content_hash): file_id for file_id, path, content_hash in _stored_files(session, hashes)} if fresh else {}
    ids.update({(path, content_hash): file_id for file_id, path, content_hash in stored})
    if copies:
        session.execute(
            update(File),
            [{"id": ids[copy], "duplicate_of": ids[original]} for copy, original in copies.items()],
        )
    images = [_image_row(ids[key], image) for key, new in fresh.items() for image in new.images]
    if images:
        session.execute(insert(Image), images)
        _add_type_nights(session, {(i["image_type"], i["mode"], i["night"], i["instrument"]) for i in images})
    _save_numbers(session, files, hashes, fingerprint, qc_version)
    return [ids[(new.path, new.content_hash)] for new in files]


def _save_numbers(session: Session, files: Sequence[NewFile], hashes: set[str], fingerprint: str, qc_version: str) -> None:
    """The descriptors and quality numbers of the batch's images that the store does not hold yet, once per content."""
    have_descriptor: set[tuple[str, int]] = set()
    have_quality: set[tuple[str, int]] = set()
    for chunk in chunks(hashes):
        have_descriptor.update(
            tuple(row)
            for row in session.execute(
                select(Descriptor.content_hash, Descriptor.ext).where(
                    Descriptor.content_hash.in_(chunk), Descriptor.fingerprint == fingerprint
                )
            ).all()
        )
        have_quality.update(
            tuple(row)
            for row in session.execute(
                select(Quality.content_hash, Quality.ext).where(Quality.content_hash.in_(chunk), Quality.qc_version == qc_version)
            ).all()
        )
    descriptors, qualities = [], []
    for new in files:
        for image in new.images:
            key = (new.content_hash, image.ext)
            if image.descriptor is not None and key not in have_descriptor:
                have_descriptor.add(key)
                descriptors.append(
                    {
                        "content_hash": new.content_hash,
                        "ext": image.ext,
                        "fingerprint": fingerprint,
                        "vector": np.asarray(image.descriptor, np.float32).tobytes(),
                    }
                )
            if image.metrics is not None and key not in have_quality:
                have_quality.add(key)
                qualities.append(
                    {
                        "content_hash": new.content_hash,
                        "ext": image.ext,
                        "qc_version": qc_version,
                        "metrics": image.metrics,
                        "profiles": pack_profiles(image.profiles),
                        "preview": pack_preview(image.preview),
                    }
                )
    if descriptors:
        session.execute(insert(Descriptor), descriptors)
    if qualities:
        session.execute(insert(Quality), qualities)


def _add_type_nights(session: Session, nights: set[tuple[str, str, str, str]]) -> None:
    """Record the (image type, mode, night, instrument) of new images that are not recorded yet.

    Several ingests may record the same night at once: a row another one wrote
    meanwhile is left as it is (``ON CONFLICT DO NOTHING``, which both databases
    calspot runs on, SQLite and PostgreSQL, understand).
    """
    rows = [{"image_type": t, "mode": m, "night": n, "instrument": i} for t, m, n, i in sorted(nights)]
    session.execute(UPSERTS[session.get_bind().dialect.name](TypeNight).on_conflict_do_nothing(), rows)


def _stored_files(session: Session, hashes: Iterable[str]) -> list[tuple[int, str, str]]:
    """(id, path, content hash) of the stored files of these contents, oldest first."""
    rows: list[tuple[int, str, str]] = []
    for chunk in chunks(hashes):
        rows += [tuple(row) for row in session.execute(select(File.id, File.path, File.content_hash).where(File.content_hash.in_(chunk)))]
    return sorted(rows)


def _group(pairs: Iterable[tuple[int, int]]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for key, value in pairs:
        out.setdefault(key, []).append(value)
    return out


def _file_row(new: NewFile, original: int | None, run_id: int) -> dict[str, Any]:
    return {
        "path": new.path,
        "content_hash": new.content_hash,
        "size": new.size,
        "night": new.night,
        "error": new.error,
        "duplicate_of": original,
        "run_id": run_id,
    }


def _image_row(file_id: int, image: NewImage) -> dict[str, Any]:
    return {
        "file_id": file_id,
        "ext": image.ext,
        "extname": image.extname,
        "ny": image.shape[0],
        "nx": image.shape[1],
        "instrument": image.instrument,
        "arm": image.arm,
        "category": image.category,
        "label": image.label,
        "mode": image.mode,
        "image_type": image.image_type,
        "night": image.night,
        "date_obs": image.date_obs,
        "exptime": image.exptime,
        "header": image.header,
        "problems": image.problems,
        "thumbnail": image.thumbnail,
    }
