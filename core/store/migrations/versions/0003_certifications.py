"""Certified changes: an expert's "new normal from this night on" per image type and mode (schema version 3).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

VERSION = 3
_schema_info = sa.table("schema_info", sa.column("version", sa.Integer), sa.column("created_at", sa.DateTime(timezone=True)))


def upgrade() -> None:
    op.create_table(
        "certifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("image_type", sa.String(length=160), nullable=False),
        sa.Column("mode", sa.String(length=200), nullable=False),
        sa.Column("night", sa.String(length=10), nullable=False),
        sa.Column("reviewer", sa.String(length=120), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_certifications_type", "certifications", ["image_type", "mode", "night"])
    op.bulk_insert(_schema_info, [{"version": VERSION, "created_at": datetime.now(UTC)}])


def downgrade() -> None:
    op.drop_index("ix_certifications_type", table_name="certifications")
    op.drop_table("certifications")
    op.execute(_schema_info.delete().where(_schema_info.c.version == VERSION))
