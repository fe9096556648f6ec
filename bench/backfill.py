"""The same files through ``ingest`` and through ``backfill`` on 1 and 2 local Dask workers.

Simulates full-size UVES-like nights as ``.fits.Z`` (kept between runs), then puts them
into a fresh home three ways: ``ingest`` (its reading pool and the network in the
main process), and ``backfill`` on a LocalCluster of 1 and of 2 one-thread workers
(each worker reads, decompresses, measures and runs its own network). It prints, for
each, the seconds and the throughput of describing (until the last file is stored),
of the whole command (with the scoring of the nights and the workers' start-up), the
scaling from 1 to 2 workers against the 1.7x target (steady: from the first file
stored to the last, as in a backfill of hours; and with the workers' start-up), whether every store holds the
same rows as the ingest's (image types, nights, flags, scores to 4 digits), and the
peak memory of a worker. The backfills go to a LocalCluster started here, by its
address, as they would to a real cluster's scheduler.

Usage::

    .venv/bin/python bench/backfill.py --workdir bench/out/backfill
    .venv/bin/python bench/backfill.py --nights 2 --scale 0.5     # smaller and quicker
"""

from __future__ import annotations

import argparse
import logging
import resource
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from distributed import Client, LocalCluster

from core.backfill import backfill
from core.config import load_settings
from core.pipeline import ingest
from core.report import night_report
from core.store import Store
from core.synthetic import simulate_nights

SCALING_TARGET = 1.7


class Clock:
    """A progress callback that notes when the first and the last file were described, and how many there were."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.described = self.start
        self.first: tuple[float, int] | None = None
        self.done = 0

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage in ("describe", "backfill") and done > 0:
            self.described, self.done = time.perf_counter(), done
            self.first = self.first or (self.described, done)

    @property
    def steady_rate(self) -> float:
        """Units per second from the first one described to the last (start-up left out)."""
        if self.first is None or self.described <= self.first[0]:
            return float("nan")
        return (self.done - self.first[1]) / (self.described - self.first[0])


@dataclass
class Run:
    """One way the files went into a home, and how long it took."""

    command: str
    workers: int
    images: int
    described: float
    total: float
    peak: float | None
    client_ms: float | None
    home: Path
    clock: Clock


def cpu_seconds() -> float:
    """CPU seconds this process (the backfill's client, with the LocalCluster's scheduler) has used."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_memory_mib() -> float:
    """The most memory this process has held (on a worker: reading, the network, its inputs)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rows(home: Path) -> dict[tuple, tuple]:
    store = Store.open(load_settings(home))
    return {
        (r["path"], r["ext"]): (r["image_type"], r["night"], r["flagged"], None if r["score"] is None else round(r["score"], 4))
        for night in store.nights()
        for r in night_report(store, night)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("bench/out/backfill"))
    parser.add_argument("--nights", type=int, default=4)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--weights", default="random")
    args = parser.parse_args()
    raw = args.workdir / f"raw-{args.nights}x{args.scale}"
    if not raw.exists():
        partial = raw.with_name(raw.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        simulate_nights(partial, nights=args.nights, test_nights=1, scale=args.scale, seed=5, compress="Z")
        partial.rename(raw)
    files = len(list(raw.rglob("*.fits*")))
    runs = [("ingest", 2), ("backfill", 1), ("backfill", 2)]
    results = []
    for command, workers in runs:
        home = args.workdir / f"home-{command}-{workers}"
        shutil.rmtree(home, ignore_errors=True)
        settings = load_settings(home, weights=args.weights, workers=workers, map_methods=())
        clock = Clock()
        peak = client_ms = None
        if command == "ingest":
            result = ingest([raw], settings, progress=clock)
        else:
            with (
                LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    dashboard_address="127.0.0.1:0",
                    silence_logs=logging.ERROR,
                ) as cluster,
                Client(cluster) as client,
            ):
                clock = Clock()
                before = cpu_seconds()
                result = backfill([raw], settings, scheduler=cluster.scheduler_address, progress=clock)
                client_ms = (cpu_seconds() - before) / files * 1000
                peak = max(client.run(peak_memory_mib).values())
        total = time.perf_counter() - clock.start
        results.append(Run(command, workers, result.images, clock.described - clock.start, total, peak, client_ms, home, clock))
        print(f"{command} with {workers} worker{'s' if workers > 1 else ''}: {result.images} images in {total:.1f} s", flush=True)
    expected = rows(results[0].home)
    print(f"\n{files} files, {results[0].images} image extensions, {args.nights} nights at scale {args.scale}")
    print(
        "| command  | workers | describing | images/s | files/s | steady files/s | whole command | images/s "
        "| same rows | worker peak | client CPU/file |"
    )
    for run in results:
        same = "-" if run.command == "ingest" else str(rows(run.home) == expected)
        memory = "-" if run.peak is None else f"{run.peak:,.0f} MiB"
        client = "-" if run.client_ms is None else f"{run.client_ms:.0f} ms"
        steady = run.clock.steady_rate * (files / run.images if run.command == "ingest" else 1.0)  # ingest counts images
        print(
            f"| {run.command:8} | {run.workers:7d} | {run.described:8.1f} s | {run.images / run.described:8.2f} "
            f"| {files / run.described:7.2f} | {steady:14.2f} | {run.total:11.1f} s | {run.images / run.total:8.2f} "
            f"| {same:9} | {memory:>11} | {client:>15} |"
        )
    one, two = results[1], results[2]
    scaling = two.clock.steady_rate / one.clock.steady_rate
    met = "met" if scaling >= SCALING_TARGET else "NOT met"
    print(f"backfill scaling from 1 to 2 workers, steady (first file stored to last): {scaling:.2f}x (target {SCALING_TARGET}x: {met})")
    print(f"backfill scaling from 1 to 2 workers, describing with the workers' start-up: {one.described / two.described:.2f}x")
    print(f"backfill scaling from 1 to 2 workers, whole command: {one.total / two.total:.2f}x")


if __name__ == "__main__":
    main()
