"""The store's one error: what a user is told, in one line, when the store cannot be used."""

from __future__ import annotations


class StoreError(RuntimeError):
    """The store cannot be used (a schema this calspot does not read, a failed upgrade, an unreachable database)."""
