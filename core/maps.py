"""Maps of the descriptors: UMAP, t-SNE and PCA coordinates of frames, computed once and stored.

A map shows an astronomer which frames sit apart and which historic cluster a frame
joins. Three kinds are made, each stored in the store under a key that hashes what it
depends on (its scope, the sorted image ids, the method, its parameters and the
embedder fingerprint), so that a rerun loads it while a new night, a backfilled
history or a new model computes it anew:

- a **night map** (scope ``night:YYYY-MM-DD``): every frame of the night with a sample
  of the history before it (up to ``settings.map_history_per_type`` frames per image
  type and mode), fitted together;
- a **historic map** per instrument (scope ``history:INSTRUMENT``): a sample of the
  instrument's history, fitted once;
- a **placed map** (scope ``placed:INSTRUMENT:YYYY-MM-DD``): a night's frames placed
  into the historic map without refitting it. PCA places them by its exact projection
  (the PCA is fitted again on the historic descriptors: it is deterministic, so it is
  the same projection); UMAP and t-SNE have no projection of their own that survives
  without the fitted model, so each new frame goes to the distance-weighted mean
  position of its nearest historic frames in descriptor space. Only stored arrays are
  needed; no fitted model is ever pickled.

Geometry: descriptors are compared by their angle (cosine), so every descriptor is
scaled to unit length first; Euclidean distances of unit vectors are chords of their
angles. UMAP and t-SNE work on the first :data:`REDUCED_COMPONENTS`-odd principal
components of the unit vectors (the usual denoising step, and much faster on 2048
numbers per frame). Everything is seeded: the same frames and parameters give the same
coordinates (t-SNE starts from the PCA layout and has nothing random left).

UMAP's numerical kernels are compiled by numba once per installation and kept in numba's
cache (see :func:`_umap_estimator`); the nightly ingest computes the maps after scoring
so that the dashboard never waits for them. The numerical libraries use at most ``settings.worker_count``
threads, the home's share of the machine, and one per :data:`FRAMES_PER_THREAD` frames: on
a night's few hundred frames a thread's share of a t-SNE or UMAP iteration is shorter than
its wait for the others, and a second thread only burns a core (a 225-frame t-SNE took
0.6 s of CPU on one thread and 3.9 s on two).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from .config import MAP_METHODS
from .embed import expected_fingerprint

if TYPE_CHECKING:
    from .config import Settings
    from .store import ImageRow, Store, StoredMap

__all__ = [
    "MAP_METHODS",
    "METHOD_NAMES",
    "FrameMap",
    "MapParams",
    "PcaParams",
    "TsneParams",
    "UmapParams",
    "historic_map",
    "map_coordinates",
    "map_key",
    "map_params",
    "night_map",
    "nightly_map_tasks",
    "place_on_map",
    "placed_night_map",
]

METHOD_NAMES = {"umap": "UMAP", "tsne": "t-SNE", "pca": "PCA"}
REDUCED_COMPONENTS = 50
PLACEMENT_NEIGHBOURS = 5
# Below this many frames there is no neighbourhood to embed: the map is their PCA projection.
MIN_EMBEDDED_FRAMES = 4
# Frames per thread of the numerical libraries: fewer, and threads wait for each other more than they work.
FRAMES_PER_THREAD = 2000
# Part of every key: a change to how maps are computed must not load maps computed the old way.
ALGORITHM_VERSION = 1

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class UmapParams:
    """UMAP's parameters: neighbourhood size, how tightly points pack, the seed."""

    n_neighbors: int = 15
    min_dist: float = 0.1
    components: int = REDUCED_COMPONENTS
    seed: int = 0


@dataclass(frozen=True)
class TsneParams:
    """t-SNE's parameters: perplexity (the effective number of neighbours), the seed (unused by the PCA start)."""

    perplexity: float = 30.0
    components: int = REDUCED_COMPONENTS
    seed: int = 0


@dataclass(frozen=True)
class PcaParams:
    """PCA has no parameter but the seed of its randomised solver."""

    seed: int = 0


MapParams = UmapParams | TsneParams | PcaParams
PARAMS: dict[str, type] = {"umap": UmapParams, "tsne": TsneParams, "pca": PcaParams}


def _check_method(method: str) -> None:
    if method not in MAP_METHODS:
        raise ValueError(f"unknown map method {method!r}; known: {', '.join(MAP_METHODS)}")


def map_params(method: str, settings: Settings | None = None) -> MapParams:
    """The default parameters of a method, seeded by ``settings.seed`` (0 without settings)."""
    _check_method(method)
    return PARAMS[method](seed=settings.seed if settings is not None else 0)


def _params_from(method: str, values: Mapping[str, Any]) -> MapParams:
    """Parameters read back from a stored map (keys that are not parameters are ignored)."""
    names = {f.name for f in dataclasses.fields(PARAMS[method])}
    return PARAMS[method](**{k: v for k, v in values.items() if k in names})


def _check_params(method: str, params: MapParams) -> None:
    _check_method(method)
    if not isinstance(params, PARAMS[method]):
        raise TypeError(f"a {METHOD_NAMES[method]} map takes {PARAMS[method].__name__}, not {type(params).__name__}")


def map_key(scope: str, image_ids: Sequence[int], method: str, params: MapParams, fingerprint: str) -> str:
    """The key a map is stored under: a hash of everything its coordinates depend on.

    The image ids are sorted first: the same frames in any order are the same map.
    """
    payload = json.dumps(
        {
            "version": ALGORITHM_VERSION,
            "scope": scope,
            "method": method,
            "params": dataclasses.asdict(params),
            "fingerprint": fingerprint,
        },
        sort_keys=True,
    )
    digest = hashlib.sha256(payload.encode())
    digest.update(np.sort(np.asarray(image_ids, np.int64)).tobytes())
    return digest.hexdigest()


# ----------------------------------------------------------------------------- arrays


def _unit_rows(descriptors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(descriptors, np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def _pca(vectors: np.ndarray, components: int, seed: int):
    from sklearn.decomposition import PCA

    return PCA(n_components=min(components, *vectors.shape), random_state=seed).fit(vectors)


def _projection(vectors: np.ndarray, seed: int) -> np.ndarray:
    """The first two principal components (zero where the frames span fewer dimensions)."""
    out = np.zeros((len(vectors), 2), np.float32)
    if len(vectors) < 2:
        return out
    projected = _pca(vectors, 2, seed).transform(vectors)
    out[:, : projected.shape[1]] = projected
    return out


def map_threads(frames: int, limit: int) -> int:
    """Threads for a map of ``frames`` frames: one per :data:`FRAMES_PER_THREAD`, at least one, at most ``limit``."""
    return max(1, min(limit, frames // FRAMES_PER_THREAD))


def numerical_threads(threads: int | None):
    """A cap on the threads of the numerical libraries (OpenMP, BLAS) while a map is computed or nights are scored, or none."""
    if not threads:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(threads)


def map_coordinates(descriptors: np.ndarray, method: str, params: MapParams | None = None, *, threads: int | None = None) -> np.ndarray:
    """Two-dimensional coordinates of descriptors, by UMAP, t-SNE or PCA.

    Parameters
    ----------
    descriptors
        ``(n, dim)``: one descriptor per frame, any length (they are unit-normalised).
    method
        One of :data:`MAP_METHODS`.
    params
        The method's parameters; its defaults (seed 0) when None.
    threads
        Most threads of the numerical libraries (None: as many as they choose). t-SNE's
        gradient waits for its slowest thread at every step: on a busy machine, more
        threads than free cores make it many times slower.

    Returns
    -------
    numpy.ndarray
        ``(n, 2)`` float32, row for row. With fewer than :data:`MIN_EMBEDDED_FRAMES`
        frames the map is their PCA projection (a single frame sits at the origin).
    """
    params = params if params is not None else map_params(method)
    _check_params(method, params)
    if np.ndim(descriptors) != 2:
        raise ValueError(f"descriptors must be a 2-D array (frames x numbers), not of shape {np.shape(descriptors)}")
    vectors = _unit_rows(descriptors)
    with numerical_threads(threads):
        if method == "pca" or len(vectors) < MIN_EMBEDDED_FRAMES:
            return _projection(vectors, params.seed)
        reduced = _pca(vectors, params.components, params.seed).transform(vectors).astype(np.float32)
        if method == "umap":
            return _umap(reduced, params)
        return _tsne(reduced, params)


def _nearest(reduced: np.ndarray, neighbours: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact nearest neighbours of every frame, itself first (UMAP's convention)."""
    from sklearn.neighbors import NearestNeighbors

    distances, indices = NearestNeighbors(n_neighbors=neighbours - 1).fit(reduced).kneighbors()
    itself = np.arange(len(reduced))[:, None]
    return np.hstack([itself, indices]), np.hstack([np.zeros_like(itself, np.float32), distances.astype(np.float32)])


@functools.cache
def _umap_estimator() -> type:
    """UMAP's estimator, with numba's on-disk cache turned on for umap-learn's compiled functions.

    umap-learn compiles about a hundred numba functions at the first fit in every process
    (some ten seconds of CPU, far more than fitting a night's frames) and asks numba to
    keep none of them. With numba's cache each is compiled once per installation and
    loaded by later processes (an ingest, the dashboard) in a fraction of a second;
    numba keeps the machine code beside umap's modules, or in its user cache folder
    where those cannot be written.
    """
    import umap
    from numba.core.registry import CPUDispatcher

    for module in (umap.umap_, umap.layouts, umap.utils, umap.spectral, umap.distances, umap.sparse):
        for value in vars(module).values():
            if isinstance(value, CPUDispatcher):
                with contextlib.suppress(RuntimeError):  # numba found no folder to cache in: it compiles as before
                    value.enable_caching()
    return umap.UMAP


def _umap(reduced: np.ndarray, params: UmapParams) -> np.ndarray:
    neighbours = max(2, min(params.n_neighbors, len(reduced) - 1))
    # Exact neighbours computed here: above 4096 frames UMAP would otherwise search approximately with
    # pynndescent, whose first call in a process compiles for a minute.
    indices, distances = _nearest(reduced, neighbours)
    model = _umap_estimator()(
        n_neighbors=neighbours,
        min_dist=params.min_dist,
        n_components=2,
        metric="euclidean",
        random_state=params.seed,
        n_jobs=1,
        precomputed_knn=(indices, distances),
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*knn_search_index.*", category=UserWarning)
        return np.asarray(model.fit_transform(reduced), np.float32)


def _tsne(reduced: np.ndarray, params: TsneParams) -> np.ndarray:
    from sklearn.manifold import TSNE

    # t-SNE needs fewer effective neighbours than frames; three perplexities per frame is the usual bound.
    perplexity = min(params.perplexity, max(1.0, (len(reduced) - 1) / 3))
    model = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=params.seed)
    return np.asarray(model.fit_transform(reduced), np.float32)


def place_on_map(
    fitted_descriptors: np.ndarray,
    fitted_coordinates: np.ndarray,
    new_descriptors: np.ndarray,
    method: str,
    params: MapParams | None = None,
) -> np.ndarray:
    """Coordinates of new frames on a map already fitted, without refitting it.

    Parameters
    ----------
    fitted_descriptors, fitted_coordinates
        The frames of the fitted map, ``(m, dim)`` and ``(m, 2)``, in the order the
        map was fitted in (PCA is fitted on them again).
    new_descriptors
        ``(n, dim)``: the frames to place.
    method, params
        How the map was made.

    Returns
    -------
    numpy.ndarray
        ``(n, 2)`` float32. PCA: the exact projection. UMAP and t-SNE: the mean position
        of the :data:`PLACEMENT_NEIGHBOURS` nearest map frames by cosine distance,
        weighted by inverse distance (a frame identical to a map frame lands on it).
    """
    from sklearn.neighbors import KNeighborsRegressor

    params = params if params is not None else map_params(method)
    _check_params(method, params)
    new = _unit_rows(new_descriptors)
    if len(new) == 0:
        return np.zeros((0, 2), np.float32)
    known = _unit_rows(fitted_descriptors)
    if len(known) == 0:
        raise ValueError("a map without frames cannot place new ones")
    if method == "pca" and len(known) >= 2:
        out = np.zeros((len(new), 2), np.float32)
        projected = _pca(known, 2, params.seed).transform(new)
        out[:, : projected.shape[1]] = projected
        return out
    neighbours = KNeighborsRegressor(
        n_neighbors=min(PLACEMENT_NEIGHBOURS, len(known)), weights="distance", metric="cosine", algorithm="brute"
    )
    return np.asarray(neighbours.fit(known, fitted_coordinates).predict(new), np.float32)


# ----------------------------------------------------------------------------- maps in the store


@dataclass(frozen=True, eq=False)
class FrameMap:
    """A map ready to draw: coordinates of frames and who the frames are.

    Attributes
    ----------
    method, params
        How the coordinates were computed.
    key, scope, kind
        Where the map is stored; ``kind`` is ``night`` (a night fitted with a sample of
        its history), ``history`` (an instrument's historic map) or ``placed`` (a night
        placed on its instrument's historic map).
    night, instrument
        The night shown (None for a historic map); the instrument (None for a night map,
        which holds every instrument of the night).
    image_ids
        ``(n,)`` int64, the frames.
    coordinates
        ``(n, 2)`` float32, row for row.
    tonight
        ``(n,)`` bool: the frame belongs to the night shown (the rest is history).
    rows
        The frames' identity, night, score, flag, verdict and path, row for row.
    base_key
        The historic map a placed map sits on (None otherwise).
    created_at
        When the coordinates were computed.
    """

    method: str
    params: MapParams
    key: str
    scope: str
    kind: str
    night: str | None
    instrument: str | None
    image_ids: np.ndarray
    coordinates: np.ndarray
    tonight: np.ndarray
    rows: list[ImageRow]
    base_key: str | None = None
    created_at: datetime | None = None

    @property
    def title(self) -> str:
        """What the map shows, in words."""
        name = METHOD_NAMES[self.method]
        frames = int(self.tonight.sum())
        history = len(self.image_ids) - frames
        if self.kind == "night":
            return f"{name} of {self.night}: {frames} frames of the night among {history} of its history"
        if self.kind == "history":
            return f"{name} of {self.instrument}'s history: {history} frames"
        return f"{name} of {self.instrument}'s history ({history} frames), {frames} frames of {self.night} placed on it"


def _scope(kind: str, *, night: str | None = None, instrument: str | None = None) -> str:
    if kind == "night":
        return f"night:{night}"
    if kind == "history":
        return f"history:{instrument}"
    return f"placed:{instrument}:{night}"


def _parse_scope(scope: str) -> tuple[str, str | None, str | None]:
    """(kind, night, instrument) of a scope."""
    kind, _, rest = scope.partition(":")
    if kind == "night":
        return kind, rest, None
    if kind == "history":
        return kind, None, rest
    instrument, _, night = rest.rpartition(":")
    return kind, night, instrument


def _frame_map(store: Store, stored: StoredMap) -> FrameMap:
    """A stored map with its frames' rows (frames no longer in the store are left out)."""
    kind, night, instrument = _parse_scope(stored.scope)
    ids = np.asarray(stored.image_ids, np.int64)
    rows = {row.image_id: row for row in store.image_rows([int(i) for i in ids])}
    present = np.array([int(i) in rows for i in ids], bool)
    ids = ids[present]
    ordered = [rows[int(i)] for i in ids]
    return FrameMap(
        method=stored.method,
        params=_params_from(stored.method, stored.params),
        key=stored.key,
        scope=stored.scope,
        kind=kind,
        night=night,
        instrument=instrument,
        image_ids=ids,
        coordinates=np.asarray(stored.coordinates, np.float32).reshape(-1, 2)[present],
        tonight=np.array([row.night == night for row in ordered], bool),
        rows=ordered,
        base_key=stored.params.get("placed_on"),
        created_at=stored.created_at,
    )


def _report(progress: Progress | None, start: float = 0.0, end: float = 1.0) -> Progress:
    """A progress callback for one stage of a longer job: fractions scaled into [start, end]."""
    if progress is None:
        return lambda fraction, text: None
    return lambda fraction, text: progress(start + (end - start) * fraction, text)


def _descriptors(store: Store, image_ids: Sequence[int], fingerprint: str) -> tuple[np.ndarray, np.ndarray]:
    """The sorted ids of the frames that have a descriptor of this fingerprint, and the descriptors."""
    found = store.descriptors(sorted({int(i) for i in image_ids}), fingerprint)
    ids = np.array(sorted(found), np.int64)
    vectors = np.stack([found[int(i)] for i in ids]) if len(ids) else np.zeros((0, 0), np.float32)
    return ids, vectors


def _fit_and_store(
    store: Store,
    scope: str,
    key: str,
    method: str,
    params: MapParams,
    fingerprint: str,
    ids: np.ndarray,
    vectors: np.ndarray,
    report: Progress,
    thread_limit: int,
) -> FrameMap:
    """Fit a map on descriptors (with at most ``thread_limit`` threads), store it, and return it as stored."""
    report(
        0.1,
        f"fitting {METHOD_NAMES[method]} on {len(ids)} frames"
        + (" (the first UMAP after an installation also compiles it)" if method == "umap" else ""),
    )
    coordinates = map_coordinates(vectors, method, params, threads=map_threads(len(ids), thread_limit))
    report(0.95, "storing the map")
    store.save_map(key, scope, method, dataclasses.asdict(params), fingerprint, ids, coordinates)
    frame_map = _frame_map(store, store.stored_map(key))
    report(1.0, "map ready")
    return frame_map


def night_map(
    store: Store,
    night: str,
    settings: Settings,
    method: str,
    *,
    compute: bool = True,
    progress: Progress | None = None,
    params: MapParams | None = None,
    fingerprint: str | None = None,
) -> FrameMap | None:
    """A night's frames and a sample of its history, fitted together.

    Every frame of the night with a descriptor is in; the history is a seeded sample
    of up to ``settings.map_history_per_type`` frames per image type and mode from the
    nights before it.

    Parameters
    ----------
    store, night, settings
        Where the frames are, which night (``YYYY-MM-DD``), the home's settings.
    method
        One of :data:`MAP_METHODS`.
    compute
        Compute and store the map when it is not stored; with False, None is returned
        instead (the dashboard asks first, then computes with a progress bar).
    progress
        Called as ``progress(fraction, text)`` while the map is computed.
    params
        The method's parameters; :func:`map_params` of the settings when None.
    fingerprint
        Descriptors of this embedder; the configured one's when None.

    Returns
    -------
    FrameMap or None
        None also when the night has no frame with a descriptor.
    """
    params = params if params is not None else map_params(method, settings)
    _check_params(method, params)
    fingerprint = fingerprint or expected_fingerprint(settings)
    report = _report(progress)
    report(0.0, f"reading the frames of {night}")
    tonight, tonight_vectors = _descriptors(store, [r.image_id for r in store.image_rows(night=night)], fingerprint)
    if not len(tonight):
        return None
    history = store.sample_image_ids(fingerprint, before=night, per_group=settings.map_history_per_type, seed=settings.seed)
    scope = _scope("night", night=night)
    key = map_key(scope, np.union1d(tonight, np.asarray(history, np.int64)), method, params, fingerprint)
    stored = store.stored_map(key)
    if stored is not None:
        report(1.0, "map loaded")
        return _frame_map(store, stored)
    if not compute:
        return None
    report(0.05, f"reading the descriptors of {len(history)} historic frames")
    past, past_vectors = _descriptors(store, np.setdiff1d(np.asarray(history, np.int64), tonight), fingerprint)
    ids = np.concatenate([tonight, past])
    vectors = np.vstack([tonight_vectors, past_vectors]) if len(past) else tonight_vectors
    order = np.argsort(ids)
    return _fit_and_store(store, scope, key, method, params, fingerprint, ids[order], vectors[order], report, settings.worker_count)


def historic_map(
    store: Store,
    instrument: str,
    settings: Settings,
    method: str,
    *,
    refit: bool = False,
    before: str | None = None,
    compute: bool = True,
    progress: Progress | None = None,
    params: MapParams | None = None,
    fingerprint: str | None = None,
) -> FrameMap | None:
    """An instrument's historic map: fitted once on a sample of its history, then reused.

    Parameters
    ----------
    store, instrument, settings, method
        Where, which instrument, the home's settings, one of :data:`MAP_METHODS`.
    refit
        Fit again on a new sample of the history as it is now, even if a map is stored
        (after months of new nights, or an intervention).
    before
        When fitting, sample only nights before this one (the nightly ingest fits the
        history of the night it places).
    compute
        Fit and store the map when none is stored; with False, None is returned instead.
    progress, params, fingerprint
        As for :func:`night_map`.

    Returns
    -------
    FrameMap or None
        The latest stored historic map of these parameters and embedder, or a new one;
        None when there is no history to fit.
    """
    params = params if params is not None else map_params(method, settings)
    _check_params(method, params)
    fingerprint = fingerprint or expected_fingerprint(settings)
    scope = _scope("history", instrument=instrument)
    report = _report(progress)
    if not refit:
        stored = store.latest_map(scope, method, fingerprint)
        if stored is not None and _params_from(method, stored.params) == params:
            report(1.0, "map loaded")
            return _frame_map(store, stored)
    if not compute:
        return None
    report(0.0, f"sampling {instrument}'s history")
    sample = store.sample_image_ids(
        fingerprint, before=before, per_group=settings.map_history_per_type, instrument=instrument, seed=settings.seed
    )
    ids, vectors = _descriptors(store, sample, fingerprint)
    if not len(ids):
        return None
    key = map_key(scope, ids, method, params, fingerprint)
    stored = store.stored_map(key)
    if stored is not None:
        report(1.0, "map loaded")
        return _frame_map(store, stored)
    return _fit_and_store(store, scope, key, method, params, fingerprint, ids, vectors, report, settings.worker_count)


def placed_night_map(
    store: Store,
    night: str,
    settings: Settings,
    method: str,
    instrument: str,
    *,
    compute: bool = True,
    progress: Progress | None = None,
    params: MapParams | None = None,
    fingerprint: str | None = None,
) -> FrameMap | None:
    """A night's frames of one instrument placed on the instrument's historic map.

    The historic map is fitted first when there is none (on the nights before this
    one). Frames already in the historic map keep their coordinates; the others are
    placed by :func:`place_on_map`. Arguments as for :func:`night_map`.

    Returns
    -------
    FrameMap or None
        The historic frames and the night's (``tonight`` True), or None when the
        instrument has no history or the night no frame of it with a descriptor.
    """
    params = params if params is not None else map_params(method, settings)
    _check_params(method, params)
    fingerprint = fingerprint or expected_fingerprint(settings)
    rows = store.image_rows(night=night, instrument=instrument)
    found = store.descriptors(sorted(r.image_id for r in rows), fingerprint)
    if not found:
        return None
    report = _report(progress)
    base = historic_map(
        store,
        instrument,
        settings,
        method,
        before=night,
        compute=compute,
        params=params,
        fingerprint=fingerprint,
        progress=_report(progress, 0.0, 0.8),
    )
    if base is None:
        return None
    tonight = np.array(sorted(found), np.int64)
    scope = _scope("placed", instrument=instrument, night=night)
    key = map_key(f"{scope}:{base.key}", tonight, method, params, fingerprint)
    stored = store.stored_map(key)
    if stored is not None:
        report(1.0, "map loaded")
        return _frame_map(store, stored)
    if not compute:
        return None
    report(0.8, f"placing {len(tonight)} frames on {instrument}'s historic map")
    on_base = dict(zip(base.image_ids.tolist(), base.coordinates, strict=True))
    new = np.array([i for i in tonight if int(i) not in on_base], np.int64)
    coordinates = dict(on_base)
    if len(new):
        base_ids, base_vectors = _descriptors(store, base.image_ids, fingerprint)
        base_coordinates = np.stack([on_base[int(i)] for i in base_ids])
        new_vectors = np.stack([found[int(i)] for i in new])
        with numerical_threads(map_threads(len(base_ids), settings.worker_count)):
            placed = place_on_map(base_vectors, base_coordinates, new_vectors, method, params)
        coordinates.update(zip(new.tolist(), placed, strict=True))
    ids = np.union1d(base.image_ids, tonight)
    values = {**dataclasses.asdict(params), "placed_on": base.key}
    store.save_map(key, scope, method, values, fingerprint, ids, np.stack([coordinates[int(i)] for i in ids]))
    placed_map = _frame_map(store, store.stored_map(key))
    report(1.0, "map ready")
    return placed_map


def nightly_map_tasks(
    store: Store, night: str, settings: Settings, fingerprint: str | None = None
) -> list[tuple[str, Callable[[], FrameMap | None]]]:
    """The maps the nightly ingest computes for a night, each named and not yet run.

    For each method of ``settings.map_methods``: the night map, and the night placed on
    the historic map of each of its instruments (fitting the historic map when there is
    none). The caller runs them one by one, so that one failing map does not stop the rest.
    """
    for method in settings.map_methods:
        _check_method(method)
    fingerprint = fingerprint or expected_fingerprint(settings)
    instruments = sorted({row.instrument for row in store.image_rows(night=night)})
    tasks: list[tuple[str, Callable[[], FrameMap | None]]] = []
    for method in settings.map_methods:
        tasks.append(
            (f"{METHOD_NAMES[method]} map of {night}", lambda m=method: night_map(store, night, settings, m, fingerprint=fingerprint))
        )
        for instrument in instruments:
            tasks.append(
                (
                    f"{METHOD_NAMES[method]} map of {night} on {instrument}'s history",
                    lambda m=method, i=instrument: placed_night_map(store, night, settings, m, i, fingerprint=fingerprint),
                )
            )
    return tasks
