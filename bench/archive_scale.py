"""A million images: is a store of years of archive as quick to use as a small one?

Fills, once, a store of ``--images`` images per size (10 000 and 1 000 000 by default),
on SQLite and on PostgreSQL, straight through the store's API (``bench/archive_home.py``:
years of nights of 300 UVES-like images of the simulator's types and modes, modelled on
a real ingest, scored, some flagged, most flags with a verdict), and a new night of 300.
The filled stores are kept under ``--workdir`` (one home per database and size, named
by everything their rows depend on; PostgreSQL's cluster lives there too, started by
this script and stopped at the end) and reused by later runs: filling a million images
takes a while, once. Then, ``--repeat`` times each, on each store:

- **score the night**: calspot's own scoring of the new night's 300 images
  (:func:`core.pipeline.rescore`: each type and mode against its reference of recent
  history, the type check, difference images, the scores written);
- **report**: ``calspot report --night N --format csv``, the installed command in a new
  process, as a script calls it;
- **Night page**: what the dashboard's Night page reads and computes before it draws:
  the nights, the night's report rows, their order, counts, summary and table, and the
  latest verdict of the frame it opens;
- **night map** (PCA, computed): the night's frames and a sample of the history of each
  type (``map_history_per_type``), read and fitted (:func:`core.maps.night_map`);
- **night map, stored**: the same map found and loaded as the Maps page does on each view;
- **dendrogram**: a type's frames of the night among a sample of its history, joined
  (:func:`core.dendrogram.tree_image_ids`, :func:`core.dendrogram.frame_tree`);

and the store's size on disk per image (the SQLite file, PostgreSQL's
``pg_database_size``), with what it would be if every image kept its pictures.

Printed: median and slowest per figure, and the targets: scoring, the maps and the
dendrogram at most 20 % slower on the largest store than on the smallest, ``report``
under 1 s and the Night page under 2 s on every store. Timings are wall-clock on a
shared machine: run it on a quiet one.

Usage::

    .venv/bin/python bench/archive_scale.py                                  # 10 000 and 1 000 000 images
    .venv/bin/python bench/archive_scale.py --images 10000,100000 --databases sqlite
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from archive_home import (
    FULL_NIGHTS,
    MARKER,
    PER_NIGHT,
    Archive,
    archive_key,
    fill_archive,
    filled_archive,
    read_groups,
    size_with_pictures,
    template_home,
)

from core.dendrogram import frame_tree, tree_image_ids
from core.embed import expected_fingerprint
from core.maps import PcaParams, night_map
from core.pipeline import rescore
from core.report import night_report
from core.store import Store
from dashboard import formatting
from tests.postgres_server import PostgresServer, postgres_bin

ENTRY_POINT = Path(sys.executable).with_name("calspot")
REPORT_TARGET_S = 1.0
PAGE_TARGET_S = 2.0
SLOWER_AT_MOST = 1.2  # the largest store against the smallest: at most 20 % slower
RELATIVE = ("score the night", "night map, computed", "night map, stored", "dendrogram")


@dataclass
class Figure:
    """One timed figure of one store."""

    database: str
    images: int
    name: str
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def timed(action: Callable[[], object], repeat: int) -> list[float]:
    """Wall-clock seconds of each of ``repeat`` calls."""
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - start)
    return seconds


def night_page(store: Store, night: str) -> None:
    """What the Night page computes before drawing: nights, rows, order, counts, summary, table, the frame shown and its verdict."""
    store.nights()
    rows = formatting.order_rows(night_report(store, night))
    formatting.night_counts(rows)
    formatting.uses_random_weights(rows)
    formatting.styled_summary(formatting.type_summary(rows))
    visible = formatting.filter_rows(rows, flagged_only=False, image_types=[], search="")
    formatting.table(visible)
    first = formatting.first_to_review(visible, True)
    shown = next((row for row in visible if formatting.frame_key(row) == first), visible[0])
    formatting.next_to_review(visible, formatting.frame_key(shown), True)
    formatting.deviations_table(shown["details"])
    formatting.neighbours_table(shown["details"])
    judged = next((row for row in visible if row["verdict"] and row["image_id"] is not None), None)
    if judged is not None:  # the verdict line of a judged frame: who and when
        store.labels(judged["image_id"])[-1]


def report(archive: Archive) -> None:
    """``calspot report`` of the night, as a script runs it."""
    env = dict(os.environ, CALSPOT_HOME=str(archive.home))
    env.pop("CALSPOT_DATABASE_URL", None)
    done = subprocess.run(
        [str(ENTRY_POINT), "report", "--night", archive.night, "--format", "csv"], env=env, capture_output=True, text=True
    )
    if done.returncode != 0 or done.stdout.count("\n") < 2:
        raise SystemExit(f"calspot report failed: {done.stderr.strip()}")


def dendrogram(store: Store, archive: Archive, group: tuple[str, str, str]) -> None:
    """A type's dendrogram of the night: its frames among a sample of its history, joined."""
    fingerprint = expected_fingerprint(archive.settings)
    tonight, history = tree_image_ids(store, archive.settings, archive.night, *group, fingerprint)
    if frame_tree(store, tonight, history, fingerprint) is None:
        raise SystemExit(f"no dendrogram of {group} on {archive.night}")


def store_size(database: str, archive: Archive, url: str) -> int:
    """Bytes the store takes on disk: the SQLite file (and its log), or PostgreSQL's database."""
    if database == "sqlite":
        import sqlite3

        path = archive.home / "calspot.sqlite"
        connection = sqlite3.connect(path)
        try:  # what the write-ahead log still holds goes into the file first
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            connection.close()
        return path.stat().st_size
    import psycopg

    with psycopg.connect(url) as connection:
        return int(connection.execute("SELECT pg_database_size(current_database())").fetchone()[0])


def measure(database: str, archive: Archive, url: str, repeat: int) -> tuple[list[Figure], int]:
    """Every figure of one store, and its size in bytes."""
    store = Store.open(archive.settings)
    groups = Counter((r.instrument, r.image_type, r.mode) for r in store.image_rows(night=archive.night))
    largest = groups.most_common(1)[0][0]
    seed = time.time_ns() % 1_000_000_000  # a map of new parameters each run: computed, not loaded
    seeds = iter(range(seed, seed + repeat))
    figures = {
        "score the night": lambda: rescore(archive.settings, [archive.night], store=store),
        "calspot report": lambda: report(archive),
        "Night page": lambda: night_page(store, archive.night),
        "night map, computed": lambda: night_map(store, archive.night, archive.settings, "pca", params=PcaParams(seed=next(seeds))),
        "night map, stored": lambda: night_map(store, archive.night, archive.settings, "pca", params=PcaParams(seed=seed), compute=False),
        "dendrogram": lambda: dendrogram(store, archive, largest),
    }
    found = [Figure(database, archive.images, name, timed(action, repeat)) for name, action in figures.items()]
    return found, store_size(database, archive, url)


def archive_for(database: str, images: int, args: argparse.Namespace, groups, server: PostgresServer | None) -> tuple[Archive, str]:
    """The filled store of this database and size (filled now if it is not yet), and its URL ("" for SQLite)."""
    key = archive_key(images, args.per_night, args.full_nights, args.seed)
    home = args.workdir / f"{database}-{key}"
    url = ""
    if database == "postgresql":
        name = key.replace("-", "_")
        url = server.url(name)
        if _ensure_database(server, name, fresh=filled_archive(home) is None):
            (home / MARKER).unlink(missing_ok=True)  # the marker outlived its database: fill it again
        (home / "calspot.toml").parent.mkdir(parents=True, exist_ok=True)
    archive = filled_archive(home)
    if archive is not None:
        if url:  # the server's port changes from run to run
            (home / "calspot.toml").write_text(
                (home / "calspot.toml").read_text().rsplit("database_url", 1)[0] + f'database_url = "{url}"\n'
            )
            archive = filled_archive(home)
        print(f"{database}, {images} images: reusing the store filled earlier in {home}", flush=True)
        return archive, url
    print(f"{database}, {images} images: filling {home}", flush=True)
    if database == "sqlite":
        for stale in home.glob("calspot.sqlite*"):
            stale.unlink()
    return fill_archive(home, url, groups, images, per_night=args.per_night, full_nights=args.full_nights, seed=args.seed), url


def _ensure_database(server: PostgresServer, name: str, *, fresh: bool) -> bool:
    """Create the database where it is missing or holds no images; True when it is empty now.

    Anew when ``fresh`` (a fill that did not finish) or when it holds no images (its
    cluster was removed since, or a run stopped between creating it and filling it).
    """
    import psycopg

    with psycopg.connect(server.url("postgres"), autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    if exists and not fresh:
        with psycopg.connect(server.url(name)) as connection:
            fresh = connection.execute("SELECT to_regclass('images') IS NULL").fetchone()[0]
            if not fresh:
                fresh = connection.execute("SELECT NOT EXISTS (SELECT 1 FROM images)").fetchone()[0]
    if exists and not fresh:
        return False
    with psycopg.connect(server.url("postgres"), autocommit=True) as connection:
        if exists:
            connection.execute(f'DROP DATABASE "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')
    return True


def print_table(figures: list[Figure], sizes: dict[tuple[str, int], tuple[int, float]], fills: dict[tuple[str, int], Archive]) -> None:
    """The figures, with the targets met or not."""
    smallest = {}
    for figure in figures:
        key = (figure.database, figure.name)
        if key not in smallest or figure.images < smallest[key].images:
            smallest[key] = figure
    print("\n| database   | images    | figure              | median   | slowest  | target                    |         |")
    print("|------------|-----------|---------------------|----------|----------|---------------------------|---------|")
    for figure in figures:
        base = smallest[(figure.database, figure.name)]
        if figure.name == "calspot report":
            target, met = f"under {REPORT_TARGET_S:g} s", figure.median < REPORT_TARGET_S
        elif figure.name == "Night page":
            target, met = f"under {PAGE_TARGET_S:g} s", figure.median < PAGE_TARGET_S
        elif figure is base:
            target, met = "(the reference)", None
        else:
            ratio = figure.median / base.median
            target, met = f"x{ratio:.2f} of {base.images} (<= x{SLOWER_AT_MOST})", ratio <= SLOWER_AT_MOST
        word = "" if met is None else ("met" if met else "NOT met")
        print(
            f"| {figure.database:10} | {figure.images:9d} | {figure.name:19} | {figure.median:6.3f} s | {max(figure.seconds):6.3f} s "
            f"| {target:25} | {word:7} |"
        )
    print("\n| database   | images    | on disk  | per image | with every image's pictures | filled in | images/s |")
    print("|------------|-----------|----------|-----------|-----------------------------|-----------|----------|")
    for key, (size, pictured) in sizes.items():
        fill = fills[key]
        rate = fill.images / fill.fill_seconds if fill.fill_seconds else 0.0
        print(
            f"| {key[0]:10} | {fill.images:9d} | {size / 1e9:5.2f} GB | {size / fill.images / 1e3:6.1f} kB "
            f"| {pictured / 1e3:20.1f} kB/image | {fill.fill_seconds:7.0f} s | {rate:8.0f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default="10000,1000000", help="comma-separated store sizes in images (the first is the reference)")
    parser.add_argument("--databases", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--workdir", type=Path, default=Path("bench/out/archive_scale"))
    parser.add_argument("--repeat", type=int, default=5, help="runs of each figure")
    parser.add_argument("--per-night", type=int, default=PER_NIGHT, help="images a night")
    parser.add_argument("--full-nights", type=int, default=FULL_NIGHTS, help="latest nights whose images keep their pictures and profiles")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fill-only", action="store_true", help="fill the stores that are not filled yet, and measure nothing")
    args = parser.parse_args()
    args.workdir = args.workdir.resolve()
    args.workdir.mkdir(parents=True, exist_ok=True)
    sizes_wanted = sorted(int(n) for n in args.images.split(","))
    groups = read_groups(template_home(args.workdir), args.seed)
    figures: list[Figure] = []
    sizes: dict[tuple[str, int], tuple[int, float]] = {}
    fills: dict[tuple[str, int], Archive] = {}
    server = None
    try:
        for database in args.databases.split(","):
            if database == "postgresql":
                bin_dir = postgres_bin()
                if bin_dir is None:
                    print("postgresql: no PostgreSQL binaries here (apt-get install postgresql); skipped")
                    continue
                server = PostgresServer(bin_dir, args.workdir / "postgres").start()
            for images in sizes_wanted:
                archive, url = archive_for(database, images, args, groups, server)
                fills[(database, images)] = archive
                if args.fill_only:
                    continue
                print(f"{database}, {images} images: measuring (night {archive.night}, {args.repeat} runs of each figure)", flush=True)
                found, size = measure(database, archive, url, args.repeat)
                figures += found
                sizes[(database, images)] = (size, size_with_pictures(archive, size))
            if server is not None:
                server.stop()
                server = None
    finally:
        if server is not None:
            server.stop()
    if figures:
        print_table(figures, sizes, fills)


if __name__ == "__main__":
    main()
