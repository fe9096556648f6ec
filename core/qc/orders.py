"""Echelle orders of flats, from the profiles across the dispersion: how many, and their contrast.

A flat whose orders faded, filled in or are not there (a lamp off, scattered light, the
wrong setting) has another number of orders or a lower peak/valley ratio; shifts of the
orders are measured by the detector on the profiles themselves. :func:`profile_peaks`
also serves the arc lines, to tell the dispersion axis.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from itertools import pairwise

import numpy as np

from .stats import robust_sigma

ORDER_PROMINENCE = 0.1  # an order stands out by this fraction of the profile's range
PEAK_RELATIVE = 0.05  # ... and by this fraction of its own height


def profile_peaks(profile: np.ndarray) -> np.ndarray:
    """Indices of the peaks of a profile that stand out from it.

    A peak must stand out by 10 % of the profile's range, 5 % of its own height and 10
    sigma of the profile's noise.
    """
    from scipy import signal

    if profile.size < 3:
        return np.empty(0, dtype=int)
    low, high = np.percentile(profile, [2, 98])
    with np.errstate(invalid="ignore"):  # inf - inf between non-finite values: NaN, left out by robust_sigma
        noise = robust_sigma(np.diff(profile)) / math.sqrt(2.0)
    prominence = max(ORDER_PROMINENCE * (high - low), 10.0 * noise)
    if not prominence > 0:
        return np.empty(0, dtype=int)
    peaks, properties = signal.find_peaks(profile, prominence=prominence)
    return peaks[properties["prominences"] >= PEAK_RELATIVE * np.abs(profile[peaks])]


def order_metrics(profiles: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Number of orders and their median peak/valley ratio, across the dispersion.

    The cross-dispersion axis is the profile with more peaks (ties: ``rows``, i.e.
    orders stacked in y as on UVES). A peak's valley is the mean of the minima between
    it and its neighbouring peaks (or the profile's ends), floored at 0.1 % of the peak
    so that the ratio stays finite where the gaps between orders are dark.
    """
    found = [(p, profile_peaks(p)) for p in (profiles[a].astype(np.float64) for a in ("rows", "cols"))]
    profile, peaks = max(found, key=lambda f: f[1].size)
    out = {"order_count": float(peaks.size)}
    if peaks.size:
        edges = np.concatenate([[0], peaks, [profile.size]])
        minima = np.array([profile[a:b].min() for a, b in pairwise(edges)])
        heights, valleys = profile[peaks], 0.5 * (minima[:-1] + minima[1:])
        out["order_contrast"] = float(np.median(heights / np.maximum(valleys, 1e-3 * np.abs(heights))))
    return out
