"""Years of archive: the nights of each image type, and an index of an instrument's nights (schema version 6).

``type_nights`` holds one row per night on which an instrument's image type and mode
has images, filled here from the stored images and kept by every ingest after: the
samples of a type's history that maps and dendrograms draw read a few thousand of
these rows for ten years, instead of the type's hundred thousand images.
``ix_images_instrument_night`` serves "the latest nights of an instrument before this
one" (the examples of the type check that scoring fits every night): a backward seek
from the night instead of a read of every image of the instrument. The two indexes of
a type's images by night (``ix_images_type_night``, ``ix_images_instrument_type``) now
end with the image id, so that PostgreSQL ranks a night's images for a sample from the
index alone, as SQLite (whose indexes hold the row id anyway) always could. With these,
scoring, maps and dendrograms cost the same on a store of a million images as on one of
a thousand.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

VERSION = 6
_schema_info = sa.table("schema_info", sa.column("version", sa.Integer), sa.column("created_at", sa.DateTime(timezone=True)))


# The indexes a type's images are read through, before and after they carry the image ids.
_TYPE_INDEXES = {
    "ix_images_type_night": ["image_type", "mode", "night"],
    "ix_images_instrument_type": ["instrument", "image_type", "mode", "night", "category"],
}


def upgrade() -> None:
    for name, columns in _TYPE_INDEXES.items():
        op.drop_index(name, table_name="images")
        op.create_index(name, "images", [*columns, "id"])
    op.create_index("ix_images_instrument_night", "images", ["instrument", "night"])
    op.create_table(
        "type_nights",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("image_type", sa.String(length=160), nullable=False),
        sa.Column("mode", sa.String(length=200), nullable=False),
        sa.Column("night", sa.String(length=10), nullable=False),
        sa.Column("instrument", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("image_type", "mode", "night", "instrument", name="uq_type_nights"),
    )
    op.execute(
        "INSERT INTO type_nights (image_type, mode, night, instrument)"
        " SELECT DISTINCT image_type, mode, night, instrument FROM images ORDER BY image_type, mode, night, instrument"
    )
    op.bulk_insert(_schema_info, [{"version": VERSION, "created_at": datetime.now(UTC)}])


def downgrade() -> None:
    op.drop_table("type_nights")
    op.drop_index("ix_images_instrument_night", table_name="images")
    for name, columns in _TYPE_INDEXES.items():
        op.drop_index(name, table_name="images")
        op.create_index(name, "images", columns)
    op.execute(_schema_info.delete().where(_schema_info.c.version == VERSION))
