"""The nightly job: find files, describe them, embed them in batches, store, score.

Idempotent: a file already stored with the same content and the same embedder is not
read again and adds no rows; an interrupted run leaves only complete files in the
store, and the next run carries on with the rest.

Reading, decompressing, measuring and downsampling happen in a pool of worker
processes (:func:`core.describe.describe_file`); this process batches their network
inputs through the embedder and writes finished files to the store in transactions.
"""

from __future__ import annotations

import multiprocessing
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from . import qc
from .config import Settings
from .describe import DescribedFile, describe_file, fill_night
from .embed import Embedder, create_embedder, expected_fingerprint
from .fitsio import find_fits, hash_bytes, night_from_path, night_of
from .scoring import score_night
from .store import NewFile, Store

Progress = Callable[[str, int, int], None]
FILES_PER_TRANSACTION = 8
MAX_EXTENSIONS = 64


@dataclass
class IngestResult:
    """What an ingest did."""

    run_id: int
    files_found: int
    files_new: int
    files_known: int
    images: int
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    nights: list[str] = field(default_factory=list)
    flagged: int = 0
    warning: str | None = None


def last_night(settings: Settings) -> str:
    """The night that ended most recently (now in UT minus the night offset)."""
    return night_of(datetime.now(timezone.utc).replace(tzinfo=None), settings.night_offset_hours).isoformat()


def file_hashes(paths: Iterable[Path]) -> dict[Path, str]:
    """Content hash of each file; unreadable files get an empty hash (the worker reports why)."""
    hashes = {}
    for path in paths:
        try:
            hashes[path] = hash_bytes(path.read_bytes())
        except OSError:
            hashes[path] = ""
    return hashes


def describe_in_pool(paths: Sequence[Path], settings: Settings, workers: int) -> Iterator[DescribedFile]:
    """Describe files in worker processes, yielding results in order, at most ``2 * workers`` ahead.

    The window bounds memory: a full-size image's network input and metrics wait here
    only until the embedder takes them. One worker runs in this process (no pool).
    """
    if workers <= 1 or len(paths) <= 1:
        for path in paths:
            yield describe_file(path, settings)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending: deque[Future[DescribedFile]] = deque()
        queue = iter(paths)
        try:
            for path in queue:
                pending.append(pool.submit(describe_file, path, settings))
                if len(pending) >= 2 * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        except BaseException:
            for future in pending:
                future.cancel()
            raise


class _Batcher:
    """Collects described files, embeds their images in batches, and releases finished files."""

    def __init__(self, embedder_factory: Callable[[], Embedder], batch_size: int, known: set[tuple[str, int]]) -> None:
        self._factory = embedder_factory
        self._embedder: Embedder | None = None
        self._batch_size = batch_size
        self._known = known
        self._waiting: list[tuple[DescribedFile, int]] = []
        self._files: list[DescribedFile] = []

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = self._factory()
        return self._embedder

    @property
    def fingerprint(self) -> str | None:
        """The fingerprint of the embedder, once one was needed."""
        return self._embedder.fingerprint if self._embedder else None

    @property
    def warning(self) -> str | None:
        """The embedder's warning (random weights instead of ImageNet's), once one was needed."""
        return self._embedder.warning if self._embedder else None

    def add(self, described: DescribedFile) -> list[NewFile]:
        self._files.append(described)
        for ext in described.inputs:
            if (described.record.content_hash, ext) not in self._known:
                self._waiting.append((described, ext))
        if len(self._waiting) >= self._batch_size:
            self._embed()
        return self._release()

    def flush(self) -> list[NewFile]:
        while self._waiting:
            self._embed()
        return self._release()

    def _embed(self) -> None:
        batch, self._waiting = self._waiting[: self._batch_size], self._waiting[self._batch_size :]
        vectors = self.embedder.embed(np.stack([d.inputs[ext] for d, ext in batch]))
        for (described, ext), vector in zip(batch, vectors):
            next(i for i in described.record.images if i.ext == ext).descriptor = vector
            del described.inputs[ext]

    def _release(self) -> list[NewFile]:
        waiting = {id(d) for d, _ in self._waiting}
        done = [d for d in self._files if id(d) not in waiting]
        self._files = [d for d in self._files if id(d) in waiting]
        return [d.record for d in done]


def ingest(
    paths: Iterable[str | Path],
    settings: Settings,
    *,
    store: Store | None = None,
    embedder: Embedder | None = None,
    progress: Progress | None = None,
) -> IngestResult:
    """Ingest raw files and folders: describe what is new, then score the nights it touched.

    Parameters
    ----------
    paths
        Files and folders (walked recursively).
    settings
        The home's settings (store, embedder, workers, batch size, night offset ...).
    store, embedder
        Ready-made ones to use (tests, notebooks); built from the settings otherwise.
        The embedder is built only if there is something to embed.
    progress
        Called as ``progress(stage, done, total)`` with stage ``describe`` or ``score``.

    Returns
    -------
    IngestResult
        Counts, unreadable files with their reasons, missing paths and scored nights.
        A run stopped by Ctrl-C keeps every complete file and is marked interrupted.
    """
    report = progress or (lambda stage, done, total: None)
    store = store or Store.open(settings)
    paths = list(paths)
    files, missing = find_fits(paths)
    hashes = file_hashes(files)
    expected = embedder.fingerprint if embedder else expected_fingerprint(settings)
    complete = store.complete_files(((str(p), h) for p, h in hashes.items() if h), expected, qc.QC_VERSION)
    todo = [p for p in files if (str(p), hashes[p]) not in complete]
    run_id = store.start_run("ingest", {"paths": [str(p) for p in paths], "fingerprint": expected})
    result = IngestResult(run_id, len(files), len(todo), len(files) - len(todo), 0, missing=[str(m) for m in missing])
    known = store.stored_descriptors(((hashes[p], ext) for p in todo for ext in range(MAX_EXTENSIONS)), expected)
    batcher = _Batcher(lambda: embedder or create_embedder(settings), settings.batch_size, known)
    writer = _Writer(store, run_id, result, lambda: batcher.fingerprint or expected)
    status = "interrupted"
    try:
        for described in describe_in_pool(todo, settings, min(settings.worker_count, len(todo))):
            writer.add(batcher.add(described))
            report("describe", writer.done, len(todo))
        writer.add(batcher.flush())
        writer.finish(settings)
        report("describe", writer.done, len(todo))
        result.warning = batcher.warning
        result.nights = sorted(writer.nights)
        fingerprint = batcher.fingerprint or expected
        for done, night in enumerate(result.nights, 1):
            result.flagged += sum(s.flagged for s in score_night(store, night, settings, fingerprint, run_id))
            report("score", done, len(result.nights))
        status = "done"
    finally:
        store.finish_run(run_id, status, _counts(result))
    return result


def rescore(settings: Settings, nights: Sequence[str] | None = None, *, store: Store | None = None,
            progress: Progress | None = None) -> dict[str, int]:
    """Score stored nights again (after a detector change, new verdicts or a backfill).

    Parameters
    ----------
    settings
        The home's settings; descriptors of the configured embedder are used.
    nights
        Nights to score, in any order (they are scored oldest first, so that each is
        compared with the new scores of the nights before it); None means all.

    Returns
    -------
    dict
        Flagged images per night.
    """
    report = progress or (lambda stage, done, total: None)
    store = store or Store.open(settings)
    chosen = sorted(set(nights) if nights is not None else store.nights())
    fingerprint = expected_fingerprint(settings)
    run_id = store.start_run("score", {"nights": chosen, "fingerprint": fingerprint})
    flagged: dict[str, int] = {}
    status = "interrupted"
    try:
        for done, night in enumerate(chosen, 1):
            flagged[night] = sum(s.flagged for s in score_night(store, night, settings, fingerprint, run_id))
            report("score", done, len(chosen))
        status = "done"
    finally:
        store.finish_run(run_id, status, {"nights": len(flagged), "flagged": sum(flagged.values())})
    return flagged


class _Writer:
    """Writes finished files to the store a few at a time; holds undated files to the end.

    A file whose header has no date (or that cannot be read) belongs to the night named
    by its path, or else to the night most of the batch belongs to, which is known
    only once the batch is done.
    """

    def __init__(self, store: Store, run_id: int, result: IngestResult, fingerprint: Callable[[], str]) -> None:
        self._store = store
        self._run_id = run_id
        self._result = result
        self._fingerprint = fingerprint
        self._pending: list[NewFile] = []
        self._undated: list[NewFile] = []
        self.nights: Counter[str] = Counter()
        self.done = 0

    def add(self, records: Iterable[NewFile]) -> None:
        for record in records:
            (self._pending if record.night else self._undated).append(record)
        if len(self._pending) >= FILES_PER_TRANSACTION:
            self._save(self._pending)
            self._pending = []

    def finish(self, settings: Settings) -> None:
        batch_night = self.nights.most_common(1)[0][0] if self.nights else last_night(settings)
        for record in self._undated:
            named = night_from_path(record.path, settings.night_offset_hours)
            fill_night(record, named.isoformat() if named else batch_night)
        self._save(self._pending + self._undated)
        self._pending, self._undated = [], []

    def _save(self, records: list[NewFile]) -> None:
        if not records:
            return
        self._store.save_files(records, self._run_id, self._fingerprint(), qc.QC_VERSION)
        for record in records:
            self.nights[record.night] += 1
            self._result.images += len(record.images)
            if record.error:
                self._result.unreadable.append((record.path, record.error))
        self.done += len(records)


def _counts(result: IngestResult) -> dict[str, int]:
    return {
        "files_found": result.files_found,
        "files_new": result.files_new,
        "files_known": result.files_known,
        "images": result.images,
        "unreadable": len(result.unreadable),
        "flagged": result.flagged,
    }
