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

import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter1d
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .qc import metric_label

DETECTOR_VERSION = "frame-detector-4"
NORMAL_Q90 = 1.6449
PROFILE_SMOOTHING = 1.0
# Cosine distances below this are the same picture (float noise, a few cosmic rays).
MIN_DISTANCE = 1e-5
MIN_DRIFT_ROWS = 10
SMALL_SAMPLE_WIDENING = 3.0
MAD_TO_SIGMA = 1.4826
MAX_TRIMMING_ROUNDS = 10
# A reference row this many times beyond the threshold of the others is wild: it sets nothing.
OUTLIER_FACTOR = 3.0
MIN_OTHER_ROWS = 8

# Floors of the reference scatter: (name pattern, categories or None for all,
# absolute floor, floor relative to the reference median). The first entry whose
# pattern and category match wins. A floor is the smallest change an expert would
# call real on a reference of a few frames, so that near-identical frames do not
# turn a wobble into a flag; a long reference earns lower floors (FLOOR_SHRINK).
DEFAULT_TOLERANCES: tuple[tuple[str, frozenset[str] | None, float, float], ...] = (
    (r"cosmic_ray_fraction$", None, 0.05, 0.1),
    (r"bad_row_fraction$", None, 0.02, 0.1),
    (r"bad_column_excess$", None, 1.0, 0.02),
    (r"fraction$", None, 0.005, 0.1),
    (r"(read_noise|noise)$", None, 0.02, 0.02),
    (r"(row|column)_structure$", None, 0.02, 0.05),
    (r"periodic_noise$", None, 0.5, 0.1),
    # Sub-pixel drifts merge and split blended arc lines: a tenth of the count comes and goes.
    (r"line_count$", None, 1.0, 0.1),
    (r"count$", None, 1.0, 0.02),
    (r"^grid", frozenset({"flat", "arc"}), 0.005, 0.01),
    (r"^grid", None, 0.3, 0.0),
    (r"^gradient", frozenset({"flat", "arc"}), 0.002, 0.05),
    (r"^gradient", None, 0.05, 0.05),
    # Frames of one night share the drift: their offsets to each other are measured to a hundredth of a pixel.
    (r"^night_shift_", None, 0.1, 0.0),
    (r"^shift_", None, 0.2, 0.0),
    (r"^profile_mismatch", None, 0.005, 0.1),
    (r"^descriptor_distance$", None, 0.25, 0.0),
    # Lamps flicker by a per cent or two from exposure to exposure.
    (r"(flux|flux_p99|line_peak_p90|^p\d\d)$", frozenset({"flat", "arc"}), 0.2, 0.02),
    (r"(level|flux|^p\d\d)$", None, 0.2, 0.002),
    (r"", None, 1e-6, 0.01),
)

# How far a long reference lowers the floors: by STEADY_ROWS / rows (the rows its
# nights replay), down to the lowest factor of the first matching pattern. A
# reference of a hundred frames that shows a steadier instrument than the floors
# assume is believed, so that a faint defect of a few times that scatter (0.4 ADU on
# a bias, 2 % of a lamp's flux, 0.3 px of a shift) stands out; a few frames are not.
# Counts of rare events (bad rows, lines) scatter as Poisson numbers, in steps a
# median cannot follow, and descriptor distances and profile mismatches by factors
# between near-identical frames: their floors stay where they are. Cosmic rays are
# common enough on biases and flats for a long reference to say how many come (a
# shower of a few dozen hits must stand out), but not on arcs, where the sharpest
# line peaks pass for hits as the lines drift across the pixels.
STEADY_ROWS = 4
# Two hits of three pixels more or less are chance, however long the reference.
COSMIC_CHANCE_PIXELS = 6
COSMIC_FRACTION = re.compile(r"cosmic_ray_fraction$")
FLOOR_SHRINK: tuple[tuple[str, frozenset[str] | None, float], ...] = (
    (r"cosmic_ray_fraction$", frozenset({"arc"}), 1.0),
    (r"cosmic_ray_fraction$", None, 0.2),
    (r"(^descriptor_distance|^profile_mismatch_\w+|fraction|excess|count)$", None, 1.0),
    (r"", None, 0.1),
)

# Numbers where only an increase is a defect.
ONE_SIDED = re.compile(
    r"(cosmic_ray_fraction|saturated_fraction|nan_fraction|bad_row_fraction|bad_column_excess|periodic_noise|profile_mismatch_\w+|descriptor_distance)$"
)
# Bookkeeping numbers that are not quality measures.
# ``max`` is one pixel (a cosmic ray on a flat's peak); saturation is counted apart.
IGNORED = re.compile(r"^(profile_bin_\w+|periodic_period|max)$")
# Pickup noise is a few ADU: it matters on biases and darks; the lines and orders of
# lamp frames are periodic themselves. The illumination of an arc is a few bright
# lines: one drifting across the edge of a ninth changes that ninth's mean by tens of
# per cent, so arcs are judged by their lines, not by the grid.
IGNORED_BY_CATEGORY = {
    "flat": re.compile(r"^periodic_noise$"),
    "arc": re.compile(r"^(periodic_noise|grid\d\d|gradient_\w)$"),
}
PROFILE_CATEGORIES = frozenset({"flat", "arc"})
DESCRIPTOR_FEATURE = "descriptor_distance"
DERIVED_LABELS = {
    "descriptor_distance": ("descriptor distance to the nearest reference frames (the image looks unlike them)", ""),
    "shift_rows": ("shift of the {pattern} in y (up the columns)", "px"),
    "shift_cols": ("shift of the {pattern} in x (along the rows)", "px"),
    "profile_mismatch_rows": ("mismatch of the {pattern} in y after alignment (profile of the row means)", ""),
    "profile_mismatch_cols": ("mismatch of the {pattern} in x after alignment (profile of the column means)", ""),
}
PATTERNS = {"flat": "orders or illumination", "arc": "arc lines"}

# Frames of one calibration sequence (a night's biases, flats or arcs of one mode) are
# taken minutes apart: what drifts from night to night (bias offsets, lamp flux, order
# and line positions) is nearly the same in all of them, so one frame that differs from
# its night's others by a fraction of the nightly drift is suspect. These numbers are
# also compared with what the frame's night says (:func:`_add_night_features`), as
# ``night_<name>``, when the night has at least NIGHT_SIBLINGS frames of the type and mode.
NIGHT_PREFIX = "night_"
NIGHT_SIBLINGS = 2
HISTORY_VOTES = 2
# A frame this many times past the threshold on its own numbers is broken: it never stands for its night.
BROKEN_FACTOR = 10.0
NIGHT_COMPARED = re.compile(r"((^|\.)(level|bias_level)|^flux|^flux_p99|^line_flux|^line_peak_p90|^shift_rows|^shift_cols)$")


@dataclass
class FrameSet:
    """The features of a set of frames of one type and mode, as the detector reads them.

    Attributes
    ----------
    ids
        Image ids (used to name nearest neighbours).
    nights
        The night of each frame (``YYYY-MM-DD``): the reference follows slow drifts by
        predicting each night from the nights before it.
    metrics
        One mapping of quality numbers per frame.
    descriptors
        ``(n, dim)`` descriptors, or None where a frame has none (rows of NaN).
    profiles
        One mapping of 1-D profiles per frame (``rows``, ``cols``) and bin factors in metrics.
    category
        bias, flat, arc ...: profiles are compared for flats and arcs only.
    pixels
        Pixels of one frame (the frames of a type and mode share a shape), if known:
        one cosmic ray is a larger share of a small frame's pixels.
    """

    ids: list[int]
    nights: list[str]
    metrics: list[Mapping[str, float]]
    descriptors: np.ndarray
    profiles: list[Mapping[str, np.ndarray]] = field(default_factory=list)
    category: str = "unknown"
    pixels: int | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def in_nights(self, nights: Sequence[str]) -> FrameSet:
        """The frames taken in the given nights."""
        wanted = set(nights)
        return self.subset([i for i, night in enumerate(self.nights) if night in wanted])

    def without(self, image_id: int) -> FrameSet:
        """All frames but one."""
        return self.subset([i for i, other in enumerate(self.ids) if other != image_id])

    def subset(self, index: Sequence[int]) -> FrameSet:
        """The frames at the given positions."""
        index = list(index)
        return FrameSet(
            ids=[self.ids[i] for i in index],
            nights=[self.nights[i] for i in index],
            metrics=[self.metrics[i] for i in index],
            descriptors=self.descriptors[index],
            profiles=[self.profiles[i] for i in index] if self.profiles else [],
            category=self.category,
            pixels=self.pixels,
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
    """Why a frame got its score: its deviations, largest first, its nearest reference frames,
    the threshold it is judged by, and the threshold its reference's own scores call for
    (``history_threshold``; the threshold is that or the detector's floor, whichever is higher),
    and every calibrated z-score by feature name (``z``: what a trained model reads)."""

    score: float
    deviations: list[Deviation]
    neighbours: list[tuple[int, float]]
    threshold: float
    history_threshold: float
    z: dict[str, float] = field(default_factory=dict)


def describe_feature(name: str, category: str | None = None) -> tuple[str, str]:
    """Human label and unit of a quality number or a derived feature of an image category."""
    if name.startswith(NIGHT_PREFIX):
        label, unit = describe_feature(base_name(name), category)
        return f"{label}, against the night's other frames", unit
    if name in DERIVED_LABELS:
        label, unit = DERIVED_LABELS[name]
        return label.format(pattern=PATTERNS.get(category or "", "pattern")), unit
    return metric_label(name, category)


def base_name(name: str) -> str:
    """The quality number a feature is about: ``night_shift_cols`` is about ``shift_cols``."""
    return name.removeprefix(NIGHT_PREFIX)


def tolerance(name: str, category: str, tolerances=DEFAULT_TOLERANCES) -> tuple[float, float]:
    """The (absolute, relative) floor of the scatter of a number of an image category."""
    for pattern, categories, absolute, relative in tolerances:
        if (categories is None or category in categories) and re.search(pattern, name):
            return absolute, relative
    return 1e-6, 0.01


def floor_shrink(name: str, rows: int, category: str | None = None) -> float:
    """The factor on a number's floor of an image category for a reference that replays ``rows`` rows (1 for a short one)."""
    lowest = next(
        factor
        for pattern, categories, factor in FLOOR_SHRINK
        if (categories is None or category in categories) and re.search(pattern, name)
    )
    return max(lowest, min(1.0, STEADY_ROWS / max(rows, 1)))


def normalised(descriptors: np.ndarray) -> np.ndarray:
    """Descriptors scaled to unit length, so that a dot product is a cosine similarity."""
    norms = np.linalg.norm(descriptors, axis=1, keepdims=True)
    return np.divide(descriptors, norms, out=np.zeros_like(descriptors), where=norms > 0)


def profile_shift(profile: np.ndarray, template: np.ndarray, max_shift: int) -> tuple[float, float]:
    """Shift (in samples) that best aligns a profile with a template, and the mismatch left.

    Both are high-passed (minus a running mean) so that orders and lines, not the
    overall illumination, drive the match, smoothed by a Gaussian of one sample, and
    standardised. The correlation at each integer lag is the mean product over the
    overlap; a parabola through the peak refines the shift to a fraction of a sample.
    The mismatch is one minus the correlation once the profile is moved by that
    fractional shift (a Fourier shift), so that a sub-sample drift of narrow lines is
    not taken for a change of their pattern.
    """
    n = min(len(profile), len(template))
    if n < 8:
        return 0.0, 0.0
    a = _standardised(gaussian_filter1d(_high_pass(profile[:n]), PROFILE_SMOOTHING))
    b = _standardised(gaussian_filter1d(_high_pass(template[:n]), PROFILE_SMOOTHING))
    if not np.any(a) or not np.any(b):
        return 0.0, 0.0
    max_shift = min(max_shift, n // 4)
    full = np.correlate(a, b, mode="full")
    lags = np.arange(-(n - 1), n)
    window = np.abs(lags) <= max_shift
    corr = full[window] / (n - np.abs(lags[window]))
    lags = lags[window]
    best = int(np.argmax(corr))
    shift = float(lags[best])
    if 0 < best < len(lags) - 1:
        left, mid, right = corr[best - 1 : best + 2]
        denom = left - 2 * mid + right
        if denom < 0:
            shift += 0.5 * (left - right) / denom
    aligned = np.fft.irfft(np.fft.rfft(a) * np.exp(2j * np.pi * np.fft.rfftfreq(n) * shift), n)
    inner = slice(int(np.ceil(abs(shift))) + 1, n - int(np.ceil(abs(shift))) - 1)
    match = np.corrcoef(aligned[inner], b[inner])[0, 1] if inner.stop - inner.start > 4 else corr[best]
    return shift, float(1.0 - min(np.nan_to_num(match), 1.0))


def _high_pass(profile: np.ndarray, width: int = 15) -> np.ndarray:
    values = np.nan_to_num(np.asarray(profile, np.float64))
    if len(values) <= width:
        return values - values.mean()
    kernel = np.ones(width) / width
    smooth = np.convolve(np.pad(values, width // 2, mode="edge"), kernel, mode="valid")[: len(values)]
    return values - smooth


def _standardised(values: np.ndarray) -> np.ndarray:
    spread = values.std()
    return (values - values.mean()) / spread if spread > 0 else np.zeros_like(values)


@dataclass
class _Normal:
    """What normal frames look like, from some reference frames: the state a frame is compared with."""

    ids: list[int]
    metrics: dict[str, float]
    templates: dict[str, np.ndarray]
    descriptors: np.ndarray | None
    descriptor_ids: list[int]


class FrameDetector(BaseEstimator):
    """Anomaly detector for the frames of one image type and mode.

    Every frame is compared with the frames of the ``recent_nights`` nights before it:
    its quality numbers with their medians, its descriptor with their nearest
    descriptors, its profiles with their median profiles. Fitting replays this on
    the reference itself (each reference night predicted from the nights before it),
    which says how far good frames stray from such a prediction: that scatter, with
    a floor per kind of number, scales the z-scores. The reference thus follows slow
    drifts (lamp ageing, temperature) instead of flagging them. A reference too short
    for that (one night, or fewer than ``MIN_DRIFT_ROWS`` frames after its first
    night) is compared frame by frame with the rest of itself.

    Parameters
    ----------
    neighbours
        Nearest reference descriptors averaged into the descriptor distance.
    recent_nights
        Nights before a frame that say what it should look like.
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
        recent_nights: int = 7,
        min_threshold: float = 6.0,
        threshold_quantile: float = 0.9,
        threshold_margin: float = 1.25,
        max_shift: int = 40,
        tolerances: Sequence[tuple[str, frozenset[str] | None, float, float]] = DEFAULT_TOLERANCES,
    ) -> None:
        self.neighbours = neighbours
        self.recent_nights = recent_nights
        self.min_threshold = min_threshold
        self.threshold_quantile = threshold_quantile
        self.threshold_margin = threshold_margin
        self.max_shift = max_shift
        self.tolerances = tolerances

    # fitting -----------------------------------------------------------------------

    def fit(self, X: FrameSet, y: None = None) -> FrameDetector:
        """Learn what normal frames look like, and how far good frames stray from it."""
        if len(X) == 0:
            raise ValueError("a detector needs at least one reference frame")
        self.category_ = X.category
        nights = sorted(set(X.nights))
        rows, row_ids = [], []
        for k in range(1, len(nights)):
            earlier = X.in_nights(nights[max(0, k - self.recent_nights) : k])
            tonight = X.in_nights([nights[k]])
            rows.extend(features for features, _ in self._compare(tonight, earlier))
            row_ids.extend(tonight.ids)
        if len(rows) >= MIN_DRIFT_ROWS:
            self.normal_frames_ = X.in_nights(nights[-self.recent_nights :])
        else:
            # Too little history to replay: each frame against the other nights (or,
            # with a single night, against the other frames of it).
            self.normal_frames_ = X
            rows = [features for features, _ in self._compare(X, X, leave_night_out=len(nights) >= 2)]
            row_ids = list(X.ids)
        self.feature_names_ = sorted(set().union(*(r.keys() for r in rows)))
        matrix = self._matrix([{k: v[2] for k, v in r.items()} for r in rows])
        typical = np.nanmedian(self._matrix([{k: v[0] for k, v in r.items()} for r in rows]), axis=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a number no reference frame has: all-NaN column
            self.center_ = np.nanmedian(matrix, axis=0)
            spread = MAD_TO_SIGMA * np.nanmedian(np.abs(matrix - self.center_), axis=0)
        shrunk = [self._floor(name, t) * floor_shrink(name, len(rows), self.category_) for name, t in zip(self.feature_names_, typical)]
        floors = np.array([max(floor, self._chance_floor(name, X.pixels)) for name, floor in zip(self.feature_names_, shrunk)])
        # A scatter measured on few frames is uncertain: widen it rather than trust it.
        self.scale_ = np.fmax(np.nan_to_num(spread), floors) * (1.0 + SMALL_SAMPLE_WIDENING / max(len(rows), 1))
        self.reference_z_ = self._z(matrix)
        self.reference_rows_ = {image_id: i for i, image_id in enumerate(row_ids)}
        self.inliers_ = self._inliers(self.reference_z_)
        self.calibration_ = self._calibration(self.reference_z_[self.inliers_])
        self.reference_scores_ = self._scores(self.reference_z_ / self.calibration_)
        self.history_threshold_ = self._history_threshold(self.reference_scores_[self.inliers_])
        self.threshold_ = max(self.min_threshold, self.history_threshold_)
        return self

    def _calibrated_for(self, image_id: int) -> tuple[np.ndarray, float, float]:
        """The calibration, threshold and history's threshold (before the floor) a frame is judged by.

        A frame that is itself one of the reference's rows (a night compared with its
        own frames, the first nights of an installation) is judged by the other rows
        only: otherwise a wild frame widens its own numbers' calibration and raises its
        own threshold. With fewer than ``MIN_OTHER_ROWS`` other rows there is too little
        to judge by, and the frame's own row stays in (a frame of a three-frame night is
        not flagged for a wobble the other two happen not to share).
        """
        row = self.reference_rows_.get(image_id)
        if row is None or len(self.reference_z_) - 1 < MIN_OTHER_ROWS:
            return self.calibration_, self.threshold_, self.history_threshold_
        others = np.delete(self.reference_z_, row, axis=0)
        inliers = self._inliers(others)
        calibration = self._calibration(others[inliers])
        history = self._history_threshold(self._scores(others / calibration)[inliers])
        return calibration, max(self.min_threshold, history), history

    def _calibration(self, z: np.ndarray) -> np.ndarray:
        """Per feature, how much wider than a normal distribution good frames' z-scores spread."""
        if len(z) < 3:
            return np.ones(z.shape[1])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: no calibration
            tail = np.nanquantile(np.abs(z), 0.9, axis=0)
        return np.fmax(1.0, np.nan_to_num(tail, nan=1.0) / NORMAL_Q90)

    def _threshold(self, scores: np.ndarray) -> float:
        return max(self.min_threshold, self._history_threshold(scores))

    def _history_threshold(self, scores: np.ndarray) -> float:
        """The threshold the reference's own scores call for, before the floor ``min_threshold``."""
        quantile = float(np.quantile(scores, self.threshold_quantile)) if len(scores) else 0.0
        return self.threshold_margin * quantile

    def _inliers(self, z: np.ndarray) -> np.ndarray:
        """The reference rows that may say how far good frames stray: the outliers among them may not.

        A threshold set by the frames it exists to find lets them through (a third of a
        night's frames wild makes its 90th percentile wild). The rows are trimmed as in a
        forward search: start from the better-scoring half, then repeatedly calibrate and
        threshold on the current inliers and keep every row within ``OUTLIER_FACTOR`` times
        that threshold, until the set stops changing. Good frames, heavy-tailed numbers
        included, come back in as the calibration widens, so that a clean reference keeps
        every row; only frames far beyond every good one stay out.
        """
        n = len(z)
        if n < 4:
            return np.ones(n, bool)
        raw = self._scores(z)
        inliers = raw <= np.median(raw)
        for _ in range(MAX_TRIMMING_ROUNDS):
            calibrated = self._scores(z / self._calibration(z[inliers]))
            updated = calibrated <= OUTLIER_FACTOR * self._threshold(calibrated[inliers])
            if (updated == inliers).all():
                break
            inliers = updated
        return inliers

    @staticmethod
    def _chance_floor(name: str, pixels: int | None) -> float:
        """The floor no reference lowers: for the cosmic-ray fraction, ``COSMIC_CHANCE_PIXELS`` of the frame's pixels, in per mille."""
        return 1000.0 * COSMIC_CHANCE_PIXELS / pixels if pixels and COSMIC_FRACTION.search(name) else 0.0

    def _floor(self, name: str, typical: float) -> float:
        absolute, relative = tolerance(name, self.category_, self.tolerances)
        return max(absolute, relative * abs(typical)) if np.isfinite(typical) else absolute

    def _normal(self, X: FrameSet) -> _Normal:
        """Medians, median profiles and descriptors of some frames."""
        metrics = _medians(X.metrics)
        templates = {}
        if X.category in PROFILE_CATEGORIES and X.profiles:
            for axis in ("rows", "cols"):
                stack = [p[axis] for p in X.profiles if axis in p]
                if stack:
                    length = min(len(s) for s in stack)
                    templates[axis] = np.median(np.stack([s[:length] for s in stack]), axis=0)
        ok = np.isfinite(X.descriptors).all(axis=1) if X.descriptors.size else np.zeros(len(X), bool)
        return _Normal(
            ids=list(X.ids),
            metrics=metrics,
            templates=templates,
            descriptors=normalised(X.descriptors[ok].astype(np.float64)) if ok.any() else None,
            descriptor_ids=[i for i, good in zip(X.ids, ok) if good],
        )

    # features ----------------------------------------------------------------------

    def _compare(
        self, X: FrameSet, normal_frames: FrameSet, leave_night_out: bool = False
    ) -> list[tuple[dict[str, tuple[float, float, float]], list[tuple[int, float]]]]:
        """Each frame against the normal state of ``normal_frames``: its features and nearest normal frames.

        A frame that is itself among the normal frames is compared with the others
        (with ``leave_night_out``, with the frames of the other nights: frames of one
        night resemble each other more than frames of different nights do).
        """
        normal = self._normal(normal_frames)
        own = set(normal_frames.ids)
        out = []
        for i in range(len(X)):
            state = normal
            if leave_night_out:
                state = self._normal(normal_frames.subset([j for j, night in enumerate(normal_frames.nights) if night != X.nights[i]]))
            elif X.ids[i] in own and len(own) > 1:
                state = self._normal(normal_frames.without(X.ids[i]))
            out.append(self._frame_features(X.subset([i]), state))
        features = [features for features, _ in out]
        _add_night_features(X.nights, features, self._broken(features))
        return out

    def _broken(self, features: Sequence[dict[str, tuple[float, float, float]]]) -> list[bool] | None:
        """Whether each frame is far past the threshold on its own numbers (None before the detector is fitted).

        Such a frame (saturated, of another type, without light: ``BROKEN_FACTOR``
        times the threshold or more) cannot stand for its night's normal: what it
        measures of the night's drift means nothing. A frame only a little past the
        threshold still measures the rest of the night's drift as well as any.
        """
        if not hasattr(self, "scale_"):
            return None
        z = self._z(self._matrix([{k: v[2] for k, v in f.items()} for f in features])) / self.calibration_
        return [bool(score > BROKEN_FACTOR * self.threshold_) for score in self._scores(z)]

    def _frame_features(self, frame: FrameSet, normal: _Normal) -> tuple[dict[str, tuple[float, float, float]], list[tuple[int, float]]]:
        """Per feature (value, what normal frames have, residual), and the nearest normal frames."""
        features: dict[str, tuple[float, float, float]] = {}
        ignored = IGNORED_BY_CATEGORY.get(self.category_)
        for name, value in frame.metrics[0].items():
            if IGNORED.match(name) or (ignored and ignored.match(name)) or not np.isfinite(value) or name not in normal.metrics:
                continue
            features[name] = (float(value), normal.metrics[name], float(value) - normal.metrics[name])
        distance, neighbours = self._nearest(frame.descriptors[0], normal)
        if np.isfinite(distance):
            # Distances scatter by factors, not by amounts: compared on a log scale.
            features[DESCRIPTOR_FEATURE] = (distance, np.nan, float(np.log10(max(distance, MIN_DISTANCE))))
        for axis, template in normal.templates.items():
            if axis in frame.profiles[0]:
                shift, mismatch = profile_shift(frame.profiles[0][axis], template, self.max_shift)
                binning = float(frame.metrics[0].get(f"profile_bin_{axis}", 1.0))
                features[f"shift_{axis}"] = (shift * binning, 0.0, shift * binning)
                features[f"profile_mismatch_{axis}"] = (mismatch, np.nan, mismatch)
        return features, neighbours

    def _nearest(self, descriptor: np.ndarray, normal: _Normal) -> tuple[float, list[tuple[int, float]]]:
        """Mean cosine distance to the nearest normal descriptors, and those frames with their distances."""
        if normal.descriptors is None or not np.isfinite(descriptor).all():
            return np.nan, []
        cosine = 1.0 - normal.descriptors @ normalised(descriptor[None].astype(np.float64))[0]
        order = np.argsort(cosine)[: self.neighbours]
        return float(np.mean(cosine[order])), [(normal.descriptor_ids[j], float(cosine[j])) for j in order]

    def _matrix(self, rows: list[dict[str, float]]) -> np.ndarray:
        return np.array([[r.get(name, np.nan) for name in self.feature_names_] for r in rows], dtype=np.float64).reshape(
            len(rows), len(self.feature_names_)
        )

    def _z(self, matrix: np.ndarray) -> np.ndarray:
        z = (matrix - self.center_) / self.scale_
        one_sided = np.array([bool(ONE_SIDED.search(n)) for n in self.feature_names_], dtype=bool)
        if one_sided.any():
            # np.maximum keeps NaN: a number the frame lacks stays missing instead of becoming 0.
            z[:, one_sided] = np.maximum(z[:, one_sided], 0.0)
        return z

    @staticmethod
    def _scores(z: np.ndarray) -> np.ndarray:
        magnitude = np.abs(z)
        has_any = np.isfinite(magnitude).any(axis=1)
        scores = np.zeros(len(z))
        scores[has_any] = np.nanmax(magnitude[has_any], axis=1)
        return scores

    # scikit-learn interface --------------------------------------------------------

    def anomaly_score(self, X: FrameSet) -> np.ndarray:
        """How abnormal each frame is: its largest calibrated |z| (higher is worse).

        Frames that are part of the reference are scored leaving themselves out.
        """
        return np.array([e.score for e in self.explain(X)])

    def score_samples(self, X: FrameSet) -> np.ndarray:
        """Opposite of :meth:`anomaly_score` (scikit-learn convention: lower is more abnormal)."""
        return -self.anomaly_score(X)

    def decision_function(self, X: FrameSet) -> np.ndarray:
        """Threshold minus score: negative for frames that should be flagged."""
        return np.array([e.threshold - e.score for e in self.explain(X)])

    def predict(self, X: FrameSet) -> np.ndarray:
        """-1 for anomalous frames, +1 for normal ones."""
        return np.where(self.decision_function(X) < 0, -1, 1)

    def explain(self, X: FrameSet, top: int = 8) -> list[Explanation]:
        """Score, threshold, largest deviations and nearest recent reference frames of each frame."""
        explanations = []
        for image_id, (features, neighbours) in zip(X.ids, self._compare(X, self.normal_frames_)):
            calibration, threshold, history_threshold = self._calibrated_for(image_id)
            z = (self._z(self._matrix([{k: v[2] for k, v in features.items()}])) / calibration)[0]
            deviations: list[Deviation] = []
            for j in np.argsort(-np.nan_to_num(np.abs(z), nan=-1.0)):
                if not np.isfinite(z[j]) or len(deviations) == top:
                    break
                name = self.feature_names_[j]
                value, normal_value, _ = features[name]
                if name == DESCRIPTOR_FEATURE:
                    reference = 10.0 ** self.center_[j]
                elif np.isfinite(normal_value):
                    reference = normal_value + self.center_[j]
                else:
                    reference = self.center_[j]
                _add_distinct(deviations, Deviation(name, value, reference, self.scale_[j] * calibration[j], z[j]))
            score = float(self._scores(z[None])[0])
            every = {name: float(value) for name, value in zip(self.feature_names_, z) if np.isfinite(value)}
            explanations.append(Explanation(score, deviations, neighbours, float(threshold), float(history_threshold), every))
        return explanations


def _add_night_features(
    nights: Sequence[str], features: Sequence[dict[str, tuple[float, float, float]]], broken: Sequence[bool] | None = None
) -> None:
    """Add, in place, each frame's drifting numbers against the other frames of its night (``night_<name>``).

    A number's residual against the history (value minus the history's prediction) is
    compared with the night's central residual: the median of the residuals of the
    night's frames, the frame judged among them, and of the history's own, zero,
    counted as ``HISTORY_VOTES`` frames, moved to the nearest residual of a frame of
    the night. The judged frame's vote keeps one odd frame among three from moving the
    others' residuals; the history's votes decide a night of two (the frame that left
    both the other and the history is the odd one) and keep two odd frames among three
    from dragging the third off; taking a frame's own value keeps the nightly drift,
    shared by the night's frames, out of every residual. Where the history's votes
    chose the central frame (the night had no majority), a frame is odd against its
    night only as far as it is also off the history's prediction: between two frames
    that disagree, the one nearer the history is not thereby right. That central frame's own
    comparison is missing (NaN): it is zero by construction, and zeros would shrink
    the scatter the others are judged by. ``broken`` frames (far out on their own
    numbers) neither vote nor stand for the night while the night has others.
    """
    by_night: dict[str, list[int]] = {}
    for i, night in enumerate(nights):
        by_night.setdefault(night, []).append(i)
    for members in by_night.values():
        if len(members) < NIGHT_SIBLINGS:
            continue
        names = {name for i in members for name in features[i] if NIGHT_COMPARED.search(name)}
        for name in names:
            present = [i for i in members if name in features[i] and np.isfinite(features[i][name][2])]
            if len(present) < NIGHT_SIBLINGS:
                continue
            residuals = np.array([features[i][name][2] for i in present])
            voters = np.array([broken is None or not broken[i] for i in present])
            if not voters.any():
                voters[:] = True
            middle = float(np.median(np.concatenate([residuals[voters], np.zeros(HISTORY_VOTES)])))
            chosen = int(np.argmin(np.where(voters, np.abs(residuals - middle), np.inf)))
            central = float(residuals[chosen])
            by_history = not np.isin(middle, residuals[voters])
            for k, (i, residual) in enumerate(zip(present, residuals)):
                value, _, _ = features[i][name]
                offset = float(residual - central)
                if by_history:
                    offset = math.copysign(min(abs(offset), abs(float(residual))), offset)
                # The central frame is the night's reference: its own residual says nothing.
                features[i][NIGHT_PREFIX + name] = (value, value - offset, offset if k != chosen else np.nan)


def _add_distinct(deviations: list[Deviation], deviation: Deviation) -> None:
    """Append a deviation unless the same number is already listed under another name.

    The median is also the level, and a single amplifier's level is the image's: the
    reasons name it once, by the plainest name (the image's rather than an amplifier's).
    """
    for i, listed in enumerate(deviations):
        if np.isclose(listed.value, deviation.value, rtol=1e-9, atol=0.0) and np.isclose(listed.z, deviation.z, rtol=1e-9, atol=1e-12):
            if _plainness(deviation.name) < _plainness(listed.name):
                deviations[i] = deviation
            return
    deviations.append(deviation)


def _plainness(name: str) -> tuple[bool, bool, int]:
    return name.startswith("amp"), name == "p50", len(name)


def _medians(metrics: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """The median of each number over the frames that have it finite (as ``np.median`` of those values).

    All numbers at once: a column per number, sorted, the middle one or the mean of the
    two middle ones. Scoring takes these medians of thousands of reference sets.
    """
    names = sorted(set().union(*(m.keys() for m in metrics))) if metrics else []
    if not names:
        return {}
    table = np.array([[m.get(name, np.nan) for name in names] for m in metrics], np.float64)
    table[~np.isfinite(table)] = np.nan
    table.sort(axis=0)
    counts = np.count_nonzero(~np.isnan(table), axis=0)
    columns = np.arange(len(names))
    lower = table[np.maximum(counts - 1, 0) // 2, columns]
    upper = table[counts // 2, columns]
    middle = np.where(counts % 2 == 1, upper, (lower + upper) / 2)
    return {name: float(value) for name, value, n in zip(names, middle, counts) if n}


def _finite(value: float) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None


class TypeClassifier(ClassifierMixin, BaseEstimator):
    """Which image type and mode a frame's pixels look like, from its descriptor.

    Descriptors are standardised dimension by dimension (ResNet features share a
    large common part; what tells types apart is in how each feature departs from
    its usual value) and classified by a distance-weighted vote of the nearest
    reference frames. Fitted on the recent history of every type and mode of an
    instrument, it says when a frame's pixels belong to another type than its header
    claims (a flat under a bias header, a frame of another grating setting).

    Parameters
    ----------
    neighbours
        Frames voting on each prediction.
    """

    def __init__(self, neighbours: int = 5) -> None:
        self.neighbours = neighbours

    def fit(self, X: np.ndarray, y: Sequence[str]) -> TypeClassifier:
        """Learn the look of each class from descriptors ``X`` and class names ``y``."""
        self.model_ = make_pipeline(
            StandardScaler(), KNeighborsClassifier(n_neighbors=min(self.neighbours, len(X)), weights="distance")
        ).fit(np.asarray(X, np.float64), list(y))
        self.classes_ = self.model_.classes_
        self.n_features_in_ = self.model_.n_features_in_
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Vote shares of every class, one row per frame (columns in ``classes_`` order)."""
        return self.model_.predict_proba(np.asarray(X, np.float64))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The most likely class of each frame."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
