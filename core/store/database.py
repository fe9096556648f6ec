"""Connecting to the store: engine, sessions, schema creation and version check.

SQLite (a file in the home) is the default: write-ahead logging lets the dashboard
read while an ingest writes, and a busy timeout lets concurrent reviewers' writes
wait for each other instead of failing. Any SQLAlchemy URL (PostgreSQL) works for a
shared deployment.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from .schema import SCHEMA_VERSION, Base, SchemaInfo

SQLITE_BUSY_TIMEOUT_MS = 60_000


class StoreError(RuntimeError):
    """The store cannot be used (wrong schema version, unreachable database)."""


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for the URL; SQLite files get their folder created and WAL switched on."""
    if url.startswith("sqlite"):
        database = url.split("///", 1)[-1]
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def open_database(url: str) -> sessionmaker[Session]:
    """Connect, create the tables of a new store, and check the schema version of an old one.

    Raises
    ------
    StoreError
        The store was written by a calspot with another schema version.
    """
    engine = make_engine(url)
    if not inspect(engine).has_table(SchemaInfo.__tablename__):
        Base.metadata.create_all(engine)
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory.begin() as session:
        info = session.scalars(select(SchemaInfo).order_by(SchemaInfo.id.desc())).first()
        if info is None:
            Base.metadata.create_all(engine)
            session.add(SchemaInfo(version=SCHEMA_VERSION))
        elif info.version != SCHEMA_VERSION:
            raise StoreError(
                f"the store at {engine.url.render_as_string(hide_password=True)} has schema version "
                f"{info.version}; this calspot reads version {SCHEMA_VERSION}"
            )
    return factory


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed together, or rolled back on any error."""
    with factory.begin() as session:
        yield session
