"""Backfilling an archive on Dask: the per-file work on the workers, the store written here.

``calspot ingest`` reads files in a pool of local processes and runs the network in its
own process. Years of archive (a million image extensions) want more machines: here
all the work of a file (reading, decompression, quality numbers, network input, and
the network itself, batched on each worker) runs on the workers of a Dask cluster, a
:class:`~distributed.LocalCluster` by default or any scheduler by address. This
process writes the finished files to the store in transactions as they come back, and
at the end scores the nights in night order, each against the nights before it.

Resumable: a file already complete in the store is not sent again, and nights whose
images are not all scored (a backfill stopped before its scoring) are scored at the
end of the next one. The workers must see the raw files under the same paths and have
calspot installed; each builds its own network once, with the worker's threads.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from pathlib import Path

from distributed import Client, LocalCluster, WorkerPlugin, as_completed, get_worker

from .config import Settings
from .embed import create_embedder, expected_fingerprint
from .pipeline import (
    MAX_EXTENSIONS,
    Batcher,
    FileWriter,
    IngestResult,
    Progress,
    compute_maps,
    plan_run,
    run_counts,
    score_nights,
)
from .store import NewFile, Store, store_for

FILES_PER_TASK = 4
# Tasks in flight per worker thread: enough that no worker waits for this process, few enough to bound memory here.
TASKS_AHEAD_PER_THREAD = 2
EMBEDDER_PLUGIN = "calspot-embedder"
# How long a backfill waits for the first worker of a cluster given by address.
WORKER_WAIT_S = 300.0

log = logging.getLogger(__name__)


class WorkerEmbedder(WorkerPlugin):
    """The network of one Dask worker, built at its first batch with as many threads as the worker has.

    Parameters
    ----------
    settings
        The home's settings (embedder, weights, input size, seed).
    """

    name = EMBEDDER_PLUGIN

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.threads = 0
        self._embedder = None

    def setup(self, worker) -> None:
        self.threads = worker.state.nthreads

    def embedder(self):
        """The worker's embedder (built on first use)."""
        if self._embedder is None:
            self._embedder = create_embedder(self.settings, threads=self.threads)
        return self._embedder


class ClusterMismatch(ValueError):
    """The cluster's workers would describe images with another network than this calspot's."""


def describe_on_worker(
    paths: Sequence[Path], hashes: dict[Path, str], settings: Settings, known: set[tuple[str, int]]
) -> tuple[list[NewFile], str | None, str | None]:
    """A worker's task: describe files and embed their new images in batches.

    Returns the store records (descriptors filled in), the embedder's fingerprint and
    its warning (None for both when every image was embedded before).
    """
    from .describe import describe_file

    plugin = get_worker().plugins[EMBEDDER_PLUGIN]
    batcher = Batcher(plugin.embedder, settings.batch_size, known)
    records: list[NewFile] = []
    for path in paths:
        records += batcher.add(describe_file(path, settings, hashes.get(path) or None))
    records += batcher.flush()
    return records, batcher.fingerprint, batcher.warning


@contextmanager
def dask_client(scheduler: str | None, workers: int) -> Iterator:
    """A client of the scheduler at ``scheduler``, or of a LocalCluster of ``workers`` one-thread processes."""
    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address="127.0.0.1:0",
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def backfill(
    paths: Iterable[str | Path],
    settings: Settings,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    store: Store | None = None,
    progress: Progress | None = None,
) -> IngestResult:
    """Describe an archive on a Dask cluster, store it here, and score its nights in night order.

    Parameters
    ----------
    paths
        Files and folders (walked recursively), at paths the workers see too.
    settings
        The home's settings.
    scheduler
        Address of a running Dask scheduler (``tcp://host:8786``); None starts a
        LocalCluster on this machine.
    workers
        Processes of the LocalCluster (default: ``settings.worker_count``).
    store
        A ready-made store (tests); the home's otherwise.
    progress
        Called as ``progress(stage, done, total)``: stage ``backfill`` counts files,
        ``score`` nights, ``maps`` the maps of the newest night.

    Returns
    -------
    IngestResult
        What was done, as for an ingest; a run stopped by Ctrl-C keeps every complete
        file and is marked interrupted.
    """
    report = progress or (lambda stage, done, total: None)
    with store_for(settings, store) as store:
        expected = expected_fingerprint(settings)
        plan = plan_run("backfill", paths, settings, store, expected, scheduler=scheduler or "local")
        result = plan.result
        status = "interrupted"
        try:
            if plan.todo:
                _describe_on_cluster(plan.todo, plan.hashes, settings, store, result, scheduler, workers or settings.worker_count, report)
            score_nights(set(result.nights) | set(store.unscored_nights()), store, settings, expected, result, report)
            if result.nights and settings.map_methods:
                compute_maps(store, result.nights[-1], settings, expected, report)
            status = "done"
        finally:
            store.finish_run(result.run_id, status, run_counts(result))
        return result


def _describe_on_cluster(
    todo: Sequence[Path],
    hashes: dict[Path, str],
    settings: Settings,
    store: Store,
    result: IngestResult,
    scheduler: str | None,
    workers: int,
    report: Progress,
) -> None:
    """Send the files to the workers in tasks of a few files, and store what comes back."""
    expected = expected_fingerprint(settings)
    queue = iter([list(todo[i : i + FILES_PER_TASK]) for i in range(0, len(todo), FILES_PER_TASK)])
    writer = FileWriter(store, result.run_id, result, lambda: expected)
    start = time.perf_counter()
    with dask_client(scheduler, workers) as client:
        client.wait_for_workers(1, timeout=WORKER_WAIT_S)
        client.register_plugin(WorkerEmbedder(settings), name=EMBEDDER_PLUGIN)

        def submit(chunk: list[Path]):
            known = store.stored_descriptors(((hashes[p], ext) for p in chunk for ext in range(MAX_EXTENSIONS)), expected)
            return client.submit(describe_on_worker, chunk, {p: hashes[p] for p in chunk}, settings, known, pure=False)

        running = as_completed()
        in_flight = done = 0
        report("backfill", 0, len(todo))
        while True:
            # Workers that join a running cluster get work too: the tasks in flight follow the threads there are now.
            for chunk in islice(queue, max(0, TASKS_AHEAD_PER_THREAD * sum(client.nthreads().values()) - in_flight)):
                running.add(submit(chunk))
                in_flight += 1
            if not in_flight:
                break
            records, used, warning = next(running).result()
            in_flight -= 1
            if used is not None and used != expected:
                raise ClusterMismatch(
                    f"a worker describes images with {used}, this calspot with {expected}: give every worker the same "
                    "calspot and network weights (nothing of that worker's files was stored)"
                )
            result.warning = result.warning or warning
            writer.add(records)
            done += len(records)
            report("backfill", done, len(todo))
        writer.finish(settings)
    seconds = time.perf_counter() - start
    log.info("backfilled %d files (%d images) in %.1f s", len(todo), result.images, seconds)
    result.nights = sorted(writer.nights)
