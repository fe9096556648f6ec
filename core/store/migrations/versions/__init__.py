"""The revisions, oldest first (Alembic reads these files itself)."""
