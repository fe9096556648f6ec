"""Row and column structure, corrupted rows, hot and dead columns, periodic pick-up noise.

What the detector's electronics leave on a frame beyond white noise: a fixed pattern or
banding along rows and columns, rows garbled by a read-out or transfer glitch, columns
that are hot or dead, and interference that writes stripes a few pixels apart. Measured
on the bias-subtracted data once cosmic rays are cleaned, against the frame's noise model.
"""

from __future__ import annotations

import math

import numpy as np

from .illumination import bands
from .noise import NoiseModel
from .stats import MAD_TO_SIGMA, dither, median_per_row, robust_sigma, running_median

ROW_SAMPLES = 128  # pairs of neighbouring pixels per row in the corrupted-row test
BAD_ROW_SIGMA = 8.0  # a corrupted row deviates this many robust sigma from its neighbours
BAD_COLUMN_SIGMA = 8.0  # a hot or dead column's mean deviates this many sigma from its neighbours
BAD_COLUMN_WINDOW = 15  # columns of the running median: up to 7 adjacent bad columns stand out
PERIODIC_ROWS = 256  # consecutive rows whose 2-D power spectrum is taken
EULER_GAMMA = 0.5772
PERIODIC_MIN_CYCLES = 8  # slower waves (fewer cycles per row) are left to the structure numbers
PERIODIC_SIGNIFICANT = 3.0  # peak/median power below this: no period is reported


def row_and_column_structure(row_means: np.ndarray, col_means: np.ndarray) -> dict[str, float]:
    """Row and column structure: fixed pattern and banding, not gradients.

    The robust sigma of the row (column) means of the cleaned data around their smooth
    trend: a local quadratic over 1/16 of the axis (Savitzky-Golay) fitted after a
    5-sample running median has removed isolated outliers (hot columns). Means of all
    pixels, not medians of a subsample: a pattern of 0.2 ADU under 3 ADU of read noise
    needs them.
    """
    from scipy import signal

    out = {}
    for name, means in (("row_structure", row_means), ("column_structure", col_means)):
        if len(means) >= 5:
            window = min(max(5, len(means) // 16), len(means))
            window -= 1 - window % 2  # odd, at least 5
            trend = signal.savgol_filter(running_median(means, 5), window, 2, mode="interp")
            out[name] = robust_sigma(means - trend)
    return out


def bad_rows(
    left: np.ndarray, right: np.ndarray, noise: NoiseModel, rng: np.random.Generator | None, check_level: bool
) -> dict[str, float]:
    """Percentage of corrupted rows, from ~128 pairs of neighbouring pixels per row.

    ``left`` holds every row's pixels at columns ``0, s, 2s ...`` (``s = max(1, columns //
    128)``) and ``right`` the pixels just right of them (see
    :class:`~core.qc.frame_pass.FrameScan`). A row is corrupted when its noise (median
    absolute difference of neighbours), relative to the noise model at its median level,
    is 8 robust sigma away from the other rows' (garbage, constant or saturated rows);
    or - on frames without light, where all rows should look alike - when its median is
    8 robust sigma away from the running median of the rows around it (over 1/8 of the
    frame, so that blocks of up to 1/16 of the rows stand out).
    """
    rows, pairs = left.shape
    if rows < 5 or pairs < 1:
        return {}
    difference = right - left
    left = left.copy()
    dither(left, rng)
    dither(difference, rng)
    row_medians = median_per_row(left)
    roughness = median_per_row(np.abs(difference))
    relative = roughness / noise.sigma(row_medians)
    typical = float(np.median(relative))
    log_q = np.log(np.maximum(relative, 1e-3 * typical) if typical > 0 else relative + 1.0)
    deviation = np.abs(log_q - np.median(log_q))
    bad = deviation > BAD_ROW_SIGMA * max(MAD_TO_SIGMA * float(np.median(deviation)), 1.5 / math.sqrt(pairs))
    if check_level:
        residual = row_medians - running_median(row_medians, max(5, rows // 8))
        floor = math.sqrt(math.pi / 2 * noise.read_var / pairs)
        bad |= np.abs(residual) > BAD_ROW_SIGMA * max(robust_sigma(residual), floor)
    return {"bad_row_fraction": 100.0 * float(np.count_nonzero(bad)) / rows}


def bad_columns(band_sums: np.ndarray, rows: int, noise: NoiseModel) -> dict[str, float]:
    """Summed excess level of the hot and dead columns of a frame without light.

    In each third of the rows, a column whose mean stands more than 8 sigma from the
    running median of the 15 columns around it is bad; its excess is what lies beyond
    those 8 sigma, and the number is the sum over the columns of their largest excess
    in any third (a column bad over part of its length counts). A sum of excesses,
    not a count: a warm column flickering around the limit adds almost nothing, a new
    hot column adds its whole level.
    """
    edges = bands(rows)
    heights = np.diff(edges)
    if band_sums.shape[1] < 5 or heights.min() < 1:
        return {}
    excess = np.zeros(band_sums.shape[1])
    for sums, height in zip(band_sums, heights, strict=True):
        means = sums / height
        residual = means - running_median(means, BAD_COLUMN_WINDOW)
        sigma = max(robust_sigma(residual), math.sqrt(noise.read_var / height))
        excess = np.maximum(excess, np.abs(residual) - BAD_COLUMN_SIGMA * sigma)
    return {"bad_column_excess": float(excess[excess > 0].sum())}


def periodic_noise(middle: np.ndarray) -> dict[str, float]:
    """Strength and period of periodic noise: the highest peak of the 2-D power spectrum.

    Pick-up is a wave in read-out time: along a row it has some period, and its phase
    moves on from row to row, so the stripes run slanted. Over a block of consecutive
    rows it is one plane wave, whose power the 2-D spectrum of the block gathers in one
    place, however faint it is in any one row (a tenth of the read noise stands out of
    256 rows of a full-size chip). The block (up to 256 rows of the middle of the chip,
    its column means and each row's mean removed: fixed column and row patterns are the
    structure numbers' business; Hann windows both ways) is transformed; among the
    waves of at least 8 cycles per row (slower ones are left to the structure numbers)
    and of at least 2 cycles up the block, the highest power is divided by what the
    largest of that many powers of white noise would be (the median power / ln 2, times
    ln n + 0.58): white noise gives ~1. The period along the row is given only where
    the peak is significant (ratio >= 3). ``middle`` holds those rows, cleaned
    (:class:`~core.qc.frame_pass.FrameScan`).
    """
    from scipy import fft

    rows, cols = middle.shape
    if cols < 4 * PERIODIC_MIN_CYCLES or rows < 2:
        return {}
    block = middle - middle.mean(axis=0)
    block -= block.mean(axis=1, keepdims=True)
    block *= np.hanning(len(block)).astype(np.float32)[:, None] * np.hanning(cols).astype(np.float32)
    # Waves along the row of 0 to cols/2 cycles, up or down the columns (both slants);
    # not those of under 2 cycles up the block: a column pattern that changes along
    # the columns leaks there through the window, and stripes that do not slant are
    # column structure.
    spectra = np.abs(fft.rfft2(block, workers=1)[2:-1, PERIODIC_MIN_CYCLES:]) ** 2
    typical = float(np.median(spectra))
    if typical <= 0:
        return {}
    peak = int(np.argmax(spectra)) % spectra.shape[1]
    white_peak = typical / math.log(2.0) * (math.log(spectra.size) + EULER_GAMMA)
    ratio = float(spectra.max()) / white_peak
    out = {"periodic_noise": ratio}
    if ratio >= PERIODIC_SIGNIFICANT:
        out["periodic_period"] = cols / (peak + PERIODIC_MIN_CYCLES)
    return out
