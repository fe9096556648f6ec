"""Robust statistics shared by the quality numbers: quantiles, robust sigma, neighbour noise, dither.

Raw frames carry cosmic rays, hot columns and saturated pixels, so levels and spreads are
order statistics (median, median absolute deviation) and noise comes from differences of
neighbouring pixels, which structure larger than a pixel does not inflate. They are taken
many times per frame on 10^4-10^6 values, hence single selections rather than
``np.median`` (radix selection, :mod:`~core.qc.selection`, on large float32 arrays).
Integer pixels get a seeded dither first (:func:`dither`) so that the numbers are not
stuck to whole ADU.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

MAD_TO_SIGMA = 1.4826
RADIX_MIN_VALUES = 8192  # below this many float32 values np.partition selects as fast as the radix


def finite_values(values: np.ndarray) -> np.ndarray:
    """The finite values of an array, flattened."""
    flat = values.ravel()
    if flat.dtype.kind != "f":
        return flat
    ok = np.isfinite(flat)
    return flat if ok.all() else flat[ok]


def quantile(values: np.ndarray, q: float) -> float:
    """The value of rank round(q (n - 1)) among the finite values (NaN when there are none).

    One selection, no interpolation: several times faster than ``np.median`` and
    ``np.percentile``, and the same on the 10^4-10^6 values it is used on.
    """
    return quantiles(values, (q,))[0]


def quantiles(values: np.ndarray, qs: Sequence[float]) -> list[float]:
    """:func:`quantile` of each of ``qs``, the values selected together."""
    v = finite_values(values)
    if v.size == 0:
        return [math.nan] * len(qs)
    ranks = [round(q * (v.size - 1)) for q in qs]
    if v.dtype == np.float32 and v.size >= RADIX_MIN_VALUES:
        from .selection import kth_smallest

        return [float(x) for x in kth_smallest(v, ranks)]
    return [float(x) for x in np.partition(v, ranks)[ranks]]


def median(values: np.ndarray) -> float:
    """The median of the finite values as :func:`quantile` takes it: one of them, not interpolated."""
    return quantile(values, 0.5)


def robust_sigma(values: np.ndarray) -> float:
    """1.4826 x the median absolute deviation of the finite values (NaN when there are none)."""
    v = finite_values(values)
    if v.size == 0:
        return math.nan
    return MAD_TO_SIGMA * median(np.abs(v - median(v)))


def difference_sigma(block: np.ndarray, dithered: bool) -> float:
    """Pixel noise from differences of horizontal neighbours: robust sigma / sqrt(2).

    The variance of the dither (1/12 ADU^2 per pixel, see :func:`dither`) is removed.
    """
    if block.shape[1] < 2:
        return math.nan
    with np.errstate(invalid="ignore"):  # inf - inf between non-finite pixels: NaN, left out below
        differences = np.diff(block, axis=1)
    variance = (robust_sigma(differences) / math.sqrt(2.0)) ** 2 - (1 / 12 if dithered else 0.0)
    return math.sqrt(max(variance, 0.0))


def dither(values: np.ndarray, rng: np.random.Generator | None) -> None:
    """Add uniform noise of +-0.5 ADU in place, when ``rng`` is given (integer-valued data).

    Medians of integer data jump by whole ADU (a read noise of 3.0 or 4.2, never 3.4);
    the dither, seeded so that the same image gives the same numbers, makes medians and
    MADs continuous at the cost of 1/12 ADU^2 of variance.
    """
    if rng is not None:
        values += rng.random(values.shape, dtype=np.float32) - np.float32(0.5)


def median_per_row(values: np.ndarray) -> np.ndarray:
    """Median of each row (the lower of the two middle values for an even count).

    One partition per row: ten times faster than ``np.median(axis=1)`` on short rows.
    """
    middle = (values.shape[1] - 1) // 2
    return np.partition(values, middle, axis=1)[:, middle]


def running_median(profile: np.ndarray, window: int) -> np.ndarray:
    """Median of each sample's neighbourhood of ``window`` samples (odd, edges repeated)."""
    from scipy import ndimage

    window = min(window, len(profile)) | 1
    return ndimage.median_filter(profile, size=window, mode="nearest")
