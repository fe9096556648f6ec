"""How fast the commands that scripts call once per frame answer: ``nights``, ``report``, ``label``.

A script that labels frames one ``calspot label`` call at a time, or a cron job that
asks ``calspot report`` for every night, waits for the command's start-up each time.
This simulates two small UVES-like nights (kept between runs), ingests them into a
home per database, then times each command as a user calls it (the installed
``calspot`` entry point, a new process each time) ``--repeat`` times, and prints the
median and the slowest against the 0.5 s target, beside a bare ``python -c pass``.

PostgreSQL is a throwaway server (see ``tests/postgres_server.py``), started and
removed by this script. Run it on a quiet machine: the figures are wall-clock times.

Usage::

    .venv/bin/python bench/cli_startup.py --workdir bench/out/cli_startup
    .venv/bin/python bench/cli_startup.py --databases sqlite --repeat 20
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.postgres_server import PostgresServer, postgres_bin

TARGET_S = 0.5
ENTRY_POINT = Path(sys.executable).with_name("calspot")


def calspot(home: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, CALSPOT_WEIGHTS="random", CALSPOT_MAP_METHODS="none", CALSPOT_HOME=str(home))
    env.pop("CALSPOT_DATABASE_URL", None)
    if url:
        env["CALSPOT_DATABASE_URL"] = url
    done = subprocess.run([str(ENTRY_POINT), *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"calspot {' '.join(args)} failed: {done.stderr.strip()}")
    return done


def timed(command: list[str], env: dict[str, str], repeat: int) -> tuple[float, float]:
    """Median and slowest wall-clock seconds of ``repeat`` runs of a command."""
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, env=env, capture_output=True, check=True)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), max(seconds)


def measure(database: str, home: Path, url: str, raw: Path, repeat: int) -> list[tuple[str, str, float, float]]:
    """Each command's median and slowest seconds on a home of ``raw`` (ingested into a new PostgreSQL database; once into SQLite)."""
    if url or not (home / "calspot.sqlite").exists():
        calspot(home, url, "ingest", str(raw), "--workers", "2")
    report = calspot(home, url, "report", "--format", "csv").stdout
    frame = next(csv.DictReader(io.StringIO(report)))
    env = dict(os.environ, CALSPOT_HOME=str(home), CALSPOT_MAP_METHODS="none")
    env.pop("CALSPOT_DATABASE_URL", None)
    if url:
        env["CALSPOT_DATABASE_URL"] = url
    commands = {
        "nights": ["nights"],
        "report": ["report"],
        "report --format csv": ["report", "--format", "csv"],
        "label": ["label", frame["path"], "--ext", frame["ext"], "--verdict", "accept", "--by", "bench"],
    }
    return [(database, name, *timed([str(ENTRY_POINT), *args], env, repeat)) for name, args in commands.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("bench/out/cli_startup"))
    parser.add_argument("--databases", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--repeat", type=int, default=10, help="runs of each command")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    raw = args.workdir / "raw"
    if not raw.exists():
        calspot(args.workdir / "sim-home", "", "simulate", str(raw), "--nights", "2", "--scale", "0.25", "--seed", "7")
    python = timed([sys.executable, "-c", "pass"], dict(os.environ), args.repeat)
    rows = [("-", "python -c pass", *python)]
    server = None
    try:
        for database in args.databases.split(","):
            url = ""
            if database == "postgresql":
                bin_dir = postgres_bin()
                if bin_dir is None:
                    print("postgresql: no PostgreSQL binaries here (apt-get install postgresql); skipped")
                    continue
                server = PostgresServer(bin_dir).start()
                url = server.create_database()
            rows += measure(database, args.workdir / f"home-{database}", url, raw, args.repeat)
    finally:
        if server is not None:
            server.remove()
    print(f"\n| database   | command              | median  | slowest | target {TARGET_S} s |")
    for database, name, median, slowest in rows:
        met = "" if name.startswith("python") else ("met" if median <= TARGET_S else "NOT met")
        print(f"| {database:10} | {name:20} | {median:5.2f} s | {slowest:5.2f} s | {met:12} |")


if __name__ == "__main__":
    main()
