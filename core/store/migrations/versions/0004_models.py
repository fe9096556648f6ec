"""Trained models: versions, what they learnt from, their metrics, one active per kind (schema version 4).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

VERSION = 4
_schema_info = sa.table("schema_info", sa.column("version", sa.Integer), sa.column("created_at", sa.DateTime(timezone=True)))


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("trained_by", sa.String(length=120), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("weights_file", sa.String(length=200), nullable=True),
        sa.Column("weights_sha256", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("version", name="uq_models_version"),
    )
    op.create_index("ix_models_kind", "models", ["kind", "active"])
    op.bulk_insert(_schema_info, [{"version": VERSION, "created_at": datetime.now(UTC)}])


def downgrade() -> None:
    op.drop_index("ix_models_kind", table_name="models")
    op.drop_table("models")
    op.execute(_schema_info.delete().where(_schema_info.c.version == VERSION))
