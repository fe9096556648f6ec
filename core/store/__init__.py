"""The store: files, images, descriptors, quality numbers, scores, runs, labels, maps, clusterings, certifications, models, reviewers.

:class:`Store` is the one door to the database; its parts live in one module per
family of tables (``files``, ``scores``, ``images``, ``reports``, ``labels``,
``analytics``, ``certifications``, ``models``, ``reviewers``), the records it takes and gives in ``records``, the tables in
``schema``, and the upgrade of older stores in ``migrate``. SQLite in the home by
default; any SQLAlchemy URL by configuration.
"""

from __future__ import annotations

from .database import open_database, transaction, upgrade_database
from .errors import StoreError
from .migrate import Upgrade
from .records import (
    HEADER_TYPE_KEYWORD,
    VERDICTS,
    CertifiedChange,
    ImageRow,
    JudgedImage,
    NewFile,
    NewImage,
    NewScore,
    StoredClustering,
    StoredImage,
    StoredMap,
    StoredModel,
    pack_array,
    pack_preview,
    pack_profiles,
    unpack_array,
    unpack_preview,
    unpack_profiles,
)
from .schema import HEAD_REVISION, SCHEMA_VERSION
from .store import Store
from .transfer import Transfer, copy_store

__all__ = [
    "HEADER_TYPE_KEYWORD",
    "HEAD_REVISION",
    "SCHEMA_VERSION",
    "VERDICTS",
    "CertifiedChange",
    "ImageRow",
    "JudgedImage",
    "NewFile",
    "NewImage",
    "NewScore",
    "Store",
    "StoreError",
    "StoredClustering",
    "StoredImage",
    "StoredMap",
    "StoredModel",
    "Transfer",
    "Upgrade",
    "copy_store",
    "open_database",
    "pack_array",
    "pack_preview",
    "pack_profiles",
    "transaction",
    "unpack_array",
    "unpack_preview",
    "unpack_profiles",
    "upgrade_database",
]
