"""The nightly job: find files, describe them, embed them in batches, store, score.

Idempotent: a file already stored with the same content and the same embedder is not
read again and adds no rows; an interrupted run leaves only complete files in the
store, and the next run carries on with the rest.

Reading, decompressing, measuring and downsampling happen in a pool of worker
processes (:func:`core.describe.describe_file`); this process batches their network
inputs through the embedder and writes finished files to the store in transactions.
The network is built in a thread while the workers read the first files.

Start-up time matters for a re-ingest of known files, which must take a fraction of a
second: content hashes come from the home's hash cache (:class:`core.fitsio.HashCache`)
and the modules that describe, embed and score are imported only when there is
something to describe.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .config import Settings
from .embed import Embedder, create_embedder, expected_fingerprint
from .fitsio import HashCache, find_fits, night_from_path, night_of
from .qc import QC_VERSION
from .store import NewFile, Store, store_for

if TYPE_CHECKING:
    from .describe import DescribedFile
    from .models import ActiveModels

Progress = Callable[[str, int, int], None]
FILES_PER_TRANSACTION = 8
MAX_EXTENSIONS = 64
HASH_CACHE_FILE = "hashes.sqlite"
FILES_AHEAD_PER_WORKER = 4
WORKER_NICENESS = 10
# How often a reading worker checks that the process it works for is still there.
PARENT_CHECK_S = 1.0

log = logging.getLogger(__name__)


@dataclass
class IngestResult:
    """What an ingest did."""

    run_id: int
    files_found: int
    files_new: int
    files_known: int
    images: int
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    undated: list[tuple[str, str]] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    nights: list[str] = field(default_factory=list)
    flagged: int = 0
    warning: str | None = None


def last_night(settings: Settings) -> str:
    """The night that ended most recently (now in UT minus the night offset)."""
    return night_of(datetime.now(UTC).replace(tzinfo=None), settings.night_offset_hours).isoformat()


def file_hashes(paths: Sequence[Path], settings: Settings) -> dict[Path, str]:
    """Content hash of each file, from the home's hash cache where the file is unchanged.

    Unreadable files get an empty hash (the worker reports why). Files are hashed by as
    many threads as the home has workers.
    """
    return HashCache(Path(settings.home) / HASH_CACHE_FILE).hashes(paths, threads=settings.worker_count)


def _pool_context() -> multiprocessing.context.BaseContext:
    """How to start worker processes: forked while this process has not loaded TensorFlow.

    A forked worker starts at once with the modules already imported here. Forking a
    process whose TensorFlow runs threads is unsafe (a notebook or a test that passes
    a ready embedder): workers are then forked from a fork server that has imported
    the describing code once, which later pools reuse ('spawn' would cost every
    worker of every pool two seconds of imports).
    """
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and "tensorflow" not in sys.modules:
        return multiprocessing.get_context("fork")
    if "forkserver" not in methods:
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["core.describe"])
    return context


def _start_worker() -> None:
    """Set a reading worker up: Ctrl-C is left to the main process, the CPU to the network first.

    The main process stops the pool after the workers' current files. Workers run at a
    lower priority: the network's threads work in lockstep, and one of them waiting
    for a core held by a reader stalls the whole batch, whereas a reader waiting for
    the network's burst loses nothing. A worker ends by itself when its parent dies.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.nice(WORKER_NICENESS)
    threading.Thread(target=_end_with_parent, args=(os.getppid(),), name="calspot-parent-watch", daemon=True).start()


def _end_with_parent(parent: int) -> None:
    """End this worker once the process that started it is gone (reparented: it died, perhaps by SIGKILL).

    A killed ingest cannot stop its pool, and idle workers wait on their queue for
    ever: on a cron machine they would pile up night after night. A worker forked by
    the fork server is reparented when the fork server ends, which it does when the
    ingest that started it dies.
    """
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(1)


def describe_in_pool(
    paths: Sequence[Path],
    hashes: dict[Path, str],
    settings: Settings,
    workers: int,
    started: Callable[[], None] = lambda: None,
) -> Iterator[DescribedFile]:
    """Describe files in worker processes, yielding results in order, a few files ahead.

    At most ``FILES_AHEAD_PER_WORKER * workers`` files are in flight: that bounds memory
    (a described file waits here only until the embedder takes its inputs) while the
    workers keep reading during the network's calls. ``started`` is called once the
    workers exist (to start building the network without forking its threads). One
    worker runs in this process (no pool). On Ctrl-C the workers finish their current
    file, the rest is cancelled, and the pool is shut down before the interrupt goes on.
    """
    from .describe import describe_file

    if workers <= 1 or len(paths) <= 1:
        started()
        for path in paths:
            yield describe_file(path, settings, hashes.get(path) or None)
        return
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context(), initializer=_start_worker)
    pending: deque[Future[DescribedFile]] = deque()
    queue = iter(paths)
    try:
        for path in queue:
            pending.append(pool.submit(describe_file, path, settings, hashes.get(path) or None))
            if len(pending) == 1:
                started()
            if len(pending) >= FILES_AHEAD_PER_WORKER * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class _EmbedderInBackground:
    """The embedder, built in a thread (TensorFlow's import and the model take seconds) while files are read."""

    def __init__(self, factory: Callable[[], Embedder]) -> None:
        self._factory = factory
        self._future: Future[Embedder] | None = None

    def start(self) -> None:
        if self._future is None:
            builder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="calspot-embedder")
            self._future = builder.submit(self._factory)
            builder.shutdown(wait=False)

    def get(self) -> Embedder:
        """The embedder, waiting for it to be built (and building it, if nothing started it)."""
        self.start()
        return self._future.result()


class Batcher:
    """Collects described files, embeds their images in batches, and releases finished files.

    Images whose (content hash, extension) is in ``known`` already have a descriptor
    in the store and are not embedded again.
    """

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
        """Take a described file; embed a batch when one is full; the files now complete, in order."""
        self._files.append(described)
        for ext in described.inputs:
            if (described.record.content_hash, ext) not in self._known:
                self._waiting.append((described, ext))
        if len(self._waiting) >= self._batch_size:
            self._embed()
        return self._release()

    def flush(self) -> list[NewFile]:
        """Embed what is waiting; the files now complete."""
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


class _ImageCount:
    """Images read so far and the total expected, from the images per file seen so far."""

    def __init__(self, files: int) -> None:
        self.files_total = files
        self.files = 0
        self.images = 0

    def add(self, images: int) -> None:
        self.files += 1
        self.images += images

    @property
    def expected(self) -> int:
        if not self.files:
            return self.files_total
        return max(self.images, round(self.images / self.files * self.files_total))


def ingest(
    paths: Iterable[str | Path],
    settings: Settings,
    *,
    store: Store | None = None,
    embedder: Embedder | None = None,
    progress: Progress | None = None,
) -> IngestResult:
    """Ingest raw files and folders: describe what is new, score the nights it touched, map the newest.

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
        Called as ``progress(stage, done, total)``: stage ``describe`` counts images
        read (the total is estimated from the images per file so far, exact at the
        end), stage ``score`` counts nights, stage ``maps`` the maps of the newest night.

    Returns
    -------
    IngestResult
        Counts, unreadable files with their reasons, missing paths and scored nights.
        A run stopped by Ctrl-C keeps every complete file and is marked interrupted.
    """
    report = progress or (lambda stage, done, total: None)
    with store_for(settings, store) as store:
        expected = embedder.fingerprint if embedder else expected_fingerprint(settings)
        plan = plan_run("ingest", paths, settings, store, expected)
        result = plan.result
        status = "interrupted"
        try:
            if plan.todo:
                _describe(plan.todo, plan.hashes, settings, store, embedder, expected, result, report)
            else:  # nights an interrupted run stored but did not score
                score_nights(store.unscored_nights(), store, settings, expected, result, report)
            status = "done"
        finally:
            store.finish_run(result.run_id, status, run_counts(result))
        return result


@dataclass
class RunPlan:
    """What a run over some paths has to do: the files' content hashes, the files still to describe, its result so far."""

    hashes: dict[Path, str]
    todo: list[Path]
    result: IngestResult


def plan_run(command: str, paths: Iterable[str | Path], settings: Settings, store: Store, fingerprint: str, **recorded: str) -> RunPlan:
    """Find the files under ``paths``, leave out those already complete in the store, and record the run's start.

    ``recorded`` goes into the run's settings beside the paths and the fingerprint.
    """
    paths = list(paths)
    files, missing = find_fits(paths)
    hashes = file_hashes(files, settings)
    complete = store.complete_files(((str(p), h) for p, h in hashes.items() if h), fingerprint, QC_VERSION)
    todo = [p for p in files if (str(p), hashes[p]) not in complete]
    run_id = store.start_run(command, {"paths": [str(p) for p in paths], "fingerprint": fingerprint, **recorded})
    result = IngestResult(run_id, len(files), len(todo), len(files) - len(todo), 0, missing=[str(m) for m in missing])
    return RunPlan(hashes, todo, result)


def _describe(
    todo: Sequence[Path],
    hashes: dict[Path, str],
    settings: Settings,
    store: Store,
    embedder: Embedder | None,
    expected: str,
    result: IngestResult,
    report: Progress,
) -> None:
    """Describe, embed and store the new files, score the nights they belong to, map the newest of them."""

    known = store.stored_descriptors(((hashes[p], ext) for p in todo for ext in range(MAX_EXTENSIONS)), expected)
    network = _EmbedderInBackground(lambda: embedder or create_embedder(settings))
    batcher = Batcher(network.get, settings.batch_size, known)
    writer = FileWriter(store, result.run_id, result, lambda: batcher.fingerprint or expected)
    count = _ImageCount(len(todo))
    workers = min(settings.worker_count, len(todo))
    start = time.perf_counter()
    for described in describe_in_pool(todo, hashes, settings, workers, network.start):
        count.add(len(described.record.images))
        writer.add(batcher.add(described))
        report("describe", count.images, count.expected)
    writer.add(batcher.flush())
    writer.finish(settings)
    described_s = time.perf_counter() - start
    log.info(
        "described %d images of %d files in %.1f s (%.2f images/s; %d workers, batches of %d)",
        count.images,
        len(todo),
        described_s,
        count.images / described_s,
        workers,
        settings.batch_size,
    )
    result.warning = batcher.warning
    fingerprint = batcher.fingerprint or expected
    # With the nights of these files, those an interrupted run stored but did not score.
    score_nights(set(writer.nights) | set(store.unscored_nights()), store, settings, fingerprint, result, report)
    log.info("scored %d nights in %.1f s", len(result.nights), time.perf_counter() - start - described_s)
    if result.nights and settings.map_methods:
        compute_maps(store, result.nights[-1], settings, fingerprint, report)


def score_nights(nights: Iterable[str], store: Store, settings: Settings, fingerprint: str, result: IngestResult, report: Progress) -> None:
    """Score nights oldest first (each against the nights before it), counting the flags into ``result``."""
    result.nights = sorted(nights)
    if not result.nights:
        return
    models = active_models(store, settings)
    for _, flagged in score_in_order(result.nights, store, settings, fingerprint, result.run_id, models, report):
        result.flagged += flagged


def score_in_order(
    nights: Sequence[str], store: Store, settings: Settings, fingerprint: str, run_id: int, models: ActiveModels, report: Progress
) -> Iterator[tuple[str, int]]:
    """Score the nights in the order given; yield each night and its number of flags.

    The numerical libraries run on one thread meanwhile: scoring makes many small
    numerical calls (a night's type and mode against its reference, a handful of
    descriptors against a few hundred), and their thread pools (OpenMP in scikit-learn's
    neighbour search, BLAS) would spend more time waking and waiting for threads than
    working: a type check's neighbour search took 30 ms of CPU on two threads and 1.4 ms
    on one.
    """
    from .maps import numerical_threads
    from .scoring import score_night

    with numerical_threads(1):
        for done, night in enumerate(nights, 1):
            yield night, sum(s.flagged for s in score_night(store, night, settings, fingerprint, run_id, models))
            report("score", done, len(nights))


def active_models(store: Store, settings: Settings) -> ActiveModels:
    """The trained models scoring uses, loaded once per run; a model that cannot be loaded is logged and left out."""
    from .models import load_active_models

    models = load_active_models(store, settings.home)
    for problem in models.problems:
        log.warning("%s", problem)
    return models


def compute_maps(store: Store, night: str, settings: Settings, fingerprint: str, progress: Progress | None = None) -> int:
    """Compute and store a night's maps (``settings.map_methods``), so that the dashboard never waits.

    A map is a view of the night: one that fails is logged in one line and the others
    (and the ingest) go on. Returns how many maps are stored.
    """
    from .maps import nightly_map_tasks

    report = progress or (lambda stage, done, total: None)
    start = time.perf_counter()
    made = 0
    try:
        tasks = nightly_map_tasks(store, night, settings, fingerprint)
    except Exception as error:  # a map must never fail the night's run
        log.warning("maps of %s not computed: %s", night, _one_line(error))
        return 0
    for done, (name, task) in enumerate(tasks, 1):
        try:
            made += task() is not None
        except Exception as error:  # a map must never fail the night's run
            log.warning("%s not computed: %s", name, _one_line(error))
        report("maps", done, len(tasks))
    log.info("computed %d of %d maps of %s in %.1f s", made, len(tasks), night, time.perf_counter() - start)
    return made


def _one_line(error: Exception) -> str:
    return f"{type(error).__name__}: {' '.join(str(error).split())}"


def rescore(
    settings: Settings, nights: Sequence[str] | None = None, *, store: Store | None = None, progress: Progress | None = None
) -> dict[str, int]:
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
    with store_for(settings, store) as store:
        chosen = sorted(set(nights) if nights is not None else store.nights())
        fingerprint = expected_fingerprint(settings)
        models = active_models(store, settings)
        run_id = store.start_run("score", {"nights": chosen, "fingerprint": fingerprint, "models": models.version})
        flagged: dict[str, int] = {}
        status = "interrupted"
        try:
            for night, count in score_in_order(chosen, store, settings, fingerprint, run_id, models, report):
                flagged[night] = count
            status = "done"
        finally:
            store.finish_run(run_id, status, {"nights": len(flagged), "flagged": sum(flagged.values())})
        return flagged


class FileWriter:
    """Writes finished files to the store a few at a time; holds undated files to the end.

    A file whose header has no date (or that cannot be read) belongs to the night named
    by its path, or else to the night most dated files of its folder belong to, or else
    to the night most of the batch belongs to, which are known only once the batch is
    done; only a batch without a dated file puts it on the last night. Readable
    undated files, and files whose content is already stored under another path, are
    listed in the result with what was done with them.
    """

    def __init__(self, store: Store, run_id: int, result: IngestResult, fingerprint: Callable[[], str]) -> None:
        self._store = store
        self._run_id = run_id
        self._result = result
        self._fingerprint = fingerprint
        self._pending: list[NewFile] = []
        self._undated: list[NewFile] = []
        self.nights: Counter[str] = Counter()
        self._folder_nights: dict[Path, Counter[str]] = {}

    def add(self, records: Iterable[NewFile]) -> None:
        """Take finished files; dated ones are written a transaction of a few files at a time."""
        for record in records:
            if record.night:
                self._pending.append(record)
                self._folder_nights.setdefault(Path(record.path).parent, Counter())[record.night] += 1
            else:
                self._undated.append(record)
        if len(self._pending) >= FILES_PER_TRANSACTION:
            self._save(self._pending)
            self._pending = []

    def finish(self, settings: Settings) -> None:
        """Write what is left: the last dated files, and the undated ones on the nights they join."""
        from .describe import fill_night

        for record in self._undated:
            night, why = self._night_for_undated(record, settings)
            fill_night(record, night)
            if not record.error:
                self._result.undated.append((record.path, f"its header gives no usable observation date: put on {night}, {why}"))
        self._save(self._pending + self._undated)
        self._pending, self._undated = [], []

    def _night_for_undated(self, record: NewFile, settings: Settings) -> tuple[str, str]:
        """The night an undated file joins, and why."""
        named = night_from_path(record.path, settings.night_offset_hours)
        if named:
            return named.isoformat(), "the night its name or folder gives"
        folder = self._folder_nights.get(Path(record.path).parent)
        if folder:
            return folder.most_common(1)[0][0], "the night of the dated files of its folder"
        dated = sum(self._folder_nights.values(), Counter())  # every dated file of the batch, once
        if dated:
            return dated.most_common(1)[0][0], "the night of the dated files ingested with it"
        night = last_night(settings)
        return night, "the last night (no dated file came with it)"

    def _save(self, records: list[NewFile]) -> None:
        if not records:
            return
        self._store.save_files(records, self._run_id, self._fingerprint(), QC_VERSION)
        first = self._store.first_paths(r.content_hash for r in records if r.content_hash)
        for record in records:
            original = first.get(record.content_hash, record.path) if record.content_hash else record.path
            if original != record.path:
                self._result.duplicates.append((record.path, f"the same content as {original}"))
        for record in records:
            self.nights[record.night] += 1
            self._result.images += len(record.images)
            if record.error:
                self._result.unreadable.append((record.path, record.error))


def run_counts(result: IngestResult) -> dict[str, int]:
    """What a run did, as its row in the store records it."""
    return {
        "files_found": result.files_found,
        "files_new": result.files_new,
        "files_known": result.files_known,
        "images": result.images,
        "unreadable": len(result.unreadable),
        "undated": len(result.undated),
        "duplicates": len(result.duplicates),
        "flagged": result.flagged,
    }
