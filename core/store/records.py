"""What goes into the store and what comes out of it: plain records and compact arrays.

The records are what the rest of calspot speaks (``NewFile`` in, ``StoredImage`` and
``ImageRow`` out), so that no caller ever holds an ORM row. Arrays travel as numpy's
own binary formats (``.npy``, compressed ``.npz``), read back with pickling refused:
a stored blob can never run code.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

# ESO's data-product type says what a frame is in the words experts use (``LAMP,FLAT``).
HEADER_TYPE_KEYWORD = "HIERARCH ESO DPR TYPE"


def pack_profiles(profiles: Mapping[str, np.ndarray]) -> bytes | None:
    """Serialise named 1-D arrays (compressed ``.npz``), as float32."""
    if not profiles:
        return None
    return _npz({k: np.asarray(v, np.float32) for k, v in profiles.items()})


def _npz(arrays: Mapping[str, np.ndarray]) -> bytes:
    """Named arrays as compressed ``.npz`` bytes, each in its own dtype."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def unpack_profiles(blob: bytes | None) -> dict[str, np.ndarray]:
    """Inverse of :func:`pack_profiles`."""
    if not blob:
        return {}
    with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
        return {k: archive[k] for k in archive.files}


# Largest offset a float16 holds with room to spare (its maximum is 65504).
PREVIEW_OFFSET_LIMIT = 60000.0


def pack_preview(picture: np.ndarray | None) -> bytes | None:
    """Serialise a preview compactly: float16 offsets from its median, in a unit that cannot overflow.

    Stored as float16 (earlier calspots widened them to float32 before compressing: the
    same values, a fifth more bytes and five times the time to compress).

    The offsets are stored in units of ``scale`` ADU, 1 unless the picture spans more than
    a float16 holds (frames of large values: 32-bit cameras, co-added or float images),
    so that a bright frame keeps its picture instead of turning into infinities. Non-finite
    pixels stay NaN.
    """
    if picture is None:
        return None
    values = np.asarray(picture, np.float64)
    finite = np.isfinite(values)
    median = float(np.median(values[finite])) if finite.any() else 0.0
    offsets = np.where(finite, values - median, np.nan)
    span = float(np.nanmax(np.abs(offsets))) if finite.any() else 0.0
    scale = max(1.0, span / PREVIEW_OFFSET_LIMIT)
    return _npz({"offsets": (offsets / scale).astype(np.float16), "median": np.float32([median]), "scale": np.float32([scale])})


def unpack_preview(blob: bytes | None) -> np.ndarray | None:
    """Inverse of :func:`pack_preview` (float32 ADU; previews stored before the scale have a scale of 1)."""
    if not blob:
        return None
    with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
        scale = float(archive["scale"][0]) if "scale" in archive.files else 1.0
        return (archive["offsets"].astype(np.float64) * scale + float(archive["median"][0])).astype(np.float32)


def pack_array(array: np.ndarray) -> bytes:
    """Serialise one array as ``.npy`` bytes (its dtype and shape kept, no pickle)."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def unpack_array(blob: bytes) -> np.ndarray:
    """Inverse of :func:`pack_array`; refuses object arrays."""
    return np.load(io.BytesIO(blob), allow_pickle=False)


@dataclass
class NewImage:
    """An image extension ready to be stored."""

    ext: int
    extname: str
    shape: tuple[int, int]
    instrument: str
    arm: str
    category: str
    label: str
    mode: str
    image_type: str
    night: str
    date_obs: datetime | None
    exptime: float | None
    header: dict[str, Any]
    problems: list[str]
    thumbnail: bytes | None
    metrics: dict[str, float] | None
    profiles: dict[str, np.ndarray]
    descriptor: np.ndarray | None
    preview: np.ndarray | None = None


@dataclass
class NewFile:
    """A described file ready to be stored (``error`` set when unreadable)."""

    path: str
    content_hash: str
    size: int
    night: str
    error: str | None
    images: list[NewImage] = field(default_factory=list)


@dataclass
class NewScore:
    """A detector's result for one image."""

    image_id: int
    score: float | None
    threshold: float | None
    flagged: bool
    reference: str
    reasons: list[str]
    details: dict[str, Any]
    difference: bytes | None = None


@dataclass
class StoredImage:
    """An image as the detector sees it: identity, descriptor, quality numbers, verdicts."""

    image_id: int
    file_id: int
    path: str
    ext: int
    shape: tuple[int, int]
    instrument: str
    image_type: str
    category: str
    header_type: str
    mode: str
    night: str
    date_obs: datetime | None
    problems: list[str]
    duplicate_of: str | None
    descriptor: np.ndarray | None
    metrics: dict[str, float]
    profiles: dict[str, np.ndarray]
    verdict: str | None = None
    flagged: bool | None = None


@dataclass(frozen=True)
class ImageRow:
    """A light row of one image for maps, lists and histories: no metrics, profiles or descriptor.

    ``score``, ``threshold``, ``flagged``, ``reasons`` and ``model_version`` are those
    of the image's latest score (None, None, None, [] and "" before it is scored);
    ``verdict`` is its latest expert verdict.
    """

    image_id: int
    file_id: int
    path: str
    ext: int
    night: str
    date_obs: datetime | None
    instrument: str
    arm: str
    image_type: str
    mode: str
    category: str
    header_type: str
    shape: tuple[int, int]
    score: float | None
    threshold: float | None
    flagged: bool | None
    verdict: str | None
    reasons: list[str]
    model_version: str


@dataclass(frozen=True)
class StoredMap:
    """2-D coordinates of a set of images (a UMAP, t-SNE or PCA map), as computed once and stored.

    ``image_ids[i]`` sits at ``coordinates[i]``. ``key`` names what the map depends on
    (the set of images, method, parameters, embedder fingerprint); ``scope`` what it
    shows (a night, an instrument's history), so that the newest map of a scope can
    be found without knowing its key.
    """

    key: str
    scope: str
    method: str
    params: dict[str, Any]
    fingerprint: str
    image_ids: np.ndarray
    coordinates: np.ndarray
    created_at: datetime


@dataclass(frozen=True)
class StoredClustering:
    """Cluster labels of a set of images, as computed once and stored.

    ``image_ids[i]`` belongs to cluster ``labels[i]``; ``names`` gives each cluster
    the name it was given afterwards (the majority image type of its frames).
    """

    key: str
    scope: str
    method: str
    params: dict[str, Any]
    fingerprint: str
    image_ids: np.ndarray
    labels: np.ndarray
    names: dict[int, str]
    created_at: datetime


@dataclass(frozen=True)
class CertifiedChange:
    """An expert's word that, for one image type and mode, the frames from ``night`` on are the new normal."""

    certification_id: int
    image_type: str
    mode: str
    night: str
    reviewer: str
    note: str
    created_at: datetime


@dataclass(frozen=True)
class StoredModel:
    """A trained model as the store keeps it.

    ``version`` names it (``bad-frames-3``); ``kind`` says what it does; ``counts``
    what it learnt from; ``metrics`` how well it does (cross-validated where it
    says so); ``parameters`` its numbers (plain JSON); ``weights_file`` a file in
    the home's model folder (relative to it) with its SHA-256, for a network.
    """

    model_id: int
    version: str
    kind: str
    trained_by: str
    active: bool
    counts: dict[str, Any]
    metrics: dict[str, Any]
    parameters: dict[str, Any]
    weights_file: str | None
    weights_sha256: str | None
    created_at: datetime


@dataclass(frozen=True)
class JudgedImage:
    """An image with an expert's latest verdict and its latest score: one example to learn from.

    ``score`` and ``threshold`` are the unsupervised detector's (None when the image was
    not scored against a reference), ``history_threshold`` what the reference's own
    scores called for before the detector's floor; ``z`` its calibrated z-scores by
    feature name.
    """

    image_id: int
    image_type: str
    mode: str
    category: str
    instrument: str
    night: str
    verdict: str
    reviewer: str
    score: float | None
    threshold: float | None
    history_threshold: float | None
    z: dict[str, float]
