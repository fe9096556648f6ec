"""kill -9 at random moments: the store stays consistent, the next run gives an uninterrupted run's rows, no process is left.

Each kill is a real SIGKILL of a ``calspot`` process (nothing runs its clean-up), at a
moment drawn from a seeded generator.
"""

from __future__ import annotations

import os
import random
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.store import Store
from tests.pipeline_fixtures import TEST_INPUT_SIZE, make_settings
from tests.test_pipeline_resume import every_stored_file_is_complete, report_rows

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def calspot_process(home: Path, *args: str, database_url: str = "", file_size_limit: int | None = None) -> subprocess.Popen:
    """``calspot ARGS`` on a home (its SQLite store, or ``database_url``), as a process of its own."""
    env = dict(os.environ, CALSPOT_WEIGHTS="random", CALSPOT_INPUT_SIZE=str(TEST_INPUT_SIZE), CALSPOT_MAP_METHODS="none")
    env.pop("CALSPOT_DATABASE_URL", None)
    if database_url:
        env["CALSPOT_DATABASE_URL"] = database_url

    def limit_files() -> None:
        if file_size_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    command = [sys.executable, "-m", "core", "--home", str(home), *args]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=limit_files)


def descendants(pid: int) -> set[int]:
    """Every living process under ``pid`` (from /proc)."""
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    todo.append(child)
    return found


def alive(pid: int) -> bool:
    """Whether a process runs (a zombie, dead but not reaped, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_killed_ingest_leaves_no_reading_worker_behind(simulated_nights, tmp_path):
    ingest = calspot_process(tmp_path / "home", "ingest", str(simulated_nights), "--workers", "2")
    deadline = time.monotonic() + 120
    workers: set[int] = set()
    while len(workers) < 2 and time.monotonic() < deadline and ingest.poll() is None:
        time.sleep(0.2)
        workers = {pid for pid in descendants(ingest.pid) if alive(pid)}
    assert len(workers) >= 2, "the ingest never started its reading workers"
    ingest.send_signal(signal.SIGKILL)
    ingest.wait()
    deadline = time.monotonic() + 15
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in workers if alive(pid)], "reading workers outlived the killed ingest"


def test_ingests_killed_at_random_moments_end_with_the_rows_of_an_uninterrupted_one(simulated_nights, tmp_path):
    uninterrupted = calspot_process(tmp_path / "whole", "ingest", str(simulated_nights), "--workers", "2")
    assert uninterrupted.wait(timeout=600) == 0, uninterrupted.stderr.read()
    expected_store = Store.open(make_settings(tmp_path / "whole"))
    nights = expected_store.nights()
    expected = report_rows(expected_store, nights)
    home = tmp_path / "killed"
    for delay in random.Random(11).sample([1.5, 3.0, 4.5, 6.0, 8.0, 10.0], 3):
        run = calspot_process(home, "ingest", str(simulated_nights), "--workers", "2")
        time.sleep(delay)
        run.send_signal(signal.SIGKILL)
        run.wait()
        if (home / "calspot.sqlite").exists():
            assert every_stored_file_is_complete(Store.open(make_settings(home)))
    final = calspot_process(home, "ingest", str(simulated_nights), "--workers", "2")
    assert final.wait(timeout=600) == 0, final.stderr.read()
    store = Store.open(make_settings(home))
    assert every_stored_file_is_complete(store)
    assert store.nights() == nights and report_rows(store, nights) == expected


def test_a_store_that_cannot_grow_stops_the_ingest_in_one_line_and_keeps_no_half_written_file(simulated_nights, tmp_path):
    home = tmp_path / "home"
    # A limit on the size of files the ingest may write stands in for a disk that fills up.
    full = calspot_process(home, "ingest", str(simulated_nights), "--workers", "2", file_size_limit=1_500_000)
    _, err = full.communicate(timeout=600)
    assert full.returncode == 1 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("calspot ingest: the store could not be written (") and "is its disk full?" in err
    store = Store.open(make_settings(home))
    assert every_stored_file_is_complete(store)
    rerun = calspot_process(home, "ingest", str(simulated_nights), "--workers", "2")
    _, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err
    assert every_stored_file_is_complete(store) and len(store.nights()) == 5
