"""Many reviewers at once: 8 processes x 100 verdicts while a night is ingested, on SQLite and on PostgreSQL.

Simulates small UVES-like nights (kept between runs), ingests all but the last into a
home per database, then at the same moment starts:

- ``--reviewers`` processes, each writing ``--verdicts`` verdicts through the store's
  API as fast as it can (each verdict a transaction, as the dashboard's form and
  ``calspot label`` write them), on frames of their own and on a few frames that every
  reviewer judges (to see that the latest verdict of a frame is the last one written);
- ``calspot ingest`` of the last night (a real subprocess: reading workers, network,
  store writes, scoring);
- a reader that draws the Night page's data (``night_report`` of the newest night) over
  and over, as the dashboard does on every rerun.

Then it checks that every verdict is stored once (none lost, none doubled), that the
latest verdict of each shared frame is the one written last, and prints verdicts/s,
the slowest write, the errors, and the slowest dashboard read against the 2 s target.

PostgreSQL is a throwaway server (Debian's binaries, a cluster in a temporary folder;
see ``tests/postgres_server.py``), started and removed by this script.

Usage::

    .venv/bin/python bench/load.py --workdir bench/out/load
    .venv/bin/python bench/load.py --databases sqlite --reviewers 4 --verdicts 50
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.config import load_settings
from core.report import night_report
from core.store import Store
from tests.postgres_server import PostgresServer, postgres_bin

READ_TARGET_S = 2.0
SHARED_FRAMES = 5


@dataclass
class Outcome:
    """What one database went through."""

    database: str
    verdicts: int
    seconds: float
    slowest_write_s: float
    errors: list[str]
    lost: int
    doubled: int
    wrong_latest: int
    reads: int
    slowest_read_s: float
    ingest_s: float
    ingest_status: int


def calspot(home: Path, url: str, *args: str) -> subprocess.Popen:
    env = dict(os.environ, CALSPOT_WEIGHTS="random", CALSPOT_MAP_METHODS="none", CALSPOT_DATABASE_URL=url)
    return subprocess.Popen(
        [sys.executable, "-m", "core", "--home", str(home), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def reviewer(url: str, name: str, frames: list[tuple[str, int]], shared: list[tuple[str, int]], count: int, barrier, results) -> None:
    """Write ``count`` verdicts, every fifth on a shared frame; report (note, label id, seconds) of each and the errors."""
    store = Store(url)
    written, errors = [], []
    barrier.wait()
    for k in range(count):
        path, ext = shared[k // 5 % len(shared)] if k % 5 == 0 else frames[k % len(frames)]
        note = f"{name}-{k}"
        started = time.perf_counter()
        try:
            label_id = store.add_label(path, ext, "reject" if k % 2 else "accept", name, note)
        except Exception as exc:  # every failure is a finding: count it, go on
            errors.append(f"{name} verdict {k}: {type(exc).__name__}: {exc}")
            continue
        written.append((note, label_id, time.perf_counter() - started))
    results.put((name, written, errors))


def frames_of(store: Store, nights: list[str]) -> list[tuple[str, int]]:
    return [(r["path"], r["ext"]) for night in nights for r in store.night_rows(night) if r["ext"] is not None]


def run_load(database: str, url: str, home: Path, raw: Path, reviewers: int, verdicts: int) -> Outcome:
    nights = sorted(p for p in raw.iterdir() if p.is_dir())
    settings = load_settings(home, database_url=url)
    store = Store.open(settings)
    if not store.nights():
        done = calspot(home, url, "ingest", *map(str, nights[:-1]))
        _, err = done.communicate()
        if done.returncode:
            raise SystemExit(f"the first ingest failed: {err.decode()}")
    frames = frames_of(store, store.nights())
    shared, own = frames[:SHARED_FRAMES], frames[SHARED_FRAMES:]
    before = len(store.labels())
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(reviewers + 1), context.Queue()
    names = [f"reviewer{i}" for i in range(reviewers)]
    processes = [
        context.Process(target=reviewer, args=(url, name, own[i::reviewers], shared, verdicts, barrier, results))
        for i, name in enumerate(names)
    ]
    for process in processes:
        process.start()
    reads: list[float] = []
    stop = threading.Event()

    def read_night_page() -> None:
        night = store.nights()[-1]
        while not stop.is_set():
            started = time.perf_counter()
            night_report(store, night)
            reads.append(time.perf_counter() - started)

    reader = threading.Thread(target=read_night_page, daemon=True)
    barrier.wait()
    started = time.perf_counter()
    ingest = calspot(home, url, "ingest", str(nights[-1]))
    reader.start()
    gathered = [results.get(timeout=1800) for _ in processes]
    seconds = time.perf_counter() - started
    for process in processes:
        process.join(timeout=60)
    ingest.communicate(timeout=1800)
    ingest_s = time.perf_counter() - started
    stop.set()
    reader.join(timeout=60)
    written = [w for _, rows, _ in gathered for w in rows]
    errors = [e for _, _, errs in gathered for e in errs]
    labels = store.labels()[before:]
    notes = Counter(label.note for label in labels)
    expected = {note for note, _, _ in written}
    lost = len(expected - set(notes))
    doubled = sum(n - 1 for n in notes.values() if n > 1)
    by_frame: dict[int | None, list] = {}
    for label in labels:
        by_frame.setdefault(label.image_id, []).append(label)
    # The latest verdict of a frame (the one that counts: the highest id) is the one whose write finished last.
    wrong_latest = sum(1 for rows in by_frame.values() if max(rows, key=lambda r: r.id).created_at != max(r.created_at for r in rows))
    return Outcome(
        database,
        len(written),
        seconds,
        max((s for _, _, s in written), default=0.0),
        errors,
        lost,
        doubled,
        wrong_latest,
        len(reads),
        max(reads, default=0.0),
        ingest_s,
        ingest.returncode,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--databases", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite", "postgresql"])
    parser.add_argument("--reviewers", type=int, default=8)
    parser.add_argument("--verdicts", type=int, default=100, help="verdicts per reviewer")
    parser.add_argument("--nights", type=int, default=4, help="simulated nights (the last is ingested during the load)")
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--workdir", type=Path, default=Path("bench/out/load"))
    args = parser.parse_args()
    raw = args.workdir / "raw"
    if not raw.is_dir():
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "core",
                "simulate",
                str(raw),
                "--nights",
                str(args.nights),
                "--test-nights",
                "1",
                "--scale",
                str(args.scale),
            ],
            capture_output=True,
        )
        if done.returncode:
            raise SystemExit(done.stderr.decode())
    outcomes = []
    server = None
    try:
        for database in args.databases:
            home = args.workdir / f"home-{database}"
            shutil.rmtree(home, ignore_errors=True)
            if database == "sqlite":
                url = f"sqlite:///{(home / 'calspot.sqlite').resolve()}"
            else:
                bin_dir = postgres_bin()
                if bin_dir is None:
                    raise SystemExit("PostgreSQL's server is not installed (Debian's postgresql package)")
                server = server or PostgresServer(bin_dir).start()
                url = server.create_database()
            print(f"{database}: {args.reviewers} reviewers x {args.verdicts} verdicts while a night is ingested ...", flush=True)
            outcomes.append(run_load(database, url, home, raw, args.reviewers, args.verdicts))
    finally:
        if server is not None:
            server.remove()
    print()
    print(
        "| database   | verdicts | seconds | verdicts/s | slowest write | errors | lost | doubled | latest wrong | reads | slowest read |"
    )
    print(
        "|------------|----------|---------|------------|---------------|--------|------|---------|--------------|-------|--------------|"
    )
    for o in outcomes:
        ingest = f"{o.ingest_s:.0f} s" if o.ingest_status == 0 else f"FAILED ({o.ingest_status})"
        print(
            f"| {o.database:10} | {o.verdicts:8d} | {o.seconds:7.1f} | {o.verdicts / o.seconds:10.1f} | {o.slowest_write_s:11.3f} s | "
            f"{len(o.errors):6d} | {o.lost:4d} | {o.doubled:7d} | {o.wrong_latest:12d} | {o.reads:5d} | {o.slowest_read_s:10.3f} s |"
        )
        print(f"  {o.database}: the ingest of a night meanwhile: {ingest}")
    for o in outcomes:
        for error in o.errors[:5]:
            print(f"{o.database}: {error}")
        ok = not o.errors and not o.lost and not o.doubled and not o.wrong_latest and o.ingest_status == 0
        fast = o.slowest_read_s < READ_TARGET_S
        print(f"{o.database}: every verdict stored once, the latest last: {ok}; dashboard reads under {READ_TARGET_S:.0f} s: {fast}")


if __name__ == "__main__":
    main()
