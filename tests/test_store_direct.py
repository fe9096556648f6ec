"""The short commands' store without SQLAlchemy: the rows and verdicts of the Store, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from core.store import DirectStore, Store
from core.store.schema import SchemaInfo
from tests.conftest import FILLED_FLAGGED_FILE, FILLED_MODEL_VERSION, FILLED_NIGHT, FILLED_UNREADABLE_FILE, fill_store


@pytest.fixture
def filled(store_url: str, tmp_path: Path) -> Store:
    store = Store(store_url)
    fill_store(store, tmp_path / "raw")
    return store


def flagged_path(tmp_path: Path) -> Path:
    return tmp_path / "raw" / FILLED_NIGHT / FILLED_FLAGGED_FILE


def test_the_direct_reads_give_what_the_store_gives(filled: Store, tmp_path: Path) -> None:
    filled.add_label(flagged_path(tmp_path), 0, "reject", "ana")
    filled.add_label(tmp_path / "raw" / FILLED_NIGHT / FILLED_UNREADABLE_FILE, None, "reject", "ana")
    direct = DirectStore.open(filled.url)
    assert direct is not None
    assert direct.nights() == filled.nights() and len(direct.nights()) == 2
    assert direct.night_counts() == filled.night_counts()
    rows = direct.night_rows(FILLED_NIGHT)
    assert rows == filled.night_rows(FILLED_NIGHT)
    by_file = {(Path(row["path"]).name, row["ext"]): row for row in rows}
    flagged = by_file[(FILLED_FLAGGED_FILE, 0)]
    assert flagged["flagged"] is True and flagged["verdict"] == "reject" and flagged["model_version"] == FILLED_MODEL_VERSION
    assert isinstance(flagged["details"], dict) and flagged["thumbnail"][:4] == b"\x89PNG"
    unreadable = by_file[(FILLED_UNREADABLE_FILE, None)]
    assert unreadable["flagged"] is True and unreadable["verdict"] == "reject" and unreadable["reasons"][0].startswith("unreadable:")
    direct.close()


def test_a_verdict_written_directly_counts_as_the_latest_and_names_the_model_version(filled: Store, tmp_path: Path) -> None:
    path = flagged_path(tmp_path)
    filled.add_label(path, 0, "reject", "ana")
    direct = DirectStore.open(filled.url)
    before = datetime.now(UTC)
    label_id = direct.add_label(path, 0, "accept", "ben", "a cosmic ray, the frame is fine")
    latest = filled.labels()[-1]
    assert latest.id == label_id and latest.verdict == "accept" and latest.reviewer == "ben"
    assert latest.note == "a cosmic ray, the frame is fine" and latest.model_version == FILLED_MODEL_VERSION and latest.score_id is not None
    stamped = latest.created_at.replace(tzinfo=latest.created_at.tzinfo or UTC)
    assert before - timedelta(seconds=1) <= stamped <= datetime.now(UTC) + timedelta(seconds=1)
    assert filled.verdict_records()[-1]["verdict"] == "accept"
    assert {(Path(r["path"]).name, r["ext"]): r["verdict"] for r in filled.night_rows(FILLED_NIGHT)}[(FILLED_FLAGGED_FILE, 0)] == "accept"
    direct.close()


def test_refused_verdicts_say_why_and_store_nothing(filled: Store, tmp_path: Path) -> None:
    path = flagged_path(tmp_path)
    direct = DirectStore.open(filled.url)
    outcomes = direct.add_labels(
        [
            (tmp_path / "nowhere.fits", 0, "accept", "ana", ""),
            (path, None, "accept", "ana", ""),
            (path, 7, "accept", "ana", ""),
            (path, 0, "maybe", "ana", ""),
            (path, 0, "accept", " ", ""),
            (path, 0, "reject", "ana", ""),
        ]
    )
    assert "is not in the store" in outcomes[0] and "say which image extension (0)" in outcomes[1]
    assert "has no image extension 7 (it has: 0)" in outcomes[2] and "verdict must be one of accept, reject" in outcomes[3]
    assert "reviewer's name" in outcomes[4] and isinstance(outcomes[5], int)
    assert [label.verdict for label in filled.labels()] == ["reject"]
    with pytest.raises(KeyError, match="ingest it first"):
        direct.add_label(tmp_path / "nowhere.fits", 0, "accept", "ana")
    assert len(filled.labels()) == 1
    direct.close()


def test_only_a_store_at_this_schema_is_opened_directly(tmp_path: Path) -> None:
    missing = tmp_path / "none" / "calspot.sqlite"
    assert DirectStore.open(f"sqlite:///{missing}") is None and not missing.exists()
    assert DirectStore.open("mysql://calspot@localhost/calspot") is None
    store = Store(f"sqlite:///{tmp_path / 'calspot.sqlite'}")
    assert DirectStore.open(store.url) is not None
    with store._sessions.begin() as session:
        session.execute(update(SchemaInfo).values(version=999))
    assert DirectStore.open(store.url) is None
