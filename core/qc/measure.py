"""The one entry point, :func:`measure_quality`: every quality number and profile of one raw image.

It reads the amplifier layout, takes the levels per amplifier, fits the frame's noise
model, subtracts the bias, cleans cosmic rays and bins the profiles, then measures
structure, illumination and the category's own numbers (orders on flats, lines on arcs).
:data:`QC_VERSION` names the definitions of the numbers: it is stored with them and
bumped whenever one of them changes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .illumination import RATIO_GRID, difference_grid, relative_grid, saturation_level
from .layout import amplifier_layout, data_width
from .levels import amplifier_metrics, distribution, row_samples
from .lines import BinnedArc, dispersion_axis, line_metrics
from .noise import fit_noise_model, read_variance
from .orders import order_metrics
from .stats import dither, finite_values, median, quantile
from .structure import bad_columns, bad_rows, periodic_noise, row_and_column_structure

if TYPE_CHECKING:
    from astropy.io import fits


QC_VERSION = "3"
"""Version of the definitions of the numbers; stored with them, bumped when they change."""


CATEGORIES = frozenset({"bias", "flat", "arc", "dark", "science", "unknown"})
"""Image categories :func:`measure_quality` knows."""


MAX_PROFILE = 1024  # samples per profile at most; longer axes are binned by an integer factor
DITHER_SEED = 0  # the same image always gets the same dither, hence the same numbers


_ILLUMINATED = frozenset({"flat", "arc", "science"})  # level changes from row to row by design


@dataclass(frozen=True)
class Quality:
    """The quality numbers and profiles of one image.

    Attributes
    ----------
    metrics
        Name -> finite value; what cannot be measured on an image is absent. Names are
        a contract (the detector and the reports use them); see :func:`~core.qc.labels.metric_label`.
    profiles
        ``rows``: bias-subtracted mean of each row over the data columns (a function of
        y); ``cols``: mean of each column over the data rows (a function of x). float32,
        binned by the integer factors ``metrics["profile_bin_rows"]`` and
        ``metrics["profile_bin_cols"]`` to at most 1024 samples, cosmic rays removed.
    """

    metrics: dict[str, float]
    profiles: dict[str, np.ndarray]


def measure_quality(image: np.ndarray, header: fits.Header, category: str) -> Quality:
    """Measure the physical quality numbers and profiles of one raw image.

    Parameters
    ----------
    image
        The raw 2-D pixels as read (any dtype; NaN and infinities allowed).
    header
        Its merged header (primary cards updated by the extension's): read for the
        amplifier layout (:func:`~core.qc.layout.amplifier_layout`) and the saturation level
        (``SATURATE``, ``DATAMAX``, ``HIERARCH ESO DET OUTi SATLEVEL``).
    category
        One of :data:`CATEGORIES`; chooses the category's own numbers (flats: flux
        and orders; arcs: flux and lines) and the form of the illumination grid.

    Returns
    -------
    Quality
        Every number that could be measured (see :func:`~core.qc.labels.metric_label` for their
        meaning); a tiny, constant or all-NaN image gives fewer numbers, never an error.

    Raises
    ------
    ValueError
        If ``category`` is unknown or the image is not two-dimensional.
    """
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; known: {', '.join(sorted(CATEGORIES))}")
    raw = _native_2d(image)
    if raw.size == 0:
        return Quality({}, {})
    nonfinite = raw.size - int(np.count_nonzero(np.isfinite(raw))) if raw.dtype.kind == "f" else 0
    metrics: dict[str, float] = {"nan_fraction": 100.0 * nonfinite / raw.size}

    amplifiers = amplifier_layout(header, raw.shape)
    sample, below, step = row_samples(raw, amplifiers)
    rng = np.random.default_rng(DITHER_SEED) if _integer_valued(raw, sample) else None
    dither(sample, rng)
    dither(below, rng)
    biases, numbers = amplifier_metrics(raw, amplifiers, sample, rng)
    metrics.update(numbers)
    values = finite_values(sample)
    if values.size == 0:
        return Quality(_only_finite(metrics), {})
    metrics.update(distribution(values))
    saturation = saturation_level(header, raw.dtype)

    offsets = np.concatenate([np.full(data_width(a), b or 0.0, np.float32) for a, b in zip(amplifiers, biases, strict=True)])
    sample -= offsets
    below -= offsets
    fill = median(sample)
    if nonfinite:
        for part in (sample, below):
            part[~np.isfinite(part)] = fill
    noise = fit_noise_model(sample, below, read_variance(numbers), saturation - float(offsets.max()) - 1.0)
    from .frame_pass import scan_frame  # numba: imported once there are pixels to measure

    scan = scan_frame(raw, amplifiers, biases, fill if nonfinite else None, noise, saturation, category)
    rows, cols = scan.shape
    metrics["max"], metrics["saturated_fraction"] = scan.maximum, 100.0 * scan.saturated / (rows * cols)
    if scan.cosmic_ray_fraction is not None:
        metrics["cosmic_ray_fraction"] = scan.cosmic_ray_fraction
    if category in ("flat", "arc") and None not in biases:
        metrics["flux"], metrics["flux_p99"] = median(sample), quantile(sample, 0.99)

    means = {"rows": scan.row_means, "cols": scan.band_sums.sum(axis=0) / rows}
    factors = {axis: max(1, math.ceil(len(m) / MAX_PROFILE)) for axis, m in means.items()}
    profiles = {axis: _binned(m, factors[axis]) for axis, m in means.items()}
    metrics.update({f"profile_bin_{axis}": float(factor) for axis, factor in factors.items()})

    metrics.update(row_and_column_structure(means["rows"], means["cols"]))
    metrics.update(bad_rows(scan.left, scan.right, noise, rng, check_level=category not in _ILLUMINATED))
    if category not in _ILLUMINATED:
        metrics.update(bad_columns(scan.band_sums, rows, noise))
    metrics.update(periodic_noise(scan.middle))
    if category in RATIO_GRID:
        metrics.update(relative_grid(scan.shape, scan.band_sums, noise))
    else:
        metrics.update(difference_grid(sample, step, scan.shape))
    if category == "flat":
        metrics.update(order_metrics(profiles))
    elif scan.arc_cleaned is not None:
        uncleaned = BinnedArc(scan.arc_factor, scan.arc_mean, scan.arc_peak)
        metrics.update(line_metrics(scan.arc_cleaned, uncleaned, dispersion_axis(profiles, factors)))
    return Quality(_only_finite(metrics), profiles)


def _native_2d(image: np.ndarray) -> np.ndarray:
    """The image as a 2-D array in native byte order (FITS data are big-endian)."""
    raw = np.asarray(image)
    while raw.ndim > 2 and raw.shape[0] == 1:
        raw = raw[0]
    if raw.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {raw.shape}")
    if not raw.dtype.isnative:
        raw = raw.astype(raw.dtype.newbyteorder("="))
    return raw


def _integer_valued(raw: np.ndarray, sample: np.ndarray) -> bool:
    """Whether the pixels are whole ADU: an integer type, or floats that hold integers."""
    if raw.dtype.kind in "iu":
        return True
    values = finite_values(sample)
    return bool(np.array_equal(values, np.rint(values)))


def _only_finite(metrics: Mapping[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if math.isfinite(v)}


def _binned(profile: np.ndarray, factor: int) -> np.ndarray:
    """Means of consecutive groups of ``factor`` samples (the incomplete last group dropped)."""
    n = len(profile) // factor * factor
    return profile[:n].reshape(-1, factor).mean(axis=1).astype(np.float32)
