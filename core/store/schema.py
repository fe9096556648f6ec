"""The tables of the store.

Everything expensive is keyed by what it depends on: descriptors by (content hash,
extension, embedder fingerprint), quality numbers by (content hash, extension, QC
version). Scores and labels are append-only: a new row supersedes an older one,
nothing is overwritten, and every label says who, when, and which model version
showed the flag. Maps and clusterings are keyed by the set of images, the method, its
parameters and the embedder fingerprint; their arrays are stored as ``.npy`` bytes.
Certifications (an expert's "new normal from this night on" for a type and mode) are
append-only too. The nights of each image type and mode are kept apart (``type_nights``),
so that a sample of ten years of a type reads a few thousand rows, not its images.
Trained models are rows of plain numbers (JSON) and, for a network, a weights file in
the home that the row names with its SHA-256; one model per kind is active. Reviewer
accounts keep a role and only a scrypt hash of a password (or the identity provider's
user that logs in as them); they are disabled, never deleted.

These classes describe the newest schema. A store made by an older calspot is brought
here by the Alembic revisions in ``migrations/versions`` (see :mod:`core.store.migrate`);
a change of these tables needs a new revision there, and ``SCHEMA_VERSION`` and
``HEAD_REVISION`` (in :mod:`core.store.constants`) moved on with it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    """Timezone-aware now in UTC (stored as UTC)."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of calspot's tables."""


class SchemaInfo(Base):
    """The schema versions a store has had, newest last (calspot before Alembic read only this)."""

    __tablename__ = "schema_info"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Run(Base):
    """One command that changed the store (an ingest, a re-score, a training)."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    command: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="running")
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    counts: Mapped[dict] = mapped_column(JSON, default=dict)


class File(Base):
    """A raw file as found on disk: one row per (path, content)."""

    __tablename__ = "files"
    __table_args__ = (UniqueConstraint("path", "content_hash"), Index("ix_files_hash", "content_hash"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(Text, index=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    night: Mapped[str] = mapped_column(String(10), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("files.id"))
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    ingested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    images: Mapped[list[Image]] = relationship(back_populates="file", order_by="Image.ext")


class Image(Base):
    """One 2-D image extension of a file, with what its header says it is."""

    __tablename__ = "images"
    __table_args__ = (
        UniqueConstraint("file_id", "ext"),
        Index("ix_images_type_night", "image_type", "mode", "night", "id"),
        Index("ix_images_instrument_type", "instrument", "image_type", "mode", "night", "category", "id"),
        Index("ix_images_instrument_night", "instrument", "night"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("files.id"))
    ext: Mapped[int] = mapped_column(Integer)
    extname: Mapped[str] = mapped_column(String(68), default="")
    ny: Mapped[int] = mapped_column(Integer)
    nx: Mapped[int] = mapped_column(Integer)
    instrument: Mapped[str] = mapped_column(String(64))
    arm: Mapped[str] = mapped_column(String(32), default="")
    category: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(32))
    mode: Mapped[str] = mapped_column(String(200), default="")
    image_type: Mapped[str] = mapped_column(String(160))
    night: Mapped[str] = mapped_column(String(10), index=True)
    date_obs: Mapped[datetime | None] = mapped_column(DateTime)
    exptime: Mapped[float | None] = mapped_column(Float)
    header: Mapped[dict] = mapped_column(JSON, default=dict)
    problems: Mapped[list] = mapped_column(JSON, default=list)
    thumbnail: Mapped[bytes | None] = mapped_column(LargeBinary)

    file: Mapped[File] = relationship(back_populates="images")


class TypeNight(Base):
    """A night on which an instrument's image type and mode has images: a type's nights without reading its images.

    Written with the images (:meth:`core.store.Store.save_files`), never removed: the
    samples of a type's history spread over its nights read them here, a few thousand
    rows for ten years, instead of the type's hundred thousand images.
    """

    __tablename__ = "type_nights"
    __table_args__ = (UniqueConstraint("image_type", "mode", "night", "instrument", name="uq_type_nights"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_type: Mapped[str] = mapped_column(String(160))
    mode: Mapped[str] = mapped_column(String(200))
    night: Mapped[str] = mapped_column(String(10))
    instrument: Mapped[str] = mapped_column(String(64))


class Descriptor(Base):
    """An embedder's descriptor of one image extension of one file content."""

    __tablename__ = "descriptors"
    __table_args__ = (UniqueConstraint("content_hash", "ext", "fingerprint"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    ext: Mapped[int] = mapped_column(Integer)
    fingerprint: Mapped[str] = mapped_column(String(200))
    vector: Mapped[bytes] = mapped_column(LargeBinary)


class Quality(Base):
    """Physical quality numbers (and 1-D profiles) of one image extension of one file content."""

    __tablename__ = "quality"
    __table_args__ = (UniqueConstraint("content_hash", "ext", "qc_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    ext: Mapped[int] = mapped_column(Integer)
    qc_version: Mapped[str] = mapped_column(String(32))
    metrics: Mapped[dict] = mapped_column(JSON)
    profiles: Mapped[bytes | None] = mapped_column(LargeBinary)
    preview: Mapped[bytes | None] = mapped_column(LargeBinary)


class Score(Base):
    """A detector's verdict on an image: score, threshold, flag and reasons (append-only)."""

    __tablename__ = "scores"
    __table_args__ = (Index("ix_scores_image", "image_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id"))
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    model_version: Mapped[str] = mapped_column(String(300))
    score: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    flagged: Mapped[bool] = mapped_column(Boolean)
    reference: Mapped[str] = mapped_column(String(16))
    reasons: Mapped[list] = mapped_column(JSON, default=list)
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    difference: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Label(Base):
    """An expert's verdict on an image (or on an unreadable file); append-only."""

    __tablename__ = "labels"
    __table_args__ = (Index("ix_labels_image", "image_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("files.id"))
    image_id: Mapped[int | None] = mapped_column(ForeignKey("images.id"))
    verdict: Mapped[str] = mapped_column(String(16))
    reviewer: Mapped[str] = mapped_column(String(120))
    note: Mapped[str] = mapped_column(Text, default="")
    model_version: Mapped[str] = mapped_column(String(300), default="")
    score_id: Mapped[int | None] = mapped_column(ForeignKey("scores.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Map(Base):
    """2-D coordinates of a set of images by one method (UMAP, t-SNE, PCA), computed once."""

    __tablename__ = "maps"
    __table_args__ = (
        UniqueConstraint("key", name="uq_maps_key"),
        Index("ix_maps_scope", "scope", "method", "fingerprint", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    fingerprint: Mapped[str] = mapped_column(String(200))
    images: Mapped[int] = mapped_column(Integer)
    image_ids: Mapped[bytes] = mapped_column(LargeBinary)
    coordinates: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Clustering(Base):
    """Cluster labels of a set of images by one method, and the clusters' names, computed once."""

    __tablename__ = "clusterings"
    __table_args__ = (
        UniqueConstraint("key", name="uq_clusterings_key"),
        Index("ix_clusterings_scope", "scope", "method", "fingerprint", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    fingerprint: Mapped[str] = mapped_column(String(200))
    images: Mapped[int] = mapped_column(Integer)
    image_ids: Mapped[bytes] = mapped_column(LargeBinary)
    labels: Mapped[bytes] = mapped_column(LargeBinary)
    names: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Certification(Base):
    """An expert's word that, for one image type and mode, the frames from a night on are the new normal."""

    __tablename__ = "certifications"
    __table_args__ = (Index("ix_certifications_type", "image_type", "mode", "night"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_type: Mapped[str] = mapped_column(String(160))
    mode: Mapped[str] = mapped_column(String(200), default="")
    night: Mapped[str] = mapped_column(String(10))
    reviewer: Mapped[str] = mapped_column(String(120))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Model(Base):
    """A model trained on the experts' verdicts: its numbers, what it learnt from, how well it does."""

    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("version", name="uq_models_version"), Index("ix_models_kind", "kind", "active"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    trained_by: Mapped[str] = mapped_column(String(120))
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    counts: Mapped[dict] = mapped_column(JSON, default=dict)
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)
    parameters: Mapped[dict] = mapped_column(JSON, default=dict)
    weights_file: Mapped[str | None] = mapped_column(String(200))
    weights_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReviewerAccount(Base):
    """A reviewer who may log in: name (what verdicts carry), role, password hash or provider identity."""

    __tablename__ = "reviewers"
    __table_args__ = (UniqueConstraint("name", name="uq_reviewers_name"), Index("ix_reviewers_identity", "identity"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    identity: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    last_failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
