"""A backfill on a Dask LocalCluster stores what an ingest stores, carries on after a kill, and scores what was left unscored."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest
from distributed import LocalCluster
from sqlalchemy import delete, func, select

from core.backfill import ClusterMismatch, backfill
from core.pipeline import ingest
from core.report import night_report
from core.store import Store
from core.store.schema import Descriptor, File, Image, Quality, Score
from tests.pipeline_fixtures import make_settings
from tests.test_faults import alive, calspot_process, descendants
from tests.test_pipeline_resume import every_stored_file_is_complete

pytestmark = pytest.mark.slow


def rows_of(store: Store) -> dict[tuple, dict]:
    return {(r["path"], r["ext"]): r for night in store.nights() for r in night_report(store, night)}


def table_counts(store: Store) -> dict[str, int]:
    with store._sessions() as session:
        tables = (File, Image, Descriptor, Quality)
        return {table.__tablename__: session.scalar(select(func.count()).select_from(table)) for table in tables}


def descriptors(store: Store) -> dict[tuple[str, int], np.ndarray]:
    with store._sessions() as session:
        return {(d.content_hash, d.ext): np.frombuffer(d.vector, np.float32) for d in session.scalars(select(Descriptor))}


def assert_same_rows(store: Store, expected: Store) -> None:
    """The same files, images, types, nights and flags; scores equal but for the last bits of the network's sums."""
    got, want = rows_of(store), rows_of(expected)
    assert got.keys() == want.keys() and table_counts(store) == table_counts(expected)
    for key, row in want.items():
        assert (got[key]["image_type"], got[key]["night"], got[key]["flagged"]) == (row["image_type"], row["night"], row["flagged"]), key
        assert got[key]["score"] == (None if row["score"] is None else pytest.approx(row["score"], rel=1e-4, abs=1e-6)), key
    mine, theirs = descriptors(store), descriptors(expected)
    assert mine.keys() == theirs.keys()
    assert all(np.allclose(mine[k], theirs[k], rtol=1e-4, atol=1e-5) for k in mine)


@pytest.fixture(scope="module")
def ingested(simulated_nights: Path, tmp_path_factory: pytest.TempPathFactory) -> Store:
    """The simulated nights through ``ingest`` (the rows a backfill must give)."""
    settings = make_settings(tmp_path_factory.mktemp("ingested"))
    ingest([simulated_nights], settings)
    return Store.open(settings)


def test_a_backfill_on_two_local_workers_stores_the_rows_of_an_ingest(simulated_nights: Path, ingested: Store, tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "home")
    seen = []
    result = backfill([simulated_nights], settings, workers=2, progress=lambda stage, done, total: seen.append((stage, done, total)))
    store = Store.open(settings)
    assert result.files_new == result.files_found == len(list(simulated_nights.rglob("*.fits*")))
    assert result.nights == ingested.nights() == store.nights()
    assert_same_rows(store, ingested)
    assert result.flagged == sum(r["flagged"] for r in rows_of(store).values() if r["ext"] is not None)
    files = [done for stage, done, _ in seen if stage == "backfill"]
    assert files[0] == 0 and files[-1] == result.files_found and files == sorted(files)

    again = backfill([simulated_nights], settings, workers=1)
    assert again.files_new == 0 and again.files_known == result.files_found and again.nights == []
    assert table_counts(store) == table_counts(ingested)


def test_nights_left_unscored_are_scored_by_the_next_backfill_on_a_scheduler_given_by_address(
    simulated_nights: Path, ingested: Store, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path / "home")
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address="127.0.0.1:0") as cluster:
        backfill([simulated_nights], settings, scheduler=cluster.scheduler_address)
    store = Store.open(settings)
    last = store.nights()[-1]
    with store._sessions.begin() as session:
        unscored = select(Image.id).where(Image.night == last).scalar_subquery()
        session.execute(delete(Score).where(Score.image_id.in_(unscored)))
    assert store.unscored_nights() == [last]
    result = backfill([simulated_nights], settings, workers=1)
    assert result.files_new == 0 and result.nights == [last] and store.unscored_nights() == []
    assert_same_rows(store, ingested)


def stored_files(database: Path) -> int:
    if not database.exists():
        return 0
    with sqlite3.connect(database, timeout=30) as connection:
        try:
            return connection.execute("SELECT count(*) FROM files").fetchone()[0]
        except sqlite3.OperationalError:  # the tables are not made yet
            return 0


def test_a_killed_backfill_leaves_no_worker_and_the_next_one_carries_on(simulated_nights: Path, ingested: Store, tmp_path: Path) -> None:
    home = tmp_path / "home"
    run = calspot_process(home, "backfill", str(simulated_nights), "--workers", "2")
    deadline = time.monotonic() + 300
    while stored_files(home / "calspot.sqlite") == 0 and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.2)
    assert run.poll() is None, f"the backfill ended before it could be killed: {run.stderr.read()}"
    workers = {pid for pid in descendants(run.pid) if alive(pid)}
    assert workers, "the backfill runs no worker process"
    run.send_signal(signal.SIGKILL)
    run.wait()
    store = Store.open(make_settings(home))
    stored = stored_files(home / "calspot.sqlite")
    assert stored > 0 and every_stored_file_is_complete(store)
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in workers if alive(pid)], "Dask workers outlived the killed backfill"

    final = calspot_process(home, "backfill", str(simulated_nights), "--workers", "2")
    out, err = final.communicate(timeout=600)
    assert final.returncode == 0, err
    assert f"{stored} already known" in out
    assert_same_rows(store, ingested)


def test_workers_with_another_network_are_refused_and_nothing_of_theirs_is_stored(
    simulated_nights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workers' ResNet-50 is this test's; this calspot is told to expect ImageNet's (as with weights in one cache only)."""
    monkeypatch.setattr("core.backfill.expected_fingerprint", lambda settings: "resnet50/imagenet/in64/3ch-asinh-v2")
    settings = make_settings(tmp_path / "home")
    with pytest.raises(ClusterMismatch, match="a worker describes images with resnet50/random-seed0-v2/in64"):
        backfill([simulated_nights], settings, workers=1)
    assert table_counts(Store.open(settings))["files"] == 0
