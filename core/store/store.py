"""The one door to the database: :class:`Store`, made of one part per family of tables.

The parts speak the domain (``save_files``, ``images``, ``night_rows``, ``add_label``,
``sample_image_ids``, ``save_map``, ``certify``, ``add_model``, ``try_login``) so that the rest of calspot never writes SQL.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from ..config import Settings
from .analytics import AnalyticsPart
from .certifications import CertificationsPart
from .database import open_database, transaction
from .files import FilesPart
from .images import ImagesPart
from .labels import LabelsPart
from .models import ModelsPart
from .reports import ReportsPart
from .reviewers import ReviewersPart
from .schema import Run, utcnow
from .scores import ScoresPart


class Store(FilesPart, ScoresPart, ImagesPart, ReportsPart, LabelsPart, AnalyticsPart, CertificationsPart, ModelsPart, ReviewersPart):
    """Calspot's database.

    Parameters
    ----------
    url
        SQLAlchemy URL. A new database gets the newest schema; an older store is
        upgraded in place (a SQLite file after a backup copy), one written by a newer
        calspot is refused with :class:`StoreError`.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._sessions = open_database(url)

    @classmethod
    def open(cls, settings: Settings) -> Store:
        """The store of a home, as configured."""
        return cls(settings.store_url)

    def close(self) -> None:
        """Close the store's database connections (a later query opens new ones).

        A process that goes on after using a store (a notebook, a test, a command run
        in-process) closes it: a SQLite file's connections left open hold its locks
        until garbage collection, and another file handle on the store closed in the
        same process would drop those locks under them.
        """
        self._sessions.kw["bind"].dispose()

    def start_run(self, command: str, settings: Mapping[str, Any]) -> int:
        """Record the start of a command; returns the run id."""
        with transaction(self._sessions) as session:
            run = Run(command=command, settings=dict(settings), status="running")
            session.add(run)
            session.flush()
            return run.id

    def finish_run(self, run_id: int, status: str, counts: Mapping[str, Any]) -> None:
        """Record how a command ended (``done``, ``interrupted``, ``failed``) and what it did."""
        with transaction(self._sessions) as session:
            run = session.get(Run, run_id)
            run.status = status
            run.counts = dict(counts)
            run.finished_at = utcnow()


@contextmanager
def store_for(settings: Settings, store: Store | None = None) -> Iterator[Store]:
    """``store`` when a caller passes one, else the home's store, opened for the call and closed after it."""
    if store is not None:
        yield store
        return
    opened = Store.open(settings)
    try:
        yield opened
    finally:
        opened.close()
