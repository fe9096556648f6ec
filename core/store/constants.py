"""What the store's schema and verdicts are called, importable without SQLAlchemy or numpy (see :mod:`core.store.direct`)."""

from __future__ import annotations

SCHEMA_VERSION = 6
# The Alembic revision of this schema; revision "000N" is schema version N.
HEAD_REVISION = f"{SCHEMA_VERSION:04d}"
VERDICTS = ("accept", "reject")
