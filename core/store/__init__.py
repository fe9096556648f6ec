"""The store: files, images, descriptors, quality numbers, scores, runs, labels, maps, clusterings, certifications, models, reviewers.

:class:`Store` is the one door to the database; its parts live in one module per
family of tables (``files``, ``scores``, ``images``, ``reports``, ``labels``,
``analytics``, ``certifications``, ``models``, ``reviewers``), the records it takes and gives in ``records``, the tables in
``schema``, and the upgrade of older stores in ``migrate``. SQLite in the home by
default; any SQLAlchemy URL by configuration. The hot reads and the verdict write
are plain SQL in ``direct``, which the short commands use without SQLAlchemy.

The names are handed on when first used, so that ``from core.store import
DirectStore`` does not import SQLAlchemy and numpy.
"""

from __future__ import annotations

import importlib
from typing import Any

# Each name, and the module of this package that defines it.
_HOMES = {
    "DirectStore": "direct",
    "HEADER_TYPE_KEYWORD": "records",
    "HEAD_REVISION": "constants",
    "SCHEMA_VERSION": "constants",
    "VERDICTS": "constants",
    "CertifiedChange": "records",
    "ImageRow": "records",
    "JudgedImage": "records",
    "NewFile": "records",
    "NewImage": "records",
    "NewScore": "records",
    "Store": "store",
    "store_for": "store",
    "StoreError": "errors",
    "StoredClustering": "records",
    "StoredImage": "records",
    "StoredMap": "records",
    "StoredModel": "records",
    "Transfer": "transfer",
    "Upgrade": "migrate",
    "copy_store": "transfer",
    "open_database": "database",
    "pack_array": "records",
    "pack_preview": "records",
    "pack_profiles": "records",
    "transaction": "database",
    "unpack_array": "records",
    "unpack_preview": "records",
    "unpack_profiles": "records",
    "upgrade_database": "database",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
