"""Maps and clusterings, and the indexes the analytics pages read through (schema version 2).

``maps`` and ``clusterings`` hold what is computed once per set of images, method,
parameters and embedder; ``ix_images_instrument_type`` serves the per-type summaries
and the samples of a type's history.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

VERSION = 2
_schema_info = sa.table("schema_info", sa.column("version", sa.Integer), sa.column("created_at", sa.DateTime(timezone=True)))


def upgrade() -> None:
    for table, array in (("maps", "coordinates"), ("clusterings", "labels")):
        op.create_table(
            table,
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("key", sa.String(length=200), nullable=False),
            sa.Column("scope", sa.String(length=200), nullable=False),
            sa.Column("method", sa.String(length=32), nullable=False),
            sa.Column("params", sa.JSON(), nullable=False),
            sa.Column("fingerprint", sa.String(length=200), nullable=False),
            sa.Column("images", sa.Integer(), nullable=False),
            sa.Column("image_ids", sa.LargeBinary(), nullable=False),
            sa.Column(array, sa.LargeBinary(), nullable=False),
            *([sa.Column("names", sa.JSON(), nullable=False)] if table == "clusterings" else []),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("key", name=f"uq_{table}_key"),
        )
        op.create_index(f"ix_{table}_scope", table, ["scope", "method", "fingerprint", "id"])
    op.create_index("ix_images_instrument_type", "images", ["instrument", "image_type", "mode", "night", "category"])
    op.bulk_insert(_schema_info, [{"version": VERSION, "created_at": datetime.now(UTC)}])


def downgrade() -> None:
    op.drop_index("ix_images_instrument_type", table_name="images")
    for table in ("clusterings", "maps"):
        op.drop_index(f"ix_{table}_scope", table_name=table)
        op.drop_table(table)
    op.execute(_schema_info.delete().where(_schema_info.c.version == VERSION))
