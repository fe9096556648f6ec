"""Clusters of frames from their pixels, named afterwards by their headers.

This is the proof of concept's image-type identification: frames are grouped by what
their pixels look like, each cluster is named by the image type most of its frames
declare, and a frame whose header disagrees with its cluster is listed with the
reason ("clusters with LAMP,WAVE frames; the header says TARGET").

What a frame is described by (never by a header keyword about what it is)
-------------------------------------------------------------------------
- **Geometry.** Frames of different extensions or array shapes never share a cluster:
  another chip, binning or window is another detector read-out, and comparing them is
  meaningless. The shape is the pixels' own (``NAXIS``), not a header's say-so.
- **Eight robust pixel statistics**, each ``asinh`` of a signal in units of the frame's
  own pixel noise ``sigma`` (the neighbour-difference noise of the light-sensitive
  pixels, median over amplifiers). ``asinh`` is linear at the noise level and
  logarithmic above it, so one unit means about one e-fold of signal-to-noise on any
  detector, gain or pedestal: the statistics are standardised by physics, not by the
  spread of whatever else happens to be clustered (a night of biases only would
  otherwise blow read noise up to unit variance). From the quality numbers that
  :mod:`core.qc` measures on every image before it looks at the image's category
  (``p01`` ... ``p99``, amplifier noise):

  ``median`` (p50 - p01: how far the typical pixel sits above the dark floor),
  ``upper`` (p95 - p50), ``tail`` (p99 - p50: arc lines, a star's trace), ``lower``
  (p50 - p05);

  and from the stored preview (the block-averaged picture with cosmic rays capped,
  computed without any header):

  ``excess`` (mean - median: flux in features brighter than the typical pixel),
  ``rows`` and ``columns`` (scatter of the row and column means: orders, lines, slit
  illumination, along each axis), ``peak`` (99.9th percentile - median: lines that
  cover less than a per cent of the pixels).

  Numbers whose definition depends on the category read from the header (grids,
  gradients, line and order counts, cosmic-ray fraction) are left out, so that the
  header cannot leak into the clusters.
- **The descriptor**, normalised to unit length and reduced by PCA (at most
  :data:`MAX_DESCRIPTOR_COMPONENTS` components, fitted on the group), without
  whitening: the Euclidean distance of unit vectors is the chord of their angle, so
  the descriptor keeps its cosine geometry and adds its distance (0 for the same
  picture, at most 2) to the statistics'.

The distance between two frames is the root of the mean square difference of their
statistics, combined in quadrature with the descriptors' chord distance. A longer
exposure or a brighter lamp moves every statistic together (by about half the
logarithm of the factor, for photon noise); that common part, the frame's
brightness, counts as one statistic and the shape of the statistics as the others,
so that flats of any exposure time stay one kind while a bias and a flat do not.

The automatic cut
-----------------
Average linkage (the proof of concept's method) is cut at :data:`CUT_HEIGHT` = 0.5:
frames closer than that on average stay together. On the real frames of the tests,
repeated exposures of one kind sit within 0.1 of each other, flats of two or three
times the usual exposure 0.2 to 0.45 away, and different kinds of frame (bias, flat,
arc, science, or the same kind from another camera) 0.7 or more apart; a faint
science frame, pixel for pixel a bias with a little sky, comes as close as 0.46. The
number of clusters follows from the data; what is fixed is the unit. Scale-free
rules were tried and fail on calibration nights: the silhouette scores a one-frame
cluster 0, so it never separates the night's only arc, and the largest gap between
merge heights cannot tell an arc that stands alone from a flat of unusual exposure;
only the features' physical unit can. A frame that stands apart by more than the cut
(a defect, another setting) gets a cluster of its own and is named like the rest.

K-means and spectral clustering choose their number of clusters with the same unit:
k-means takes the fewest clusters in which every frame lies within the cut height
(root mean square) of the members of its cluster; spectral clustering builds the
affinity ``exp(-2 (d / cut)^2)`` and counts the eigenvalues of its normalised
Laplacian below that of two frames the cut height apart (one eigenvalue near zero per
nearly separate part of the graph, von Luxburg 2007).

Hierarchical and spectral clustering hold all pairwise distances of a geometry group
in memory; groups of more than :data:`MAX_PAIRWISE_FRAMES` frames need k-means.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.cluster import hierarchy
from scipy.linalg import eigh
from scipy.spatial.distance import pdist, squareform
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import KMeans, SpectralClustering
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score, precision_recall_fscore_support

if TYPE_CHECKING:
    from .config import Settings
    from .store import Store, StoredImage

__all__ = [
    "CUT_HEIGHT",
    "METHODS",
    "PIXEL_STATISTICS",
    "Clustering",
    "DendrogramData",
    "FrameCluster",
    "HierarchicalClusters",
    "KMeansClusters",
    "SpectralClusters",
    "TypeIdentification",
    "TypeScore",
    "cluster_frames",
    "cluster_store",
    "cosine_affinity",
    "dendrogram_data",
    "descriptor_linkage",
    "frame_features",
    "make_estimator",
    "pixel_statistics",
    "type_identification",
]

CUT_HEIGHT = 0.5
METHODS = ("hierarchical", "kmeans", "spectral")
PIXEL_STATISTICS = ("median", "upper", "tail", "lower", "excess", "rows", "columns", "peak")
MAX_DESCRIPTOR_COMPONENTS = 16
MAX_PAIRWISE_FRAMES = 12000
PEAK_QUANTILE = 0.999
# The Laplacian eigenvalue of two frames exactly the cut height apart (affinity a = e^-2): 2a / (1 + a).
CUT_EIGENVALUE = 2 * np.exp(-2.0) / (1 + np.exp(-2.0))
KMEANS_STARTS = 4


# ----------------------------------------------------------------------------- maths


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """The rows scaled to unit length (a zero row stays zero)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def cosine_affinity(vectors: np.ndarray) -> np.ndarray:
    """Cosine similarity of every pair of rows, clipped to [0, 1] (1 on the diagonal).

    Parameters
    ----------
    vectors
        ``(n, d)`` descriptors (or any features).

    Returns
    -------
    numpy.ndarray
        ``(n, n)`` symmetric affinities: 1 for the same direction, 0 for orthogonal or
        opposite directions and for a zero vector.
    """
    unit = unit_rows(vectors)
    affinity = np.clip(unit @ unit.T, 0.0, 1.0)
    np.fill_diagonal(affinity, 1.0)
    return affinity


def descriptor_linkage(descriptors: np.ndarray, method: str = "average") -> np.ndarray:
    """The linkage matrix of descriptors by cosine distance (the proof of concept's dendrogram).

    Parameters
    ----------
    descriptors
        ``(n, d)`` with n >= 2.
    method
        Any of :func:`scipy.cluster.hierarchy.linkage`'s methods; average by default.
    """
    distances = np.clip(1.0 - squareform(cosine_affinity(descriptors), checks=False), 0.0, 1.0)
    return hierarchy.linkage(distances, method=method)


@dataclass(frozen=True)
class DendrogramData:
    """What a dashboard needs to draw a dendrogram as one trace.

    Attributes
    ----------
    icoord, dcoord
        ``(n - 1, 4)`` x and y coordinates of each link's four corners, as
        :func:`scipy.cluster.hierarchy.dendrogram` gives them (leaf i at x = 10 i + 5).
    leaves
        Indices of the input rows, left to right.
    heights
        ``(n - 1,)`` merge heights in the order of the linkage matrix.
    leaf_labels
        The labels given, in leaf order (empty when none were given).
    """

    icoord: np.ndarray
    dcoord: np.ndarray
    leaves: np.ndarray
    heights: np.ndarray
    leaf_labels: tuple[str, ...] = ()


def dendrogram_data(linkage: np.ndarray, labels: Sequence[str] | None = None) -> DendrogramData:
    """Coordinates of a dendrogram's links and its leaf order, computed by scipy without plotting."""
    linkage = np.asarray(linkage, dtype=np.float64)
    if len(linkage) == 0:
        return DendrogramData(np.empty((0, 4)), np.empty((0, 4)), np.zeros(1, int), np.empty(0), tuple(labels or ()))
    tree = hierarchy.dendrogram(linkage, no_plot=True, labels=list(labels) if labels is not None else None)
    return DendrogramData(
        icoord=np.asarray(tree["icoord"], dtype=np.float64),
        dcoord=np.asarray(tree["dcoord"], dtype=np.float64),
        leaves=np.asarray(tree["leaves"], dtype=int),
        heights=linkage[:, 2].copy(),
        leaf_labels=tuple(tree["ivl"]) if labels is not None else (),
    )


def _in_order_of_appearance(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered 0, 1, ... in the order in which they first occur."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=int)
    rank[np.argsort(first)] = np.arange(len(first))
    return rank[inverse.ravel()]


def _check_pairwise(n: int) -> None:
    if n > MAX_PAIRWISE_FRAMES:
        raise ValueError(f"{n} frames of one geometry are too many for pairwise clustering (at most {MAX_PAIRWISE_FRAMES}); use k-means")


class HierarchicalClusters(ClusterMixin, BaseEstimator):
    """Agglomerative clustering cut at a height (scipy.cluster.hierarchy).

    Parameters
    ----------
    method
        Linkage method; average, as the proof of concept.
    metric
        Any :func:`scipy.spatial.distance.pdist` metric (``"cosine"`` for raw descriptors).
    cut_height
        Merges above this distance are cut; see the module docstring for its unit.
    n_clusters
        Cut to this many clusters instead of at ``cut_height``.

    Attributes
    ----------
    labels_ : numpy.ndarray
        Cluster of each row, 0, 1, ... in order of first appearance.
    linkage_ : numpy.ndarray
        ``(n - 1, 4)`` scipy linkage matrix (for :func:`dendrogram_data`).
    n_clusters_ : int
    """

    def __init__(
        self, method: str = "average", metric: str = "euclidean", cut_height: float = CUT_HEIGHT, n_clusters: int | None = None
    ) -> None:
        self.method = method
        self.metric = metric
        self.cut_height = cut_height
        self.n_clusters = n_clusters

    def fit(self, X: np.ndarray, y=None) -> HierarchicalClusters:
        X = _matrix(X)
        _check_pairwise(len(X))
        if len(X) == 1:
            self.linkage_ = np.empty((0, 4))
            self.labels_ = np.zeros(1, dtype=int)
        else:
            distances = np.nan_to_num(pdist(X, self.metric), nan=1.0)  # a zero vector has no direction
            self.linkage_ = hierarchy.linkage(distances, method=self.method)
            if self.n_clusters is not None:
                flat = hierarchy.fcluster(self.linkage_, self.n_clusters, criterion="maxclust")
            else:
                flat = hierarchy.fcluster(self.linkage_, self.cut_height, criterion="distance")
            self.labels_ = _in_order_of_appearance(flat)
        self.n_clusters_ = int(self.labels_.max()) + 1
        return self


class KMeansClusters(ClusterMixin, BaseEstimator):
    """K-means with the fewest clusters whose members lie within ``cut_height`` of each other.

    k grows from 1 until every frame's root-mean-square distance to the members of its
    cluster is at most ``cut_height``: the k-means reading of average linkage's cut.

    Parameters
    ----------
    cut_height
        Largest root-mean-square distance of a member to the members of its cluster.
    n_clusters
        Use this many clusters instead of choosing.
    random_state
        Seed of the k-means starts.

    Attributes
    ----------
    labels_, cluster_centers_, n_clusters_
        As scikit-learn's KMeans, labels in order of first appearance.
    """

    def __init__(self, cut_height: float = CUT_HEIGHT, n_clusters: int | None = None, random_state: int = 0) -> None:
        self.cut_height = cut_height
        self.n_clusters = n_clusters
        self.random_state = random_state

    def fit(self, X: np.ndarray, y=None) -> KMeansClusters:
        X = _matrix(X)
        distinct = len(np.unique(X, axis=0))
        candidates = [min(self.n_clusters, distinct)] if self.n_clusters is not None else range(1, distinct + 1)
        for k in candidates:
            model = KMeans(n_clusters=k, n_init=KMEANS_STARTS, random_state=self.random_state).fit(X)
            if self.n_clusters is not None or self._tight(X, model):
                break
        self.labels_ = _in_order_of_appearance(model.labels_)
        firsts = np.unique(self.labels_, return_index=True)[1]
        self.cluster_centers_ = model.cluster_centers_[model.labels_[firsts]]
        self.n_clusters_ = len(firsts)
        return self

    def _tight(self, X: np.ndarray, model: KMeans) -> bool:
        offsets = X - model.cluster_centers_[model.labels_]
        to_centre = np.einsum("ij,ij->i", offsets, offsets)
        spread = np.bincount(model.labels_, weights=to_centre) / np.maximum(np.bincount(model.labels_), 1)
        # A member's mean square distance to the members is its own to the centre plus theirs.
        return bool(np.all(np.sqrt(to_centre + spread[model.labels_]) <= self.cut_height))


class SpectralClusters(ClusterMixin, BaseEstimator):
    """Spectral clustering of a Gaussian affinity, as many clusters as nearly separate parts.

    The normalised Laplacian has one zero eigenvalue per connected part of the affinity
    graph; two frames ``cut_height`` apart give an eigenvalue of 2a / (1 + a) with
    a = e^-2 (0.24). The number of clusters is the count of eigenvalues below that:
    the parts that are held together by less than frames at the cut height.

    Parameters
    ----------
    cut_height
        Distance scale of the affinity ``exp(-2 (d / cut_height)^2)``: 0.14 at the cut
        height, 3e-4 at twice it.
    n_clusters
        Use this many clusters instead of counting them.
    max_clusters
        Most clusters considered.
    random_state
        Seed of scikit-learn's spectral embedding.

    Attributes
    ----------
    labels_, n_clusters_
    affinity_matrix_ : numpy.ndarray
    eigenvalues_ : numpy.ndarray
        The smallest eigenvalues of the normalised Laplacian.
    """

    def __init__(
        self, cut_height: float = CUT_HEIGHT, n_clusters: int | None = None, max_clusters: int = 50, random_state: int = 0
    ) -> None:
        self.cut_height = cut_height
        self.n_clusters = n_clusters
        self.max_clusters = max_clusters
        self.random_state = random_state

    def fit(self, X: np.ndarray, y=None) -> SpectralClusters:
        X = _matrix(X)
        n = len(X)
        _check_pairwise(n)
        distances = squareform(pdist(X)) if n > 1 else np.zeros((1, 1))
        self.affinity_matrix_ = np.exp(-2.0 * (distances / self.cut_height) ** 2)
        degree = self.affinity_matrix_.sum(axis=1)
        scaled = self.affinity_matrix_ / np.sqrt(np.outer(degree, degree))
        count = min(n, self.max_clusters + 1)
        laplacian = np.eye(n) - scaled
        self.eigenvalues_ = np.clip(eigh(laplacian, eigvals_only=True, subset_by_index=[0, count - 1]), 0.0, 2.0)
        k = self.n_clusters if self.n_clusters is not None else self._components()
        if k <= 1:
            self.labels_ = np.zeros(n, dtype=int)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "graph is not fully connected": separate kinds are
                model = SpectralClustering(
                    n_clusters=k, affinity="precomputed", assign_labels="cluster_qr", random_state=self.random_state
                ).fit(self.affinity_matrix_)
            self.labels_ = _in_order_of_appearance(model.labels_)
        self.n_clusters_ = int(self.labels_.max()) + 1
        return self

    def _components(self) -> int:
        return max(1, int(np.sum(self.eigenvalues_ < CUT_EIGENVALUE)))


ESTIMATORS = {"hierarchical": HierarchicalClusters, "kmeans": KMeansClusters, "spectral": SpectralClusters}


def _matrix(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or len(X) == 0:
        raise ValueError(f"expected a non-empty (n, d) matrix, got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("features must be finite")
    return X


def make_estimator(method: str, cut_height: float = CUT_HEIGHT, random_state: int = 0):
    """The clustering estimator of a method name (:data:`METHODS`)."""
    if method not in ESTIMATORS:
        raise ValueError(f"unknown clustering method {method!r}; known: {', '.join(METHODS)}")
    if method == "hierarchical":
        return HierarchicalClusters(cut_height=cut_height)
    return ESTIMATORS[method](cut_height=cut_height, random_state=random_state)


# ----------------------------------------------------------------------------- features


def _noise(metrics: Mapping[str, float]) -> float | None:
    values = [v for k, v in metrics.items() if k.startswith("amp") and k.endswith(".noise") and np.isfinite(v)]
    if not values:
        return None
    noise = float(np.median(values))
    # A constant image has no noise: any positive unit gives its statistics 0.
    return noise if noise > 0 else max(abs(float(metrics.get("p50", 0.0))), 1.0) * 1e-6


def pixel_statistics(metrics: Mapping[str, float], preview: np.ndarray | None) -> np.ndarray | None:
    """The eight robust pixel statistics of a frame (:data:`PIXEL_STATISTICS`), or None.

    Parameters
    ----------
    metrics
        The frame's quality numbers; only those measured before the category is
        looked at are used.
    preview
        The stored reduced picture (ADU); a non-finite value (an overflow of the stored
        copy) counts as the picture's median.

    Returns
    -------
    numpy.ndarray or None
        None when the numbers or the preview are missing.
    """
    noise = _noise(metrics)
    if noise is None or any(q not in metrics for q in ("p01", "p05", "p50", "p95", "p99")) or preview is None:
        return None
    picture = np.asarray(preview, dtype=np.float64)
    finite = np.isfinite(picture)
    if picture.ndim != 2 or not finite.any():
        return None
    if not finite.all():
        picture = np.where(finite, picture, np.median(picture[finite]))
    centre = float(np.median(picture))
    signals = (
        metrics["p50"] - metrics["p01"],
        metrics["p95"] - metrics["p50"],
        metrics["p99"] - metrics["p50"],
        metrics["p50"] - metrics["p05"],
        float(picture.mean()) - centre,
        float(np.std(picture.mean(axis=1))),
        float(np.std(picture.mean(axis=0))),
        float(np.quantile(picture, PEAK_QUANTILE)) - centre,
    )
    statistics = np.arcsinh(np.asarray(signals, dtype=np.float64) / noise)
    return statistics if np.isfinite(statistics).all() else None


def frame_features(statistics: np.ndarray, descriptors: np.ndarray | None = None) -> np.ndarray:
    """The feature matrix of one geometry group (see the module docstring).

    Parameters
    ----------
    statistics
        ``(n, 8)`` pixel statistics.
    descriptors
        ``(n, d)`` descriptors of the same frames, or None to cluster by the
        statistics alone.

    Returns
    -------
    numpy.ndarray
        ``(n, 9 + c)``: the statistics less their mean (their shape) and the mean
        (the brightness), all divided by the square root of the number of statistics,
        then ``c`` PCA components of the unit descriptors.
    """
    statistics = np.asarray(statistics, dtype=np.float64)
    # A longer exposure or a brighter lamp moves every statistic together: that common
    # part, the frame's brightness, counts as one statistic and the shape as the others.
    brightness = statistics.mean(axis=1, keepdims=True)
    scaled = np.hstack([statistics - brightness, brightness]) / np.sqrt(statistics.shape[1])
    n = len(statistics)
    if descriptors is None or n < 2:
        return scaled
    unit = unit_rows(descriptors)
    components = min(MAX_DESCRIPTOR_COMPONENTS, n - 1, unit.shape[1])
    reduced = PCA(n_components=components, random_state=0).fit_transform(unit)
    return np.hstack([scaled, reduced])


# ----------------------------------------------------------------------------- frames


@dataclass(frozen=True)
class FrameCluster:
    """One frame's cluster, the cluster's name, and whether the frame's header agrees.

    ``cluster`` is numbered from 1 and None for a frame that could not be clustered;
    ``reason`` says why the frame disagrees with its cluster or was not clustered.
    """

    image_id: int
    path: str
    ext: int
    night: str
    image_type: str
    header_type: str
    cluster: int | None
    cluster_name: str
    agrees: bool | None
    reason: str


@dataclass(frozen=True)
class Clustering:
    """The clusters of a set of frames, with notes on what could not be used."""

    method: str
    frames: list[FrameCluster]
    notes: list[str]

    @property
    def n_clusters(self) -> int:
        return len({f.cluster for f in self.frames if f.cluster is not None})

    @property
    def disagreements(self) -> list[FrameCluster]:
        return [f for f in self.frames if f.agrees is False]


def _most_common(values: Sequence[str]) -> str:
    """The most frequent value; ties go to the alphabetically first, so that names are stable."""
    counts = Counter(values)
    return min(counts, key=lambda v: (-counts[v], v))


def _named(frames: Sequence[StoredImage], cluster: int, members: list[int]) -> list[FrameCluster]:
    name = _most_common([frames[i].image_type for i in members])
    words = _most_common([frames[i].header_type for i in members if frames[i].image_type == name])
    out = []
    for i in members:
        frame = frames[i]
        agrees = frame.image_type == name
        if agrees:
            reason = ""
        elif frame.header_type != words:
            reason = f"clusters with {words} frames; the header says {frame.header_type}"
        else:
            reason = f"clusters with {name} frames; the header says {frame.image_type}"
        out.append(_frame_cluster(frame, cluster, name, agrees, reason))
    return out


def _frame_cluster(frame: StoredImage, cluster: int | None, name: str, agrees: bool | None, reason: str) -> FrameCluster:
    return FrameCluster(
        image_id=frame.image_id,
        path=frame.path,
        ext=frame.ext,
        night=frame.night,
        image_type=frame.image_type,
        header_type=frame.header_type,
        cluster=cluster,
        cluster_name=name,
        agrees=agrees,
        reason=reason,
    )


def cluster_frames(
    frames: Sequence[StoredImage],
    previews: Mapping[int, np.ndarray],
    method: str = "hierarchical",
    cut_height: float = CUT_HEIGHT,
    random_state: int = 0,
) -> Clustering:
    """Cluster frames by their pixels, name the clusters by their headers, list disagreements.

    Parameters
    ----------
    frames
        Stored images with descriptors and quality numbers; their image types name the
        clusters and are never used to form them.
    previews
        Image id -> stored preview (ADU).
    method
        One of :data:`METHODS`.
    cut_height
        The distance at which frames stop being one kind (module docstring).
    random_state
        Seed of k-means and spectral clustering.

    Returns
    -------
    Clustering
        Frames in the order given; cluster numbers follow the geometry groups (by
        extension and shape) and, within one, the order of the frames.
    """
    estimator = make_estimator(method, cut_height, random_state)
    statistics = [pixel_statistics(f.metrics, previews.get(f.image_id)) for f in frames]
    groups: dict[tuple[int, tuple[int, int]], list[int]] = {}
    for i, frame in enumerate(frames):
        if statistics[i] is not None:
            groups.setdefault((frame.ext, tuple(frame.shape)), []).append(i)
    results: dict[int, FrameCluster] = {}
    notes = []
    next_cluster = 1
    without_descriptor = 0
    for key in sorted(groups):
        members = groups[key]
        descriptors = [frames[i].descriptor for i in members]
        usable = all(d is not None for d in descriptors) and len({len(d) for d in descriptors}) == 1
        if not usable:
            without_descriptor += sum(d is None for d in descriptors)
        features = frame_features(np.array([statistics[i] for i in members]), np.array(descriptors) if usable else None)
        labels = estimator.fit(features).labels_
        for label in range(int(labels.max()) + 1):
            in_cluster = [members[j] for j in np.flatnonzero(labels == label)]
            results.update(zip(in_cluster, _named(frames, next_cluster, in_cluster)))
            next_cluster += 1
    if without_descriptor:
        notes.append(
            f"{without_descriptor} images have no descriptor of this embedder: "
            "their geometry groups are clustered by pixel statistics alone"
        )
    unclustered = [i for i, s in enumerate(statistics) if s is None]
    for i in unclustered:
        results[i] = _frame_cluster(frames[i], None, "", None, "not clustered: no quality numbers or preview stored")
    if unclustered:
        notes.append(f"{len(unclustered)} images could not be clustered: no quality numbers or preview stored")
    return Clustering(method=method, frames=[results[i] for i in range(len(frames))], notes=notes)


# ----------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class TypeScore:
    """How well clusters identify one image type: a frame is predicted to be its cluster's name."""

    image_type: str
    frames: int
    clusters: int
    recall: float
    precision: float
    f1: float


@dataclass(frozen=True)
class TypeIdentification:
    """The proof of concept's table: one row per image type, their average, and the adjusted Rand index."""

    rows: list[TypeScore]
    average: TypeScore
    adjusted_rand: float
    method: str


def type_identification(clustering: Clustering) -> TypeIdentification:
    """Recall, precision and F1 of the cluster-to-type assignment, per image type and on average.

    Every clustered frame is predicted to be of its cluster's name (the majority image
    type); recall of a type is the share of its frames predicted as it, precision the
    share of frames predicted as it that are of it. The average is the unweighted mean
    over types, as in the proof of concept. The adjusted Rand index compares the
    clusters with the image types directly (1 when they coincide, about 0 by chance).

    Raises
    ------
    ValueError
        When no frame was clustered.
    """
    clustered = [f for f in clustering.frames if f.cluster is not None]
    if not clustered:
        raise ValueError("no clustered frames to evaluate")
    truth = [f.image_type for f in clustered]
    predicted = [f.cluster_name for f in clustered]
    types = sorted(set(truth))
    precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, labels=types, zero_division=0.0)
    named = Counter(name for _, name in {(f.cluster, f.cluster_name) for f in clustered})
    rows = [
        TypeScore(t, int(s), named.get(t, 0), float(r), float(p), float(f)) for t, s, r, p, f in zip(types, support, recall, precision, f1)
    ]
    average = TypeScore(
        "average",
        len(clustered),
        len({f.cluster for f in clustered}),
        float(np.mean(recall)),
        float(np.mean(precision)),
        float(np.mean(f1)),
    )
    rand = float(adjusted_rand_score(truth, [f.cluster for f in clustered]))
    return TypeIdentification(rows, average, rand, clustering.method)


# ----------------------------------------------------------------------------- store


def cluster_store(store: Store, settings: Settings, *, night: str | None = None, method: str = "hierarchical") -> Clustering:
    """Cluster the frames of one night, or of the whole store, as described by the configured embedder."""
    from .embed import expected_fingerprint
    from .qc import QC_VERSION

    frames = store.images(expected_fingerprint(settings), QC_VERSION, night=night)
    previews = store.previews([f.image_id for f in frames], QC_VERSION)
    return cluster_frames(frames, previews, method=method, random_state=settings.seed)
