"""Bringing a store to this calspot's schema: Alembic revisions, run once, after a backup.

Opening a store checks its schema in two cheap queries (Alembic is imported only when
there is something to do):

- a new, empty database is created at the newest revision;
- a store of an older schema is upgraded in place: a store of calspot from before
  Alembic (``schema_info`` version 1, no ``alembic_version``) is first stamped with
  revision ``0001``; a SQLite file is first copied next to itself
  (``calspot.sqlite.backup-<revision>-<UTC time>``) with SQLite's backup API;
- a store of a newer schema (a revision this calspot does not know) is refused with a
  one-line :class:`StoreError`, and so is a ``schema_info`` version it does not read.

The check, the backup and the upgrade happen under the database's write lock
(``BEGIN IMMEDIATE`` on SQLite, a transaction-level advisory lock on PostgreSQL), in
one transaction: of two processes opening an old store at once, one upgrades it and
the other waits and finds it done; a failed upgrade leaves the store as it was.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from .constants import HEAD_REVISION, SCHEMA_VERSION
from .errors import StoreError

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
RELEASED_REVISION = "0001"  # the schema of calspot before Alembic: schema_info version 1
# Any fixed 64-bit number: the key of PostgreSQL's advisory lock held while a store is upgraded.
POSTGRES_LOCK_KEY = 0x63616C73706F74


@dataclass(frozen=True)
class SchemaState:
    """What a store says about its schema.

    Its Alembic revision and latest ``schema_info`` version (None where it has none),
    whether it has no tables at all, and whether it has calspot's ``schema_info``.
    """

    revision: str | None
    version: int | None
    empty: bool
    calspot: bool


@dataclass(frozen=True)
class Upgrade:
    """What opening (or ``calspot upgrade``) did to a store's schema.

    ``before`` is None for a store created now; ``backup`` the copy made first, if any.
    """

    store: str
    before: str | None
    after: str
    backup: Path | None = None

    @property
    def changed(self) -> bool:
        """Whether the store was created or upgraded."""
        return self.before != self.after

    def describe(self) -> str:
        """One line saying what was done, for a log or the command line."""
        after = f"schema {_version(self.after)}"
        if self.before is None:
            return f"created the store at {self.store} at {after}"
        if not self.changed:
            return f"the store at {self.store} is at {after}, the newest this calspot knows: nothing to do"
        saved = f"backup: {self.backup}" if self.backup else "no backup made: back up a database server with its tools"
        return f"upgraded the store at {self.store} from schema {_version(self.before)} to {after} ({saved})"


def ensure_schema(engine: Engine) -> Upgrade:
    """Bring the store behind ``engine`` to this calspot's schema, if it is not there yet.

    Raises
    ------
    StoreError
        The store has a schema this calspot does not know (written by a newer
        calspot), or the upgrade failed (the store is then left as it was).
    """
    store = engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect() as connection:
            state = read_state(connection)
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot read the store at {store}: {_reason(exc)}") from exc
    if state.revision == HEAD_REVISION:
        _check_version(store, state)
        return Upgrade(store, HEAD_REVISION, HEAD_REVISION)
    try:
        with _write_lock(engine) as connection:
            return _upgrade(engine, connection, store)
    except SQLAlchemyError as exc:
        raise StoreError(f"could not bring the store at {store} to schema {SCHEMA_VERSION}: {_reason(exc)}") from exc


def read_state(connection: Connection) -> SchemaState:
    """What the store behind a connection says about its schema."""
    tables = set(inspect(connection).get_table_names())
    revision = version = None
    if "alembic_version" in tables:
        revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    if "schema_info" in tables:
        version = connection.execute(text("SELECT version FROM schema_info ORDER BY id DESC LIMIT 1")).scalar()
    return SchemaState(revision, version, empty=not tables, calspot="schema_info" in tables)


def alembic_config(url: str | None = None, connection: Connection | None = None):
    """Alembic's configuration for calspot's migrations, on a connection or a URL."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def known_revisions() -> list[str]:
    """The revisions this calspot ships, oldest first."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS))
    return [s.revision for s in reversed(list(script.walk_revisions()))]


def _upgrade(engine: Engine, connection: Connection, store: str) -> Upgrade:
    from alembic import command

    state = read_state(connection)  # again, under the lock: another process may have upgraded meanwhile
    config = alembic_config(connection=connection)
    if state.empty:
        command.upgrade(config, "head")
        return Upgrade(store, None, HEAD_REVISION)
    if state.revision is None:
        if not state.calspot:
            raise StoreError(f"the database at {store} holds tables but no calspot store (no schema_info table); use another")
        if state.version not in (None, 1):  # an empty schema_info: released calspot stopped before writing it
            _refuse_version(store, state.version)
        before = RELEASED_REVISION
    else:
        if state.revision not in known_revisions():
            raise StoreError(
                f"the store at {store} has schema revision {state.revision!r}, which this calspot does not know "
                f"(it reads schema {SCHEMA_VERSION}): it was written by a newer calspot; upgrade calspot to use it"
            )
        before = state.revision
    if before == HEAD_REVISION:
        _check_version(store, state)
        return Upgrade(store, before, before)
    backup = _backup_sqlite(engine, before)
    if state.revision is None:
        command.stamp(config, RELEASED_REVISION)
    command.upgrade(config, "head")
    return Upgrade(store, before, HEAD_REVISION, backup)


@contextmanager
def _write_lock(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that holds the store's write lock until it commits."""
    with engine.connect() as connection:
        if engine.dialect.name != "sqlite":
            with connection.begin():
                if engine.dialect.name == "postgresql":
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": POSTGRES_LOCK_KEY})
                yield connection
            return
        # pysqlite opens transactions lazily and never before DDL: take the lock ourselves, so that
        # the check, the backup and every revision happen in one transaction while no one else writes.
        connection.execution_options(isolation_level="AUTOCOMMIT")
        driver = connection.connection.driver_connection
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            if driver.in_transaction:
                connection.exec_driver_sql("ROLLBACK")
            raise
        connection.exec_driver_sql("COMMIT")


def _backup_sqlite(engine: Engine, revision: str) -> Path | None:
    """Copy a SQLite store file next to itself with SQLite's backup API (None for other stores)."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    source_path = Path(database)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = source_path.with_name(f"{source_path.name}.backup-{revision}-{stamp}")
    source = sqlite3.connect(source_path)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        copy.close()
        source.close()
    return target


def _check_version(store: str, state: SchemaState) -> None:
    if state.version is not None and state.version != SCHEMA_VERSION:
        _refuse_version(store, state.version)


def _refuse_version(store: str, version: int | None) -> None:
    raise StoreError(f"the store at {store} has schema version {version}; this calspot reads version {SCHEMA_VERSION}")


def _reason(exc: SQLAlchemyError) -> str:
    """The database's own words, in one line."""
    return str(exc.orig if getattr(exc, "orig", None) is not None else exc).strip().splitlines()[0]


def _version(revision: str) -> int:
    return int(revision)
