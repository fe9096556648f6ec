"""The night's report: one row per image extension, what the CLI and the dashboard show.

Rows come from the store (latest score of every image, one row per unreadable file).
The CLI formats them as CSV, JSON or a table; the dashboard as a table with
thumbnails. Both read them through this module so that they always agree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .store import DirectStore, Store


def night_report(store: Store | DirectStore, night: str) -> list[dict[str, Any]]:
    """Every image extension of a night with its score, threshold, flag, reasons and explanation.

    Rows are ordered by file path and extension; an unreadable file is one row with
    ``ext`` None, ``flagged`` True and reasons starting with ``unreadable:``.
    """
    return store.night_rows(night)


def night_summaries(store: Store | DirectStore) -> list[dict[str, Any]]:
    """Per night, newest first: images, flagged rows (unreadable files count as flagged), unreadable files."""
    return store.night_counts()
