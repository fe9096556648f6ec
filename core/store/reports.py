"""What the morning report reads: the nights, their counts, and the rows of one night.

The report and the dashboard's Night page read the same rows, so that what the CLI
prints and what the page shows never disagree; the statements are those of
:mod:`core.store.direct`, which the short commands run without SQLAlchemy.
"""

from __future__ import annotations

from typing import Any

from . import direct
from .queries import StorePart, session_sql


class ReportsPart(StorePart):
    """The store as the report reads it."""

    def nights(self) -> list[str]:
        """Every night with files, oldest first."""
        with self._sessions() as session:
            return direct.stored_nights(session_sql(session))

    def night_counts(self) -> list[dict[str, Any]]:
        """Per night, newest first: images, flagged images (latest score), unreadable files (which count as flagged)."""
        with self._sessions() as session:
            return direct.night_counts(session_sql(session))

    def night_rows(self, night: str) -> list[dict[str, Any]]:
        """One row per image extension of a night (one per unreadable file), with its latest score.

        The rows carry what the report and the dashboard show: path, ext, identity,
        score, threshold, flag, reasons, details, thumbnail and latest verdict.
        """
        with self._sessions() as session:
            return direct.night_rows(session_sql(session), night)
