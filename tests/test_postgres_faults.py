"""PostgreSQL stopped during an ingest: the ingest stops with one line, and once the server is back the rerun completes."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, text

from core.store import Store
from core.store.database import driver_url
from tests.pipeline_fixtures import make_settings
from tests.postgres_server import PostgresServer, postgres_bin
from tests.test_faults import calspot_process
from tests.test_pipeline_resume import every_stored_file_is_complete

pytestmark = pytest.mark.slow


def stored_files(url: str) -> int:
    engine = create_engine(driver_url(url))
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT count(*) FROM files")).scalar_one()
    except Exception:  # the schema may not be there yet
        return 0
    finally:
        engine.dispose()


def test_an_ingest_whose_database_server_stops_says_so_in_one_line_and_the_rerun_completes(simulated_nights, tmp_path):
    server = PostgresServer(postgres_bin()).start()  # a server of its own: this test stops it
    try:
        url = server.create_database()
        home = tmp_path / "home"
        run = calspot_process(home, "ingest", str(simulated_nights), "--workers", "2", database_url=url)
        deadline = time.monotonic() + 300
        while stored_files(url) == 0 and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.2)
        assert run.poll() is None, "the ingest ended before the server could be stopped"
        server.stop("fast")
        _, err = run.communicate(timeout=300)
        assert run.returncode == 1 and "Traceback" not in err
        assert err.strip().splitlines()[-1].startswith("calspot ingest: the store stopped answering")
        server.restart()
        rerun = calspot_process(home, "ingest", str(simulated_nights), "--workers", "2", database_url=url)
        _, err = rerun.communicate(timeout=600)
        assert rerun.returncode == 0, err
        store = Store.open(make_settings(home, database_url=url))
        found = sum(1 for night in simulated_nights.iterdir() if night.is_dir() for _ in night.iterdir())
        assert every_stored_file_is_complete(store) and stored_files(url) == found and len(store.nights()) == 5
    finally:
        server.remove()
