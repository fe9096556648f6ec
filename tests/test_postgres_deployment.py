"""A shared deployment on a real PostgreSQL server: ingest, score, report, label, train and the dashboard.

The same three tiny simulated nights as ``tests.test_verdict_loop`` are ingested into
a database on the test PostgreSQL server (``tests.postgres_server``), and what a user
sees of them must be what the SQLite home shows.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.config import load_settings
from core.pipeline import ingest
from core.store import Store, copy_store
from tests.conftest import FILLED_FLAGGED_FILE, FILLED_NIGHT, fill_store
from tests.pipeline_fixtures import TEST_INPUT_SIZE, make_settings
from tests.test_cli_train import raw_of, review_middle_night
from tests.test_verdict_loop import calspot, report, scored_home

__all__ = ["scored_home"]  # the fixture this module uses

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
COMPARED = ("path", "ext", "image_type", "mode", "flagged", "reasons", "reference")


@pytest.fixture(scope="module")
def postgres_home(scored_home, postgres, tmp_path_factory, embedder) -> tuple[Path, str]:
    """The nights of ``scored_home`` ingested by the pipeline into a PostgreSQL store; the home and its URL."""
    source, _ = scored_home
    url = postgres.create_database()
    settings = make_settings(tmp_path_factory.mktemp("postgres") / "home", database_url=url)
    ingest([source.parent / "raw"], settings, store=Store.open(settings), embedder=embedder)
    return settings.home, url


@pytest.fixture
def on_postgres(postgres_home, postgres, monkeypatch) -> Path:
    """A private PostgreSQL copy of ``postgres_home`` (copied by ``copy_store``), set for the command line."""
    home, url = postgres_home
    copy = postgres.create_database()
    assert copy_store(url, copy).complete
    monkeypatch.setenv("CALSPOT_DATABASE_URL", copy)
    monkeypatch.setenv("CALSPOT_WEIGHTS", "random")
    monkeypatch.setenv("CALSPOT_INPUT_SIZE", str(TEST_INPUT_SIZE))
    monkeypatch.setenv("CALSPOT_WORKERS", "1")
    return home


def shown(rows: list[dict]) -> list[tuple]:
    """What a report row shows, the score to six digits, in a stable order."""
    return sorted(((*(r[c] for c in COMPARED), None if r["score"] is None else round(r["score"], 6)) for r in rows), key=str)


def test_an_ingest_into_postgresql_flags_what_the_sqlite_home_flags(scored_home, on_postgres, capsys, monkeypatch):
    sqlite_home, nights = scored_home
    on_postgres_rows = {night: report(capsys, on_postgres, night) for night in nights}
    monkeypatch.delenv("CALSPOT_DATABASE_URL")
    for night in nights:
        expected = report(capsys, sqlite_home, night)
        assert expected and shown(on_postgres_rows[night]) == shown(expected)
    assert any(r["flagged"] for r in on_postgres_rows[nights[-1]])


def test_label_train_and_report_on_postgresql(scored_home, on_postgres, capsys):
    _, (_, middle, last) = scored_home
    assert review_middle_night(capsys, on_postgres, raw_of(scored_home), middle) > 0
    out = calspot(capsys, on_postgres, "train", "--by", "ana")
    assert "trained bad-frames-1 (active)" in out and "rescored 3 nights with the new models" in out
    rows = [r for r in report(capsys, on_postgres, last) if r["ext"] is not None]
    assert rows and all(r["model_version"].endswith("|bad-frames-1+image-types-1") for r in rows)
    judged = [r for r in report(capsys, on_postgres, middle) if r["verdict"]]
    assert judged and {r["verdict"] for r in judged} == {"accept", "reject"}
    assert "* bad-frames-1" in calspot(capsys, on_postgres, "models")


def test_a_verdict_given_in_the_dashboard_is_kept_in_postgresql(postgres, tmp_path, monkeypatch):
    url = postgres.create_database()
    home = tmp_path / "home"
    monkeypatch.setenv("CALSPOT_HOME", str(home))
    monkeypatch.setenv("CALSPOT_DATABASE_URL", url)
    fill_store(Store.open(load_settings(home)), tmp_path / "raw")
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception, [e.value for e in at.exception]
    assert FILLED_FLAGGED_FILE in at.selectbox(key="frame").value
    at.text_input(key="reviewer").input("Ana")
    at.button(key="verdict_reject").click().run()
    assert not at.exception and "recorded for Ana" in at.success[0].value
    [label] = Store(url).labels()
    assert (label.verdict, label.reviewer) == ("reject", "Ana")
    assert not (home / "calspot.sqlite").exists()
    restarted = AppTest.from_file(APP, default_timeout=30).run()
    assert restarted.dataframe(key="night_table").value["verdict"][0] == "✗"
    assert FILLED_NIGHT in restarted.selectbox(key="night").value


def test_a_sqlite_home_moves_to_postgresql_and_back_with_every_row(filled_home, postgres, tmp_path, capsys):
    from core.cli import main

    target = postgres.create_database()
    assert main(["migrate-store", "--to", target]) == 0
    out = capsys.readouterr().out
    assert "every count matches" in out and f'set database_url = "{target}"' in out
    moved, original = Store(target), Store.open(load_settings(filled_home))
    assert [(r.path, r.ext, r.flagged, r.score) for r in moved.image_rows()] == [
        (r.path, r.ext, r.flagged, r.score) for r in original.image_rows()
    ]
    moved.add_label(original.image_rows()[0].path, 0, "accept", "ana")  # ids continue after the copied rows
    back = f"sqlite:///{tmp_path / 'back.sqlite'}"
    transfer = copy_store(target, back)
    assert transfer.complete and {t.table: t.target for t in transfer.tables}["labels"] == 1
    assert main(["migrate-store", "--to", target]) == 1
    assert "already holds rows" in capsys.readouterr().err
