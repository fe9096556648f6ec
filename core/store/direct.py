"""The store's hot reads and the verdict write in plain SQL, through the database's own driver.

Scripts call ``calspot nights``, ``report`` and ``label`` once per frame or per night,
hundreds of times a morning, and importing SQLAlchemy's ORM alone costs most of a
second. These few statements therefore go straight through the DB-API connection
(:mod:`sqlite3`, or psycopg for PostgreSQL): :class:`DirectStore` opens one without
SQLAlchemy for those commands, and :class:`core.store.Store` runs the very same
functions on its session's connection, so that the report, the dashboard's Night page
and a verdict written either way never disagree.

Only a store already at this calspot's schema is opened directly; a new or older one
goes through :class:`core.store.Store`, which creates or upgrades it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..accounts import Reviewer
from .constants import HEAD_REVISION, SCHEMA_VERSION, VERDICTS

SQLITE_BUSY_TIMEOUT_S = 60.0
# How SQLAlchemy writes a DateTime into SQLite (and reads it back).
SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"


class Sql:
    """A DB-API connection and its dialect: statements written with ``?`` placeholders run on either database."""

    def __init__(self, connection: Any, dialect: str) -> None:
        self.connection = connection
        self.dialect = dialect

    @property
    def sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def rows(self, statement: str, params: tuple = ()) -> list[tuple]:
        """Every row the statement gives."""
        cursor = self.connection.cursor()
        try:
            cursor.execute(statement if self.sqlite else statement.replace("?", "%s"), params)
            return list(cursor.fetchall()) if cursor.description else []
        finally:
            cursor.close()

    def first(self, statement: str, params: tuple = ()) -> tuple | None:
        """The first row, or None."""
        found = self.rows(statement, params)
        return found[0] if found else None

    def json(self, value: Any) -> Any:
        """A JSON column's value: SQLite keeps the text, psycopg hands it decoded."""
        return json.loads(value) if self.sqlite and isinstance(value, str) else value

    def timestamp(self, value: Any) -> datetime | None:
        """A DateTime column's value: SQLite keeps SQLAlchemy's text, psycopg hands a datetime."""
        if value is None or isinstance(value, datetime):
            return value
        return datetime.fromisoformat(value)

    def now(self) -> Any:
        """Now in UTC, as a timezone-aware DateTime column takes it."""
        now = datetime.now(UTC)
        return now.strftime(SQLITE_DATETIME) if self.sqlite else now


class DirectStore:
    """The store for ``nights``, ``report`` and ``label`` without SQLAlchemy (the same methods as :class:`core.store.Store`).

    Use :meth:`open`; it gives None where the store must go through
    :class:`core.store.Store` instead.
    """

    def __init__(self, sql: Sql, url: str) -> None:
        self._sql = sql
        self.url = url

    @classmethod
    def open(cls, url: str) -> DirectStore | None:
        """The store at ``url`` opened directly, or None: no such store yet, another schema, or a driver calspot does not ship."""
        sql = _connect(url)
        if sql is None:
            return None
        try:
            revision = sql.first("SELECT version_num FROM alembic_version")
            version = sql.first("SELECT version FROM schema_info ORDER BY id DESC LIMIT 1")
        except Exception:  # no such tables: a new or pre-Alembic store, for Store to create or upgrade
            revision = None
        if revision != (HEAD_REVISION,) or version not in (None, (SCHEMA_VERSION,)):
            sql.connection.close()
            return None
        return cls(sql, url)

    def close(self) -> None:
        """Close the connection."""
        self._sql.connection.close()

    def nights(self) -> list[str]:
        """Every night with files, oldest first."""
        return stored_nights(self._sql)

    def night_counts(self) -> list[dict[str, Any]]:
        """Per night, newest first: images, flagged images, unreadable files."""
        return night_counts(self._sql)

    def night_rows(self, night: str) -> list[dict[str, Any]]:
        """One row per image extension of a night (see :meth:`core.store.Store.night_rows`)."""
        return night_rows(self._sql, night)

    def reviewer(self, name: str) -> Reviewer | None:
        """The account of this name (case does not matter), or None."""
        return reviewer_account(self._sql, name)

    def add_label(self, path: str | Path, ext: int | None, verdict: str, reviewer: str, note: str = "") -> int:
        """Append an expert's verdict (see :meth:`core.store.Store.add_label`); its label id."""
        with self._transaction():
            return add_label(self._sql, path, ext, verdict, reviewer, note)

    def add_labels(self, verdicts: Sequence[tuple[str | Path, int | None, str, str, str]]) -> list[int | str]:
        """Append many verdicts in one transaction; each stored label's id, or why it was refused."""
        out: list[int | str] = []
        with self._transaction():
            for path, ext, verdict, reviewer, note in verdicts:
                try:  # a refused verdict is refused before it writes anything
                    out.append(add_label(self._sql, path, ext, verdict, reviewer, note))
                except (KeyError, ValueError) as exc:
                    out.append(str(exc.args[0] if exc.args else exc))
        return out

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """Commit what the block wrote, or roll it all back."""
        try:
            yield
        except BaseException:
            self._sql.connection.rollback()
            raise
        self._sql.connection.commit()


def _connect(url: str) -> Sql | None:
    if url.startswith("sqlite:///"):
        database = url.removeprefix("sqlite:///")
        if not database or database == ":memory:" or not Path(database).is_file():
            return None
        connection = sqlite3.connect(database, timeout=SQLITE_BUSY_TIMEOUT_S)
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute("PRAGMA synchronous=NORMAL")
        return Sql(connection, "sqlite")
    for scheme in ("postgresql://", "postgres://", "postgresql+psycopg://"):
        if url.startswith(scheme):
            import psycopg

            return Sql(psycopg.connect("postgresql://" + url.removeprefix(scheme)), "postgresql")
    return None


# The statements, shared with core.store.Store ---------------------------------------

# Every night with files: from the first, each next one found by one seek of the files' night index.
NIGHTS_BY_SEEKS = (
    "WITH RECURSIVE nights(night) AS ("
    " SELECT min(night) FROM files"
    " UNION ALL"
    " SELECT (SELECT min(f.night) FROM files f WHERE f.night > nights.night) FROM nights WHERE nights.night IS NOT NULL"
    ") SELECT night FROM nights WHERE night IS NOT NULL ORDER BY night"
)


def stored_nights(sql: Sql) -> list[str]:
    """Every night with files, oldest first.

    One seek of the files' night index per night (a loose index scan), not a read of
    every file: a store of years of archive answers as fast as one of a few nights.
    """
    return [night for (night,) in sql.rows(NIGHTS_BY_SEEKS)]


def night_counts(sql: Sql) -> list[dict[str, Any]]:
    """Per night, newest first: images, flagged images (latest score), unreadable files (which count as flagged)."""
    images = sql.rows(
        "SELECT f.night, count(i.id), sum(CASE WHEN s.flagged THEN 1 ELSE 0 END) FROM files f"
        " JOIN images i ON i.file_id = f.id"
        " LEFT JOIN (SELECT image_id, max(id) AS score_id FROM scores GROUP BY image_id) latest ON latest.image_id = i.id"
        " LEFT JOIN scores s ON s.id = latest.score_id"
        " GROUP BY f.night"
    )
    unreadable = sql.rows("SELECT night, count(id) FROM files WHERE error IS NOT NULL GROUP BY night")
    counts = {night: {"night": night, "images": n, "flagged": int(flagged or 0), "unreadable": 0} for night, n, flagged in images}
    for night, n in unreadable:
        row = counts.setdefault(night, {"night": night, "images": 0, "flagged": 0, "unreadable": 0})
        row["unreadable"] = n
        row["flagged"] += n
    return [counts[n] for n in sorted(counts, reverse=True)]


def night_rows(sql: Sql, night: str) -> list[dict[str, Any]]:
    """One row per image extension of a night (one per unreadable file), with its latest score and verdict.

    The rows carry what the report and the dashboard show: path, ext, identity,
    score, threshold, flag, reasons, details, thumbnail and latest verdict.
    """
    of_night = "JOIN images i ON i.id = {}.image_id JOIN files f ON f.id = i.file_id WHERE f.night = ?"
    files = sql.rows("SELECT id, path, error FROM files WHERE night = ? ORDER BY path", (night,))
    images = sql.rows(
        "SELECT i.id, i.file_id, i.ext, i.image_type, i.category, i.mode, i.night, i.thumbnail, i.date_obs, i.exptime"
        " FROM images i JOIN files f ON f.id = i.file_id WHERE f.night = ? ORDER BY f.path, i.ext",
        (night,),
    )
    scores = {
        image_id: rest
        for image_id, *rest in sql.rows(
            "SELECT image_id, score, threshold, flagged, reasons, reference, details, difference, model_version FROM scores"
            f" WHERE id IN (SELECT max(s.id) FROM scores s {of_night.format('s')} GROUP BY s.image_id)",
            (night,),
        )
    }
    verdicts = dict(
        sql.rows(
            f"SELECT image_id, verdict FROM labels WHERE id IN (SELECT max(l.id) FROM labels l {of_night.format('l')} GROUP BY l.image_id)",
            (night,),
        )
    )
    file_verdicts = dict(
        sql.rows(
            "SELECT file_id, verdict FROM labels WHERE id IN (SELECT max(l.id) FROM labels l JOIN files f ON f.id = l.file_id"
            " WHERE f.night = ? AND f.error IS NOT NULL AND l.image_id IS NULL GROUP BY l.file_id)",
            (night,),
        )
    )
    paths = {file_id: path for file_id, path, _ in files}
    rows = [_unreadable_row(night, file_id, path, error, file_verdicts.get(file_id)) for file_id, path, error in files if error]
    for image_id, file_id, ext, image_type, category, mode, image_night, thumbnail, date_obs, exptime in images:
        score = scores.get(image_id)
        value, threshold, flagged, reasons, reference, details, difference, model_version = score or (None,) * 8
        rows.append(
            {
                "path": paths[file_id],
                "ext": ext,
                "image_type": image_type,
                "category": category,
                "mode": mode,
                "night": image_night,
                "score": value,
                "threshold": threshold,
                "flagged": bool(flagged),
                "reasons": list(sql.json(reasons) or []) if score else ["not scored yet"],
                "reference": reference if score else "",
                "details": dict(sql.json(details) or {}) if score else {},
                "image_id": image_id,
                "file_id": file_id,
                "verdict": verdicts.get(image_id),
                "thumbnail": None if thumbnail is None else bytes(thumbnail),
                "difference": None if difference is None else bytes(difference),
                "date_obs": sql.timestamp(date_obs),
                "exptime": exptime,
                "model_version": model_version if score else "",
            }
        )
    return sorted(rows, key=lambda r: (r["path"], -1 if r["ext"] is None else r["ext"]))


def _unreadable_row(night: str, file_id: int, path: str, error: str, verdict: str | None) -> dict[str, Any]:
    return {
        "path": path,
        "ext": None,
        "image_type": "",
        "category": "",
        "mode": "",
        "night": night,
        "score": None,
        "threshold": None,
        "flagged": True,
        "reasons": [f"unreadable: {error}"],
        "reference": "",
        "details": {},
        "image_id": None,
        "file_id": file_id,
        "verdict": verdict,
        "thumbnail": None,
        "difference": None,
        "date_obs": None,
        "exptime": None,
        "model_version": "",
    }


def reviewer_account(sql: Sql, name: str) -> Reviewer | None:
    """The account of this name (case does not matter), or None."""
    found = sql.first(
        "SELECT name, role, active, identity, failed_logins, last_failed_at, created_at, password_hash FROM reviewers"
        " WHERE lower(name) = ?",
        (name.strip().lower(),),
    )
    if found is None:
        return None
    account, role, active, identity, failed, last_failed_at, created_at, password_hash = found
    return Reviewer(
        name=account,
        role=role,
        active=bool(active),
        identity=identity or "",
        failed_logins=failed or 0,
        last_failed_at=_aware(sql.timestamp(last_failed_at)),
        created_at=_aware(sql.timestamp(created_at)),
        has_password=bool(password_hash),
    )


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def add_label(sql: Sql, path: str | Path, ext: int | None, verdict: str, reviewer: str, note: str) -> int:
    """Append one verdict in the connection's open transaction; its label id.

    The label records the model version of the score that was shown. Earlier labels
    stay; the newest one counts.

    Raises
    ------
    KeyError
        No stored image at that path and extension.
    ValueError
        The verdict is not ``accept`` or ``reject``, the reviewer is empty, or a
        readable file was named without its extension.
    """
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, not {verdict!r}")
    if not reviewer.strip():
        raise ValueError("a verdict needs the reviewer's name")
    path = str(Path(path).expanduser().absolute())
    # The file's row is locked until the verdict is committed (PostgreSQL; SQLite has one writer at a time anyway):
    # verdicts on one file are written one after another, so the latest id is also the latest time.
    lock = "" if sql.sqlite else " FOR UPDATE"
    file_row = sql.first(f"SELECT id, error FROM files WHERE path = ? ORDER BY id DESC LIMIT 1{lock}", (path,))
    if file_row is None:
        raise KeyError(f"{path} is not in the store; ingest it first")
    file_id, error = file_row
    image_id = score_id = None
    model_version = ""
    exts = [e for (e,) in sql.rows("SELECT ext FROM images WHERE file_id = ? ORDER BY ext", (file_id,))]
    if ext is None and not error:
        raise ValueError(f"{path} is readable: say which image extension ({', '.join(map(str, exts))})")
    if ext is not None:
        found = sql.first("SELECT id FROM images WHERE file_id = ? AND ext = ?", (file_id, ext))
        if found is None:
            raise KeyError(f"{path} has no image extension {ext} (it has: {', '.join(map(str, exts)) or 'none'})")
        image_id = found[0]
        score = sql.first("SELECT id, model_version FROM scores WHERE image_id = ? ORDER BY id DESC LIMIT 1", (image_id,))
        if score is not None:
            score_id, model_version = score
    (label_id,) = sql.first(
        "INSERT INTO labels (file_id, image_id, verdict, reviewer, note, model_version, score_id, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (file_id, image_id, verdict, reviewer.strip(), note, model_version or "", score_id, sql.now()),
    )
    # Stamped again now that the insert holds the write lock (SQLite) or the file's row (PostgreSQL):
    # of two verdicts on a frame, the one with the higher id, which counts, is also the later one.
    sql.rows("UPDATE labels SET created_at = ? WHERE id = ?", (sql.now(), label_id))
    return label_id
