"""The frame's own noise model: variance = read-noise variance + slope x level.

A threshold in sigma must mean the same on a bias (read noise only) and on a bright flat
(photon noise as well), so the cosmic-ray and corrupted-row tests ask this model for the
noise at each pixel's level. It is fitted on pairs of neighbouring pixels in bins of
level (:func:`fit_noise_model`), anchored on the overscans' read noise where the layout
has overscans.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .stats import difference_sigma, median, quantiles, robust_sigma

NOISE_PAIRS = 2**15  # pairs of neighbours in the noise-model fit
NOISE_EDGES = (0.25, 0.5, 0.75, 0.9, 0.97, 0.99, 0.997, 0.999)  # level quantiles between the fit's bins
NOISE_MAX_SLOPE = 10.0  # ADU^2 per ADU (a gain of 0.1 e-/ADU): steeper is structure or garbage


@dataclass(frozen=True)
class NoiseModel:
    """Pixel noise as a function of the bias-subtracted level.

    variance = read_var + slope * (level - pedestal), and read_var below the pedestal:
    the pedestal is 0 where an overscan gave the bias, and the darkest level seen where
    the raw values still carry it.
    """

    read_var: float
    slope: float
    pedestal: float = 0.0

    def sigma(self, level: np.ndarray | float) -> np.ndarray:
        return np.sqrt(self.read_var + self.slope * np.maximum(np.subtract(level, self.pedestal), 0.0))


def read_variance(numbers: Mapping[str, float]) -> float | None:
    """Mean read-noise variance of the amplifiers that have an overscan, None if none has."""
    noise = [v for k, v in numbers.items() if k.endswith(".read_noise") and v > 0]
    return float(np.mean(np.square(noise))) if noise else None


def fit_noise_model(sample: np.ndarray, below: np.ndarray, read_var: float | None, ceiling: float) -> NoiseModel:
    """Fit variance = a + b * level to pairs of neighbouring pixels in bins of level.

    ``a`` is the read-noise variance of the overscans where there are any; ``b`` the
    median slope of the bins clearly above the bias (both by Theil-Sen where there is
    no overscan; ``a`` is then the darkest bin's variance, and the level is counted
    from that bin's, since the raw values still carry the bias): ~0 on a bias; on a
    flat photon noise, ~1 / gain, plus the pixel-to-pixel response; on an arc, what is
    left of the lines' structure too. A slope too steep only makes the cosmic-ray test
    stricter on bright pixels; it is capped at 10 (0.1 e-/ADU), beyond which it is
    made by structure or corrupted rows, not by noise.

    In each 2x2 block (a sample row over the row below it) the horizontal pair is
    binned by the level of the two pixels under it and the vertical pair by the level
    of the two pixels beside it, so that the bin does not select the difference
    (integer pixels: the sum and the difference of a pair have the same parity). In
    each bin the quieter direction counts, so that structure along one axis (arc lines
    along the slit, orders along the rows) does not pass for noise. The bins are finer
    towards the brightest pixels, so that the few lit pixels of an arc still give a
    slope. Blocks with a pixel at or above ``ceiling`` (saturation, bias-subtracted)
    are left out: saturated pixels have no noise.
    """
    from scipy import stats

    thin = max(1, math.ceil(sample.size / (2 * NOISE_PAIRS)))
    top, bottom = sample[: below.shape[0]][::thin], below[::thin]
    a, b, c, d = top[:, 0:-1:2], top[:, 1::2], bottom[:, 0:-1:2], bottom[:, 1::2]
    unsaturated = (np.maximum(np.maximum(a, b), np.maximum(c, d)) < ceiling).ravel()
    pairs = [
        ((b - a).ravel()[unsaturated], (0.5 * (c + d)).ravel()[unsaturated]),
        ((c - a).ravel()[unsaturated], (0.5 * (b + d)).ravel()[unsaturated]),
    ]
    level = pairs[0][1]
    if level.size < 64:
        variance = read_var if read_var else difference_sigma(sample, False) ** 2
        return NoiseModel(variance if variance > 0 else 1.0, 0.0)
    edges = np.array(quantiles(level, NOISE_EDGES))
    # Each direction's pairs sorted by bin once: a bin's pairs are then one slice.
    grouped = []
    for difference, mean in pairs:
        which = np.searchsorted(edges, mean)
        order = np.argsort(which, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(np.bincount(which, minlength=len(NOISE_EDGES) + 1))])
        grouped.append((difference[order], mean[order], bounds))
    found = []  # per bin: (variance, level) of the quieter direction
    for k in range(len(NOISE_EDGES) + 1):
        candidates = []
        for difference, mean, bounds in grouped:
            inside = slice(bounds[k], bounds[k + 1])
            if bounds[k + 1] - bounds[k] >= 16:
                candidates.append((robust_sigma(difference[inside]) ** 2 / 2, median(mean[inside])))
        if candidates:
            found.append(min(candidates))
    variances, centres = np.array(found).T
    if read_var:
        lit = centres > 3 * math.sqrt(read_var)
        slope = float(np.median((variances[lit] - read_var) / centres[lit])) if lit.any() else 0.0
        return NoiseModel(read_var, min(max(slope, 0.0), NOISE_MAX_SLOPE))
    slope = stats.theilslopes(variances, centres)[0] if np.ptp(centres) > 0 else 0.0
    if slope <= 0:
        return NoiseModel(max(float(np.median(variances)), 1e-6), 0.0)
    darkest = int(np.argmin(centres))
    return NoiseModel(max(float(variances[darkest]), 1e-6), min(float(slope), NOISE_MAX_SLOPE), float(centres[darkest]))
