"""Arc lines, found in 2-D over the background of orders and scattered light: number, flux, peaks.

An arc lamp that is off or weak, or the wrong lamp, shows in the number of lines and their
total flux; saturated or faint lines in the distribution of their peaks. Lines are found on a
binned copy of the cleaned data, above a background estimated along the dispersion.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .orders import profile_peaks
from .stats import median, robust_sigma

LINE_SIGMA = 10.0  # an arc line stands this many sigma above the background at its peak
LINE_GROW_SIGMA = 3.0  # ... and extends as far as it stays this many sigma above it
LINE_WINDOW = 32  # px along the dispersion over which the arc background is estimated
LINE_MIN_PIXELS = 2  # (binned) pixels of a line at least


def dispersion_axis(profiles: Mapping[str, np.ndarray], factors: Mapping[str, int]) -> int:
    """The axis along which arc lines are narrowest: 1 (x, the ``cols`` profile) or 0 (y).

    Lines are sharp along the dispersion; across it the profile shows the slit or the
    orders, several times wider. x when neither profile has peaks.
    """
    from scipy import signal

    widths = {}
    for axis, name in ((1, "cols"), (0, "rows")):
        profile = profiles[name].astype(np.float64)
        peaks = profile_peaks(profile)
        if peaks.size:
            widths[axis] = float(np.median(signal.peak_widths(profile, peaks, rel_height=0.5)[0])) * factors[name]
    return min(widths, key=widths.__getitem__) if widths else 1


@dataclass(frozen=True)
class BinnedArc:
    """An arc binned ``factor`` x ``factor`` before its cosmic rays are cleaned: block means and maxima.

    :func:`~core.qc.frame_pass.scan_frame` bins arcs by 4 on a full-size frame
    (:func:`~core.qc.frame_pass.arc_bin_factor`).
    """

    factor: int
    mean: np.ndarray
    peak: np.ndarray


def line_metrics(binned: np.ndarray, uncleaned: BinnedArc, axis: int) -> dict[str, float]:
    """Arc lines found in 2-D: number, total flux and 90th percentile of their peaks.

    ``binned`` holds the block means of the cleaned data, binned like ``uncleaned``. The
    background is estimated by a grey opening along the dispersion, ``axis`` (32 px, see
    :func:`dispersion_axis`): lines are narrower than that along the dispersion, the
    continuum of an order and scattered light are not. The opening sits under the noise; the median of the data
    above it is added back. Sigma is the robust sigma of the binned data around the
    background (lines are a minority of the pixels). A line is a connected group of at
    least two binned pixels more than 3 sigma above the background, one of them more
    than 10 sigma (hysteresis: a faint line along the slit stays one line). Lines are
    found after cosmic rays are cleaned (a shower must not pass for a second lamp), but
    their flux (summed above the background) and peak (brightest pixel minus the
    background) are read before, as a line narrower than ~2 px can lose its peak to
    the cleaning.
    """
    from scipy import ndimage

    b = uncleaned.factor
    window = max(5, LINE_WINDOW // b) | 1
    background = _grey_opening(binned, window, axis)
    background += np.float32(median(binned - background))  # the opening sits ~2 sigma under the noise
    excess = binned - background
    sigma = robust_sigma(excess)
    labels, count = ndimage.label(excess > LINE_GROW_SIGMA * sigma, structure=np.ones((3, 3), dtype=bool))
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    seeded = np.zeros(count + 1, dtype=bool)
    seeded[labels[excess > LINE_SIGMA * sigma]] = True
    seeded[0] = False
    seeded &= sizes >= LINE_MIN_PIXELS  # single pixels: hot pixels, what cleaning left of cosmic rays
    lines = seeded[labels]
    flux = float((uncleaned.mean - background)[lines].sum(dtype=np.float64)) * b * b
    out = {"line_count": float(seeded.sum()), "line_flux": flux}
    if seeded.any():
        peaks = ndimage.maximum((uncleaned.peak - background)[lines], labels[lines], np.flatnonzero(seeded))
        out["line_peak_p90"] = float(np.percentile(peaks, 90))
    return out


def _grey_opening(values: np.ndarray, window: int, axis: int) -> np.ndarray:
    """Grey opening along one axis: the running maximum of the running minimum (``window`` odd).

    Removes whatever is narrower than the window and keeps the floor under it.
    """
    eroded = _running_extreme(values, window, axis, np.minimum, np.inf)
    return _running_extreme(eroded, window, axis, np.maximum, -np.inf)


def _running_extreme(values: np.ndarray, window: int, axis: int, ufunc: np.ufunc, pad: float) -> np.ndarray:
    """Minimum or maximum (``ufunc``) over the centred ``window`` of each sample along ``axis``.

    Windows are merged by doubling (log2(window) passes), five times faster than
    ``scipy.ndimage.minimum_filter1d``; beyond the ends the window is cut (``pad``).
    """
    half = window // 2
    moved = np.moveaxis(values, axis, -1)
    n = moved.shape[-1]
    padded = np.full((*moved.shape[:-1], n + 2 * half), pad, dtype=values.dtype)
    padded[..., half : half + n] = moved
    span = 1
    while span < window:
        step = min(span, window - span)
        ufunc(padded[..., :-step], padded[..., step:], out=padded[..., :-step])
        span += step
    return np.moveaxis(padded[..., :n], -1, axis)
