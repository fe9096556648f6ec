"""Reviewer accounts: name, role, scrypt hash of the password or the identity provider's user (schema version 5).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

VERSION = 5
_schema_info = sa.table("schema_info", sa.column("version", sa.Integer), sa.column("created_at", sa.DateTime(timezone=True)))


def upgrade() -> None:
    op.create_table(
        "reviewers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("identity", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", name="uq_reviewers_name"),
    )
    op.create_index("ix_reviewers_identity", "reviewers", ["identity"])
    op.bulk_insert(_schema_info, [{"version": VERSION, "created_at": datetime.now(UTC)}])


def downgrade() -> None:
    op.drop_index("ix_reviewers_identity", table_name="reviewers")
    op.drop_table("reviewers")
    op.execute(_schema_info.delete().where(_schema_info.c.version == VERSION))
