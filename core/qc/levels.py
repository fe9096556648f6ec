"""Levels and noise per amplifier, the distribution of the data, and the bias subtraction.

The first numbers an expert reads on any calibration: each amplifier's bias level and
read-out noise in its overscan, the level and noise of its light-sensitive pixels, and
percentiles of the data, all from a strided subsample of rows (about 2^17 pixels). The
same bias levels are subtracted from the data before the other numbers are measured
(:func:`core.qc.frame_pass.scan_frame`).
"""

from __future__ import annotations

import math

import numpy as np

from .layout import Amplifier, data_width
from .stats import difference_sigma, dither, finite_values, median, quantiles

SAMPLE_PIXELS = 2**17  # data pixels of the strided row subsample used for order statistics
SCAN_PIXELS = 2**15  # overscan pixels per amplifier used for its bias level and read noise


def row_samples(raw: np.ndarray, amplifiers: list[Amplifier]) -> tuple[np.ndarray, np.ndarray, int]:
    """Every ``step``-th row of the data (about 2^17 pixels) and the rows just below them, in float32.

    The amplifiers' data side by side, as in :func:`~core.qc.frame_pass.scan_frame`; the second
    array gives vertical neighbours to the noise model.
    """
    rows = amplifiers[0].data[0]
    step = max(1, math.ceil((rows.stop - rows.start) * sum(map(data_width, amplifiers)) / SAMPLE_PIXELS))
    sample = np.hstack([raw[a.data][::step] for a in amplifiers]).astype(np.float32)
    below = np.hstack([raw[a.data][1::step] for a in amplifiers]).astype(np.float32)
    return sample, below, step


def amplifier_metrics(
    raw: np.ndarray, amplifiers: list[Amplifier], sample: np.ndarray, rng: np.random.Generator | None
) -> tuple[list[float | None], dict[str, float]]:
    """Per amplifier: bias level and read noise in the overscan, level and noise of its sample rows.

    Returns the bias levels (None without overscan) and the numbers, named ``amp{i}.*``.
    """
    biases: list[float | None] = []
    numbers = {}
    column = 0
    for amplifier in amplifiers:
        bias = None
        if amplifier.overscan is not None:
            scan_rows, scan_cols = amplifier.overscan
            pixels = (scan_rows.stop - scan_rows.start) * (scan_cols.stop - scan_cols.start)
            scan = raw[amplifier.overscan][:: max(1, math.ceil(pixels / SCAN_PIXELS))].astype(np.float32)
            dither(scan, rng)
            if finite_values(scan).size:
                bias = median(scan)
                numbers[f"amp{amplifier.name}.bias_level"] = bias
                numbers[f"amp{amplifier.name}.read_noise"] = difference_sigma(scan, rng is not None)
        biases.append(bias)
        data = sample[:, column : column + data_width(amplifier)]
        column += data_width(amplifier)
        if finite_values(data).size:
            numbers[f"amp{amplifier.name}.level"] = median(data)
            numbers[f"amp{amplifier.name}.noise"] = difference_sigma(data, rng is not None)
    return biases, numbers


def distribution(values: np.ndarray) -> dict[str, float]:
    """Median level and percentiles of the raw data values."""
    p01, p05, p50, p95, p99 = quantiles(values, (0.01, 0.05, 0.5, 0.95, 0.99))
    return {"level": p50, "p01": p01, "p05": p05, "p50": p50, "p95": p95, "p99": p99}
