"""A PostgreSQL store of an older calspot is upgraded by the same Alembic revisions as a SQLite one, once.

Calspot before Alembic created its tables at the released schema (revision ``0001``
reproduces it) without Alembic's own table; the store here is that schema on the
test PostgreSQL server holding the rows of ``tests/data/stores/calspot-schema1.sqlite``.
"""

from __future__ import annotations

import logging

from alembic import command
from sqlalchemy import MetaData, create_engine, insert, select, text

from core.store import HEAD_REVISION, Store
from core.store.database import driver_url
from core.store.migrate import alembic_config
from core.store.transfer import move_sequences
from tests.conftest import FILLED_FLAGGED_FILE, FILLED_NIGHT, FILLED_REASONS
from tests.test_store_migrations import EVERY_VERSION, OLD_STORE, OLD_TABLES, describe_schema, open_at_once, row_counts


def released_store(postgres) -> str:
    """A database at the released schema, without ``alembic_version``, holding the released store's rows."""
    url = postgres.create_database()
    engine = create_engine(driver_url(url))
    old = create_engine(f"sqlite:///{OLD_STORE}")
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection=connection), "0001")
        connection.execute(text("DROP TABLE alembic_version"))
        connection.execute(text("DELETE FROM schema_info"))
    source, target = MetaData(), MetaData()
    source.reflect(old)
    target.reflect(engine)
    with old.connect() as read, engine.begin() as write:
        for table in source.sorted_tables:
            rows = [dict(row._mapping) for row in read.execute(select(table))]
            if rows:
                write.execute(insert(target.tables[table.name]), rows)
        move_sequences(write, target.sorted_tables)
    engine.dispose()
    old.dispose()
    return url


def counts(url: str) -> dict[str, int]:
    engine = create_engine(driver_url(url))
    with engine.connect() as connection:
        found = {table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() for table in OLD_TABLES}
    engine.dispose()
    return found


def schema_versions(url: str) -> tuple[list[int], list[str]]:
    engine = create_engine(driver_url(url))
    with engine.connect() as connection:
        versions = [v for (v,) in connection.execute(text("SELECT version FROM schema_info ORDER BY id"))]
        revisions = [r for (r,) in connection.execute(text("SELECT version_num FROM alembic_version"))]
    engine.dispose()
    return versions, revisions


def test_an_old_postgresql_store_is_upgraded_in_place_and_keeps_every_row(postgres, caplog):
    url = released_store(postgres)
    assert counts(url) == row_counts(OLD_STORE)
    with caplog.at_level(logging.WARNING, logger="core.store"):
        store = Store(url)
    [message] = [r.getMessage() for r in caplog.records if r.name == "core.store"]
    assert "from schema 1 to schema" in message and "no backup made: back up a database server with its tools" in message
    assert counts(url) == row_counts(OLD_STORE)
    assert schema_versions(url) == (EVERY_VERSION, [HEAD_REVISION])
    [flagged] = [row for row in store.image_rows(night=FILLED_NIGHT) if row.flagged]
    assert flagged.path.endswith(FILLED_FLAGGED_FILE) and flagged.reasons == FILLED_REASONS and flagged.verdict == "reject"
    store.add_label(flagged.path, flagged.ext, "accept", "carla", "the jump was the new controller")
    assert store.labels()[-1].reviewer == "carla"  # new rows take ids after the old ones
    fresh = postgres.create_database()
    Store(fresh)
    assert describe_schema(driver_url(url)) == describe_schema(driver_url(fresh))


def test_two_processes_opening_an_old_postgresql_store_at_once_upgrade_it_once(postgres):
    url = released_store(postgres)
    images, exits = open_at_once(url)
    assert images == [6, 6] and exits == [0, 0]
    assert schema_versions(url) == (EVERY_VERSION, [HEAD_REVISION])
