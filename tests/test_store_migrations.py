"""Stores of older calspot are upgraded in place, once, after a backup; newer ones are refused.

``tests/data/stores/calspot-schema1.sqlite`` was written by calspot as released before
Alembic (schema version 1), ``calspot-schema2.sqlite`` by the release that added maps
and clusterings (schema version 2; see the README there): these tests open copies of
them with today's code.
"""

from __future__ import annotations

import logging
import multiprocessing
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from core.cli import main
from core.store import HEAD_REVISION, SCHEMA_VERSION, Store, StoreError, upgrade_database
from core.store.migrate import alembic_config, known_revisions
from core.store.schema import Base
from tests.conftest import FILLED_EARLIER_NIGHT, FILLED_FLAGGED_FILE, FILLED_NIGHT, FILLED_REASONS, FILLED_UNREADABLE_FILE

OLD_STORE = Path(__file__).parent / "data" / "stores" / "calspot-schema1.sqlite"
SCHEMA2_STORE = Path(__file__).parent / "data" / "stores" / "calspot-schema2.sqlite"
EVERY_VERSION = list(range(1, SCHEMA_VERSION + 1))
OLD_TABLES = ("runs", "files", "images", "descriptors", "quality", "scores", "labels")


def old_home(tmp_path: Path, name: str = "home") -> Path:
    """A home holding a copy of the released calspot's store; returns the store file."""
    database = tmp_path / name / "calspot.sqlite"
    database.parent.mkdir(parents=True)
    shutil.copy(OLD_STORE, database)
    return database


def url(database: Path) -> str:
    return f"sqlite:///{database}"


def query(database: Path, sql: str) -> list[tuple]:
    connection = sqlite3.connect(database)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def row_counts(database: Path) -> dict[str, int]:
    return {table: query(database, f"SELECT count(*) FROM {table}")[0][0] for table in OLD_TABLES}


def backups(database: Path) -> list[Path]:
    return sorted(database.parent.glob(f"{database.name}.backup-*"))


def describe_schema(database_url: str) -> dict:
    """Tables, columns, indexes, unique and foreign keys, as the database reports them."""
    engine = create_engine(database_url)
    inspector = inspect(engine)
    schema = {
        table: (
            [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
            sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes(table)),
            sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)),
            sorted((tuple(f["constrained_columns"]), f["referred_table"]) for f in inspector.get_foreign_keys(table)),
        )
        for table in inspector.get_table_names()
        if table != "alembic_version"
    }
    engine.dispose()
    return schema


def test_an_old_store_is_upgraded_in_place_after_a_backup_and_keeps_every_row(tmp_path, caplog):
    database = old_home(tmp_path)
    before = row_counts(database)
    with caplog.at_level(logging.WARNING, logger="core.store"):
        store = Store(url(database))
    [backup] = backups(database)
    assert backup.name.startswith("calspot.sqlite.backup-0001-")
    [message] = [r.getMessage() for r in caplog.records if r.name == "core.store"]
    assert message.startswith("upgraded the store at ") and f"from schema 1 to schema {SCHEMA_VERSION}" in message
    assert f"(backup: {backup})" in message and "\n" not in message

    assert row_counts(database) == before
    assert row_counts(backup) == before and query(backup, "SELECT max(version) FROM schema_info") == [(1,)]
    assert "alembic_version" not in {name for (name,) in query(backup, "SELECT name FROM sqlite_master")}
    labels = {(label.verdict, label.reviewer, label.note) for label in store.labels()}
    assert labels == {("reject", "ana", "bias level jumped"), ("reject", "ben", "truncated transfer")}
    [flagged] = [row for row in store.image_rows(night=FILLED_NIGHT) if row.flagged]
    assert Path(flagged.path).name == FILLED_FLAGGED_FILE
    assert flagged.reasons == FILLED_REASONS and flagged.verdict == "reject"
    unreadable = next(r for r in store.night_rows(FILLED_NIGHT) if Path(r["path"]).name == FILLED_UNREADABLE_FILE)
    assert unreadable["verdict"] == "reject"

    assert {"maps", "clusterings"} <= set(inspect(create_engine(url(database))).get_table_names())
    store.save_map("m", "night:" + FILLED_NIGHT, "pca", {}, "test", [flagged.image_id], np.zeros((1, 2)))
    assert store.stored_map("m").image_ids.tolist() == [flagged.image_id]
    assert query(database, "SELECT version_num FROM alembic_version") == [(HEAD_REVISION,)]
    assert [v for (v,) in query(database, "SELECT version FROM schema_info ORDER BY id")] == EVERY_VERSION

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="core.store"):
        Store(url(database))
    assert not [r for r in caplog.records if r.name == "core.store"]
    assert backups(database) == [backup]
    assert [v for (v,) in query(database, "SELECT version FROM schema_info ORDER BY id")] == EVERY_VERSION


def test_a_store_of_schema_two_keeps_its_maps_and_verdicts_and_gains_certifications(tmp_path):
    database = tmp_path / "home" / "calspot.sqlite"
    database.parent.mkdir()
    shutil.copy(SCHEMA2_STORE, database)
    store = Store(url(database))
    assert len(backups(database)) == 1
    assert query(database, "SELECT version_num FROM alembic_version") == [(HEAD_REVISION,)]
    assert [v for (v,) in query(database, "SELECT version FROM schema_info ORDER BY id")] == EVERY_VERSION
    stored = store.stored_map("night-map")
    assert stored.method == "pca" and len(stored.image_ids) == len(store.image_rows(night=FILLED_NIGHT))
    assert {(label.verdict, label.reviewer) for label in store.labels()} == {("reject", "ana"), ("reject", "ben")}
    [flagged] = [row for row in store.image_rows(night=FILLED_NIGHT) if row.flagged]
    store.certify(flagged.image_type, flagged.mode, FILLED_NIGHT, "ana", "new bias level after the CCD warm-up")
    assert [c.reviewer for c in store.certifications(flagged.image_type, flagged.mode)] == ["ana"]


def test_an_upgraded_store_knows_the_nights_of_its_types_and_samples_them(tmp_path):
    database = old_home(tmp_path)
    store = Store(url(database))
    stored = query(database, "SELECT DISTINCT image_type, mode, night, instrument FROM images ORDER BY 1, 2, 3, 4")
    assert stored and query(database, "SELECT image_type, mode, night, instrument FROM type_nights ORDER BY 1, 2, 3, 4") == stored
    [(fingerprint,)] = query(database, "SELECT DISTINCT fingerprint FROM descriptors")
    sample = store.sample_image_ids(fingerprint, before=FILLED_NIGHT, per_group=5)
    assert sample and {r.night for r in store.image_rows(sample)} == {FILLED_EARLIER_NIGHT}


def test_the_command_line_says_in_one_line_that_it_upgraded_the_store(tmp_path):
    database = old_home(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "core", "--home", str(database.parent), "nights"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    [backup] = backups(database)
    assert done.stderr.splitlines() == [
        f"WARNING core.store: upgraded the store at {url(database)} from schema 1 to schema {SCHEMA_VERSION} (backup: {backup})"
    ]
    assert FILLED_NIGHT in done.stdout


def test_calspot_upgrade_upgrades_an_old_store_and_then_has_nothing_to_do(tmp_path, capsys):
    database = old_home(tmp_path)
    assert main(["--home", str(database.parent), "upgrade"]) == 0
    [backup] = backups(database)
    out = capsys.readouterr().out
    assert out == f"upgraded the store at {url(database)} from schema 1 to schema {SCHEMA_VERSION} (backup: {backup})\n"
    assert main(["--home", str(database.parent), "upgrade"]) == 0
    assert f"is at schema {SCHEMA_VERSION}" in capsys.readouterr().out and backups(database) == [backup]


def test_a_store_from_a_newer_calspot_is_refused_in_one_line(tmp_path, capsys):
    database = tmp_path / "home" / "calspot.sqlite"
    Store(url(database))
    query_connection = sqlite3.connect(database)
    query_connection.execute("UPDATE alembic_version SET version_num = '0099_future'")
    query_connection.commit()
    query_connection.close()
    with pytest.raises(StoreError) as refused:
        Store(url(database))
    message = str(refused.value)
    assert "\n" not in message and "'0099_future'" in message and "newer calspot" in message
    assert main(["--home", str(database.parent), "report"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "newer calspot" in err and "Traceback" not in err
    assert query(database, "SELECT version_num FROM alembic_version") == [("0099_future",)] and not backups(database)


def test_a_store_without_alembic_of_an_unknown_version_is_refused(tmp_path):
    database = old_home(tmp_path)
    query_connection = sqlite3.connect(database)
    query_connection.execute("UPDATE schema_info SET version = 7")
    query_connection.commit()
    query_connection.close()
    with pytest.raises(StoreError, match=f"has schema version 7; this calspot reads version {SCHEMA_VERSION}"):
        Store(url(database))
    assert not backups(database)


def test_a_failed_upgrade_leaves_the_store_as_it_was(tmp_path):
    database = old_home(tmp_path)
    query_connection = sqlite3.connect(database)
    query_connection.execute("CREATE TABLE maps (id INTEGER PRIMARY KEY, something TEXT)")  # in revision 2's way
    query_connection.commit()
    query_connection.close()
    with pytest.raises(StoreError) as failed:
        Store(url(database))
    assert "\n" not in str(failed.value) and "could not bring the store" in str(failed.value)
    tables = {name for (name,) in query(database, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "alembic_version" not in tables and "clusterings" not in tables
    assert query(database, "SELECT max(version) FROM schema_info") == [(1,)]
    assert row_counts(database) == row_counts(OLD_STORE)


def _open_store(store_url: str, barrier, results) -> None:
    barrier.wait()
    results.put(len(Store(store_url).image_rows()))


def open_at_once(store_url: str, processes: int = 2) -> tuple[list[int], list[int]]:
    """Open the store from ``processes`` processes at the same moment: the images each saw, and their exit codes."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(processes), context.Queue()
    started = [context.Process(target=_open_store, args=(store_url, barrier, results)) for _ in range(processes)]
    for process in started:
        process.start()
    images = [results.get(timeout=300) for _ in started]
    for process in started:
        process.join(timeout=60)
    return images, [p.exitcode for p in started]


def test_two_processes_opening_an_old_store_at_once_upgrade_it_once(tmp_path):
    database = old_home(tmp_path)
    images, exits = open_at_once(url(database))
    assert images == [6, 6] and exits == [0, 0]
    assert len(backups(database)) == 1
    assert [v for (v,) in query(database, "SELECT version FROM schema_info ORDER BY id")] == EVERY_VERSION
    assert query(database, "SELECT version_num FROM alembic_version") == [(HEAD_REVISION,)]


def test_a_new_store_is_created_at_the_newest_schema_without_a_backup(tmp_path):
    database = tmp_path / "home" / "calspot.sqlite"
    done = upgrade_database(url(database))
    assert done.before is None and done.after == HEAD_REVISION and done.describe().startswith("created the store")
    assert query(database, "SELECT version_num FROM alembic_version") == [(HEAD_REVISION,)]
    assert not backups(database)


def test_the_revisions_build_exactly_the_tables_the_code_describes(tmp_path):
    assert known_revisions()[0] == "0001" and known_revisions()[-1] == HEAD_REVISION == f"{SCHEMA_VERSION:04d}"
    engine = create_engine(url(tmp_path / "new.sqlite"))
    Store(str(engine.url))
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    upgraded = old_home(tmp_path)
    Store(url(upgraded))
    assert describe_schema(url(upgraded)) == describe_schema(str(engine.url))


def test_revision_one_is_the_released_schema_and_revision_two_goes_back_to_it(tmp_path):
    released = describe_schema(url(OLD_STORE))
    engine = create_engine(url(tmp_path / "rev1.sqlite"))
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection=connection), "0001")
    assert describe_schema(str(engine.url)) == released
    database = old_home(tmp_path)
    Store(url(database))
    engine = create_engine(url(database))
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection=connection), "0001")
    assert describe_schema(url(database)) == released
    assert query(database, "SELECT max(version) FROM schema_info") == [(1,)]
    assert row_counts(database) == row_counts(OLD_STORE)
