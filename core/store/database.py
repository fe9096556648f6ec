"""Connecting to the store: engine, sessions, and a schema this calspot reads.

SQLite (a file in the home) is the default: write-ahead logging lets the dashboard
read while an ingest writes, and a busy timeout lets concurrent reviewers' writes
wait for each other instead of failing. Any SQLAlchemy URL (PostgreSQL) works for a
shared deployment. Opening a store creates a new one or upgrades an old one
(:mod:`core.store.migrate`), saying so in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from .errors import StoreError
from .migrate import Upgrade, ensure_schema

__all__ = ["StoreError", "driver_url", "make_engine", "open_database", "transaction", "upgrade_database"]

SQLITE_BUSY_TIMEOUT_MS = 60_000
# Pages a connection keeps between queries: SQLite's default of 2 MiB holds little of a
# store of years, whose samples of history look up images spread over all of it.
SQLITE_CACHE_KIB = 65_536
log = logging.getLogger("core.store")


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cursor.close()


def driver_url(url: str) -> str:
    """The URL with the driver calspot ships for its database: psycopg 3 for PostgreSQL.

    ``postgresql://`` alone would make SQLAlchemy look for psycopg2, which calspot
    does not install; a URL that names its driver is kept as it is.
    """
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme) :]
    return url


def make_engine(url: str) -> Engine:
    """An engine for the URL; SQLite files get their folder created and WAL switched on."""
    url = driver_url(url)
    if url.startswith("sqlite"):
        database = url.split("///", 1)[-1]
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def open_database(url: str) -> sessionmaker[Session]:
    """Connect, and create a new store or bring an old one to this calspot's schema.

    An upgrade is logged as one warning line that names the backup.

    Raises
    ------
    StoreError
        The store has a schema this calspot does not read, or could not be upgraded.
    """
    engine = make_engine(url)
    done = ensure_schema(engine)
    if done.changed and done.before is not None:
        log.warning(done.describe())
    elif done.changed:
        log.info(done.describe())
    return sessionmaker(engine, expire_on_commit=False)


def upgrade_database(url: str) -> Upgrade:
    """Bring the store at ``url`` to this calspot's schema now, and say what was done (``calspot upgrade``)."""
    engine = make_engine(url)
    try:
        return ensure_schema(engine)
    finally:
        engine.dispose()


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed together, or rolled back on any error."""
    with factory.begin() as session:
        yield session
