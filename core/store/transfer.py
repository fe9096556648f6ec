"""Moving a store to another database (``calspot migrate-store --to URL``): every row, ids kept, counts compared.

A team that started on the home's SQLite file moves to the site's PostgreSQL server
this way. The source is first brought to this calspot's schema (a SQLite file is
backed up on the way, as on every upgrade), the target is created at the same
schema, and every table is copied in the order its foreign keys need, rows in id
order and in chunks, in one transaction on the target: a failed copy leaves the
target empty. Ids are kept (verdicts, scores and maps refer to them), and
PostgreSQL's id sequences are moved past the copied rows. The target must hold no
calspot rows yet; writers of the source (the ingest's cron, the dashboard) should be
stopped meanwhile, and the counts of every table are compared at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, Table, func, insert, select, text
from sqlalchemy.exc import SQLAlchemyError

from .database import make_engine
from .errors import StoreError
from .migrate import ensure_schema
from .schema import Base

CHUNK_ROWS = 500
# Written by each database's own migrations, never copied.
OWN_TABLES = ("schema_info", "alembic_version")

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class TableCount:
    """Rows of one table in the source and in the target after the copy."""

    table: str
    source: int
    target: int


@dataclass
class Transfer:
    """What ``migrate-store`` copied: the stores (passwords hidden) and every table's counts."""

    source: str
    target: str
    tables: list[TableCount] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Whether every table holds as many rows in the target as in the source."""
        return all(t.source == t.target for t in self.tables)

    def describe(self) -> list[str]:
        """One line per table, then the verdict, for the command line."""
        width = max((len(t.table) for t in self.tables), default=5)
        lines = [f"{'table':{width}}  {'source':>9}  {'target':>9}"]
        lines += [f"{t.table:{width}}  {t.source:9d}  {t.target:9d}{'' if t.source == t.target else '  DIFFERENT'}" for t in self.tables]
        rows = sum(t.target for t in self.tables)
        if self.complete:
            lines.append(f"copied {rows} rows of {len(self.tables)} tables from {self.source} to {self.target}: every count matches")
        else:
            lines.append(f"the counts differ: was the source written to during the copy? {self.target} is not complete")
        return lines


def copy_store(source_url: str, target_url: str, progress: Progress | None = None) -> Transfer:
    """Copy every row of the store at ``source_url`` into the empty store at ``target_url``.

    Raises
    ------
    StoreError
        A store cannot be opened or upgraded, the target already holds calspot rows,
        or the copy failed (the target is then left without the copied rows).
    """
    source_engine, target_engine = make_engine(source_url), make_engine(target_url)
    transfer = Transfer(_name(source_engine), _name(target_engine))
    tables = [t for t in Base.metadata.sorted_tables if t.name not in OWN_TABLES]
    try:
        ensure_schema(source_engine)
        ensure_schema(target_engine)
        with target_engine.connect() as target:
            held = {t.name: n for t in tables if (n := target.execute(select(func.count()).select_from(t)).scalar_one())}
        if held:
            raise StoreError(
                f"the store at {transfer.target} already holds rows ({', '.join(f'{n} {t}' for t, n in held.items())}): "
                "migrate-store copies into an empty database only"
            )
        with source_engine.connect() as source, target_engine.begin() as target:
            for table in tables:
                _copy_table(source, target, table, progress)
            move_sequences(target, tables)
        with source_engine.connect() as source, target_engine.connect() as target:
            for table in tables:
                counted = select(func.count()).select_from(table)
                transfer.tables.append(TableCount(table.name, source.execute(counted).scalar_one(), target.execute(counted).scalar_one()))
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StoreError(f"could not copy the store from {transfer.source} to {transfer.target}: {reason}") from exc
    finally:
        source_engine.dispose()
        target_engine.dispose()
    return transfer


def _copy_table(source: Connection, target: Connection, table: Table, progress: Progress | None) -> None:
    """Copy one table's rows in id order, a chunk at a time."""
    total = source.execute(select(func.count()).select_from(table)).scalar_one()
    done, last = 0, None
    while True:
        query = select(table).order_by(table.c.id).limit(CHUNK_ROWS)
        if last is not None:
            query = query.where(table.c.id > last)
        rows = [dict(row._mapping) for row in source.execute(query)]
        if not rows:
            break
        target.execute(insert(table), rows)
        done, last = done + len(rows), rows[-1]["id"]
        if progress:
            progress(table.name, done, total)


def move_sequences(connection: Connection, tables: Sequence[Table]) -> None:
    """Let PostgreSQL's next ids follow rows written with their ids (nothing to do elsewhere)."""
    if connection.dialect.name != "postgresql":
        return
    for table in tables:
        sequence = f"pg_get_serial_sequence('{table.name}', 'id')"
        connection.execute(text(f"SELECT setval({sequence}, COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM {table.name}"))


def _name(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)
