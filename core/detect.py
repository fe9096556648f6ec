"""Per-type anomaly detection against a reference, with a reason for every flag.

A :class:`FrameDetector` is fitted on the *reference* of one image type and mode (the
frames of recent earlier nights, or the night's own frames when there is no history
yet) and scores new frames. It follows scikit-learn's conventions: parameters in
``__init__``, ``fit`` returns ``self``, fitted state ends in ``_``, and
``score_samples`` / ``decision_function`` / ``predict`` mean what they mean there
(lower ``score_samples`` is more abnormal; ``predict`` gives -1 for an outlier).
:meth:`FrameDetector.anomaly_score` is the positive score the report shows.

What is compared, each as a robust z-score against the reference:

- every physical quality number (``core.qc``): deviation from the reference median in
  units of the reference's robust scatter, with a floor per kind of number so that a
  reference of near-identical frames does not turn a 0.01 ADU wobble into a flag;
- the descriptor distance: mean cosine distance to the ``neighbours`` nearest
  reference descriptors, against the same distance among the reference frames;
- for flats and arcs, the shift of the 1-D profiles (order positions across,
  line positions along the dispersion) against the reference's median profile, and
  how badly the shapes match after the shift.

Each z-score is calibrated on the reference (a number that scatters with heavy tails
among good frames counts for less), the frame's score is the largest calibrated
|z|, and the threshold comes from the reference's own scores, so no labels are
needed. The reasons name the numbers that pass the threshold.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import BaseEstimator

from .qc import metric_label

DETECTOR_VERSION = "frame-detector-1"
NORMAL_Q90 = 1.6449
MAD_TO_SIGMA = 1.4826

# Floors of the reference scatter: (name pattern, categories or None for all,
# absolute floor, floor relative to the reference median). The first entry whose
# pattern and category match wins. A floor is the smallest change an expert would
# call real, so that a reference of near-identical frames does not turn a wobble
# into a flag.
DEFAULT_TOLERANCES: tuple[tuple[str, frozenset[str] | None, float, float], ...] = (
    (r"cosmic_ray_fraction$", None, 0.05, 0.1),
    (r"bad_row_fraction$", None, 0.02, 0.1),
    (r"fraction$", None, 0.005, 0.1),
    (r"(read_noise|noise)$", None, 0.02, 0.02),
    (r"(row|column)_structure$", None, 0.02, 0.05),
    (r"periodic_noise$", None, 0.5, 0.1),
    (r"count$", None, 1.0, 0.02),
    (r"^grid", frozenset({"flat", "arc"}), 0.005, 0.0),
    (r"^grid", None, 0.3, 0.0),
    (r"^gradient", frozenset({"flat", "arc"}), 0.002, 0.05),
    (r"^gradient", None, 0.05, 0.05),
    (r"^shift_", None, 0.2, 0.0),
    (r"^profile_mismatch", None, 0.002, 0.05),
    (r"^descriptor_distance$", None, 1e-5, 0.02),
    (r"(level|flux|^p\d\d)$", None, 0.2, 0.002),
    (r"", None, 1e-6, 0.01),
)

# Numbers where only an increase is a defect.
ONE_SIDED = re.compile(
    r"(cosmic_ray_fraction|saturated_fraction|nan_fraction|bad_row_fraction|periodic_noise|profile_mismatch_\w+|descriptor_distance)$"
)
# Bookkeeping numbers that are not quality measures.
# ``max`` is one pixel (a cosmic ray on a flat's peak); saturation is counted apart.
IGNORED = re.compile(r"^(profile_bin_\w+|periodic_period|max)$")
PROFILE_CATEGORIES = frozenset({"flat", "arc"})
DERIVED_LABELS = {
    "descriptor_distance": ("distance of the image descriptor from its nearest reference frames", ""),
    "shift_rows": ("shift of the profile along the rows (order positions)", "px"),
    "shift_cols": ("shift of the profile along the columns (line positions)", "px"),
    "profile_mismatch_rows": ("mismatch of the profile along the rows after alignment", ""),
    "profile_mismatch_cols": ("mismatch of the profile along the columns after alignment", ""),
}


@dataclass
class FrameSet:
    """The features of a set of frames of one type and mode, as the detector reads them.

    Attributes
    ----------
    ids
        Image ids (used to name nearest neighbours).
    metrics
        One mapping of quality numbers per frame.
    descriptors
        ``(n, dim)`` descriptors, or None where a frame has none (rows of NaN).
    profiles
        One mapping of 1-D profiles per frame (``rows``, ``cols``) and bin factors in metrics.
    category
        bias, flat, arc ...: profiles are compared for flats and arcs only.
    """

    ids: list[int]
    metrics: list[Mapping[str, float]]
    descriptors: np.ndarray
    profiles: list[Mapping[str, np.ndarray]] = field(default_factory=list)
    category: str = "unknown"

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, index: Sequence[int]) -> FrameSet:
        """The frames at the given positions."""
        index = list(index)
        return FrameSet(
            ids=[self.ids[i] for i in index],
            metrics=[self.metrics[i] for i in index],
            descriptors=self.descriptors[index],
            profiles=[self.profiles[i] for i in index] if self.profiles else [],
            category=self.category,
        )


@dataclass
class Deviation:
    """One number's deviation from the reference."""

    name: str
    value: float
    reference: float
    scatter: float
    z: float

    def as_dict(self, category: str | None = None) -> dict[str, float | str]:
        label, unit = describe_feature(self.name, category)
        return {
            "metric": self.name,
            "label": label,
            "unit": unit,
            "value": _finite(self.value),
            "reference": _finite(self.reference),
            "scatter": _finite(self.scatter),
            "z": _finite(self.z),
        }


@dataclass
class Explanation:
    """Why a frame got its score: its deviations, largest first, and its nearest reference frames."""

    score: float
    deviations: list[Deviation]
    neighbours: list[tuple[int, float]]


def describe_feature(name: str, category: str | None = None) -> tuple[str, str]:
    """Human label and unit of a quality number or a derived feature of an image category."""
    if name in DERIVED_LABELS:
        return DERIVED_LABELS[name]
    return metric_label(name, category)


def tolerance(name: str, category: str, tolerances=DEFAULT_TOLERANCES) -> tuple[float, float]:
    """The (absolute, relative) floor of the scatter of a number of an image category."""
    for pattern, categories, absolute, relative in tolerances:
        if (categories is None or category in categories) and re.search(pattern, name):
            return absolute, relative
    return 1e-6, 0.01


def normalised(descriptors: np.ndarray) -> np.ndarray:
    """Descriptors scaled to unit length, so that a dot product is a cosine similarity."""
    norms = np.linalg.norm(descriptors, axis=1, keepdims=True)
    return np.divide(descriptors, norms, out=np.zeros_like(descriptors), where=norms > 0)


def profile_shift(profile: np.ndarray, template: np.ndarray, max_shift: int) -> tuple[float, float]:
    """Shift (in samples) that best aligns a profile with a template, and the mismatch left.

    Both are high-passed (minus a running mean) so that orders and lines, not the
    overall illumination, drive the match. The shift is refined to a fraction of a
    sample with a parabola through the correlation peak. The mismatch is one minus the
    correlation coefficient at the best shift.
    """
    a = _high_pass(profile)
    b = _high_pass(template)
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    if n < 8 or not np.any(a) or not np.any(b):
        return 0.0, 0.0
    max_shift = min(max_shift, n // 4)
    lags = np.arange(-max_shift, max_shift + 1)
    corr = np.array([_corr(a, b, lag) for lag in lags])
    best = int(np.nanargmax(corr))
    shift = float(lags[best])
    if 0 < best < len(lags) - 1:
        left, mid, right = corr[best - 1 : best + 2]
        denom = left - 2 * mid + right
        if denom < 0:
            shift += 0.5 * (left - right) / denom
    return shift, float(1.0 - corr[best])


def _high_pass(profile: np.ndarray, width: int = 15) -> np.ndarray:
    values = np.nan_to_num(np.asarray(profile, np.float64))
    if len(values) <= width:
        return values - values.mean()
    kernel = np.ones(width) / width
    smooth = np.convolve(np.pad(values, width // 2, mode="edge"), kernel, mode="valid")[: len(values)]
    return values - smooth


def _corr(a: np.ndarray, b: np.ndarray, lag: int) -> float:
    if lag >= 0:
        x, y = a[lag:], b[: len(b) - lag]
    else:
        x, y = a[: len(a) + lag], b[-lag:]
    sx, sy = x.std(), y.std()
    if sx == 0 or sy == 0:
        return np.nan
    return float(np.mean((x - x.mean()) * (y - y.mean())) / (sx * sy))


class FrameDetector(BaseEstimator):
    """Anomaly detector for the frames of one image type and mode.

    Parameters
    ----------
    neighbours
        Nearest reference descriptors averaged into the descriptor distance.
    min_threshold
        Lowest threshold on the score (in calibrated sigma), whatever the reference says.
    threshold_quantile, threshold_margin
        The threshold is ``threshold_margin`` times this quantile of the reference
        frames' own scores (when that is above ``min_threshold``).
    max_shift
        Largest profile shift searched, in profile samples.
    tolerances
        Floors of the reference scatter per kind of number (see ``DEFAULT_TOLERANCES``).
    """

    def __init__(
        self,
        neighbours: int = 3,
        min_threshold: float = 6.0,
        threshold_quantile: float = 0.9,
        threshold_margin: float = 1.25,
        max_shift: int = 40,
        tolerances: Sequence[tuple[str, frozenset[str] | None, float, float]] = DEFAULT_TOLERANCES,
    ) -> None:
        self.neighbours = neighbours
        self.min_threshold = min_threshold
        self.threshold_quantile = threshold_quantile
        self.threshold_margin = threshold_margin
        self.max_shift = max_shift
        self.tolerances = tolerances

    # fitting -----------------------------------------------------------------------

    def fit(self, X: FrameSet, y: None = None) -> FrameDetector:
        """Learn what normal frames look like from a reference set."""
        if len(X) == 0:
            raise ValueError("a detector needs at least one reference frame")
        self.reference_ids_ = list(X.ids)
        self.category_ = X.category
        has_descriptor = np.isfinite(X.descriptors).all(axis=1) if X.descriptors.size else np.zeros(len(X), bool)
        self.reference_descriptors_ = normalised(X.descriptors[has_descriptor]) if has_descriptor.any() else None
        self.descriptor_ids_ = [i for i, ok in zip(X.ids, has_descriptor) if ok]
        self.templates_ = self._templates(X)
        raw = self._raw_features(X, leave_one_out=True)
        self.feature_names_ = sorted(set().union(*(r.keys() for r in raw)))
        matrix = self._matrix(raw)
        self.center_ = np.nanmedian(matrix, axis=0)
        spread = MAD_TO_SIGMA * np.nanmedian(np.abs(matrix - self.center_), axis=0)
        floors = np.array([self._floor(name, c) for name, c in zip(self.feature_names_, self.center_)])
        self.scale_ = np.fmax(np.nan_to_num(spread), floors)
        z = self._z(matrix)
        tail = np.nanquantile(np.abs(z), 0.9, axis=0) if len(X) >= 3 else np.ones(len(self.feature_names_))
        self.calibration_ = np.fmax(1.0, np.nan_to_num(tail, nan=1.0) / NORMAL_Q90)
        self.reference_scores_ = self._scores(z / self.calibration_)
        quantile = float(np.quantile(self.reference_scores_, self.threshold_quantile))
        self.threshold_ = max(self.min_threshold, self.threshold_margin * quantile)
        return self

    def _floor(self, name: str, center: float) -> float:
        absolute, relative = tolerance(name, self.category_, self.tolerances)
        return max(absolute, relative * abs(center)) if np.isfinite(center) else absolute

    def _templates(self, X: FrameSet) -> dict[str, np.ndarray]:
        if X.category not in PROFILE_CATEGORIES or not X.profiles:
            return {}
        templates = {}
        for axis in ("rows", "cols"):
            stack = [p[axis] for p in X.profiles if axis in p]
            if stack:
                length = min(len(s) for s in stack)
                templates[axis] = np.median(np.stack([s[:length] for s in stack]), axis=0)
        return templates

    # features ----------------------------------------------------------------------

    def _raw_features(self, X: FrameSet, leave_one_out: bool = False) -> list[dict[str, float]]:
        """Quality numbers plus derived features (descriptor distance, profile shifts) per frame."""
        out = []
        distances = self._descriptor_distances(X, leave_one_out)
        for i in range(len(X)):
            features = {k: float(v) for k, v in X.metrics[i].items() if not IGNORED.match(k) and np.isfinite(v)}
            if np.isfinite(distances[i]):
                features["descriptor_distance"] = float(distances[i])
            if self.templates_ and X.profiles:
                for axis, template in self.templates_.items():
                    if axis in X.profiles[i]:
                        shift, mismatch = profile_shift(X.profiles[i][axis], template, self.max_shift)
                        binning = float(X.metrics[i].get(f"profile_bin_{axis}", 1.0))
                        features[f"shift_{axis}"] = shift * binning
                        features[f"profile_mismatch_{axis}"] = mismatch
            out.append(features)
        return out

    def _descriptor_distances(self, X: FrameSet, leave_one_out: bool) -> np.ndarray:
        distances = np.full(len(X), np.nan)
        if self.reference_descriptors_ is None or not X.descriptors.size:
            return distances
        ok = np.isfinite(X.descriptors).all(axis=1)
        if not ok.any():
            return distances
        cosine = 1.0 - normalised(X.descriptors[ok]) @ self.reference_descriptors_.T
        if leave_one_out:
            own = {image_id: j for j, image_id in enumerate(self.descriptor_ids_)}
            for row, image_id in enumerate(np.asarray(X.ids)[ok]):
                if image_id in own:
                    cosine[row, own[image_id]] = np.inf
        k = max(1, min(self.neighbours, cosine.shape[1] - (1 if leave_one_out else 0)))
        nearest = np.sort(cosine, axis=1)[:, :k]
        nearest = np.where(np.isfinite(nearest), nearest, np.nan)
        distances[ok] = np.nanmean(nearest, axis=1) if nearest.size else np.nan
        return distances

    def _matrix(self, raw: list[dict[str, float]]) -> np.ndarray:
        return np.array([[r.get(name, np.nan) for name in self.feature_names_] for r in raw], dtype=np.float64).reshape(
            len(raw), len(self.feature_names_)
        )

    def _z(self, matrix: np.ndarray) -> np.ndarray:
        z = (matrix - self.center_) / self.scale_
        one_sided = np.array([bool(ONE_SIDED.search(n)) for n in self.feature_names_])
        if one_sided.any():
            z[:, one_sided] = np.fmax(z[:, one_sided], 0.0)
        return z

    @staticmethod
    def _scores(z: np.ndarray) -> np.ndarray:
        magnitude = np.abs(z)
        has_any = np.isfinite(magnitude).any(axis=1)
        scores = np.zeros(len(z))
        scores[has_any] = np.nanmax(magnitude[has_any], axis=1)
        return scores

    def _calibrated_z(self, X: FrameSet) -> np.ndarray:
        leave_one_out = bool(set(X.ids) & set(self.reference_ids_))
        return self._z(self._matrix(self._raw_features(X, leave_one_out))) / self.calibration_

    # scikit-learn interface --------------------------------------------------------

    def anomaly_score(self, X: FrameSet) -> np.ndarray:
        """How abnormal each frame is: its largest calibrated |z| (higher is worse).

        Frames that are part of the reference are scored leaving themselves out.
        """
        return self._scores(self._calibrated_z(X))

    def score_samples(self, X: FrameSet) -> np.ndarray:
        """Opposite of :meth:`anomaly_score` (scikit-learn convention: lower is more abnormal)."""
        return -self.anomaly_score(X)

    def decision_function(self, X: FrameSet) -> np.ndarray:
        """Threshold minus score: negative for frames that should be flagged."""
        return self.threshold_ - self.anomaly_score(X)

    def predict(self, X: FrameSet) -> np.ndarray:
        """-1 for anomalous frames, +1 for normal ones."""
        return np.where(self.decision_function(X) < 0, -1, 1)

    def explain(self, X: FrameSet, top: int = 8) -> list[Explanation]:
        """Score, largest deviations and nearest reference frames of each frame."""
        leave_one_out = bool(set(X.ids) & set(self.reference_ids_))
        raw = self._matrix(self._raw_features(X, leave_one_out))
        z = self._z(raw) / self.calibration_
        scores = self._scores(z)
        neighbours = self._neighbours(X, leave_one_out)
        explanations = []
        for i in range(len(X)):
            order = np.argsort(-np.nan_to_num(np.abs(z[i]), nan=-1.0))[:top]
            deviations = [
                Deviation(self.feature_names_[j], raw[i, j], self.center_[j], self.scale_[j] * self.calibration_[j], z[i, j])
                for j in order
                if np.isfinite(z[i, j])
            ]
            explanations.append(Explanation(float(scores[i]), deviations, neighbours[i]))
        return explanations

    def _neighbours(self, X: FrameSet, leave_one_out: bool) -> list[list[tuple[int, float]]]:
        empty: list[list[tuple[int, float]]] = [[] for _ in range(len(X))]
        if self.reference_descriptors_ is None or not X.descriptors.size:
            return empty
        for i in range(len(X)):
            if not np.isfinite(X.descriptors[i]).all():
                continue
            cosine = 1.0 - normalised(X.descriptors[i : i + 1]) @ self.reference_descriptors_.T
            order = np.argsort(cosine[0])
            picks = [(self.descriptor_ids_[j], float(cosine[0, j])) for j in order if not (leave_one_out and self.descriptor_ids_[j] == X.ids[i])]
            empty[i] = picks[: self.neighbours]
        return empty


def _finite(value: float) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None
