"""Saturation and large-scale illumination: a 3x3 grid over the data and the gradients across it.

A light leak or an amplifier glow on a bias, a vignetted corner or a lamp that lights the
slit unevenly on a flat, shows as a ninth of the frame departing from the rest. On frames
without light the grid is in ADU (each ninth's median minus the whole frame's); on flats
and arcs it is relative (each ninth's mean over the whole frame's), so that it does not
follow the lamp's brightness. Saturation: the level the header gives (or the data type
holds), the data's maximum and the percentage of pixels at or above that level.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .layout import float_card, int_card
from .noise import NoiseModel
from .stats import median

if TYPE_CHECKING:
    from astropy.io import fits


GRID = 3
RATIO_GRID = frozenset({"flat", "arc"})  # categories whose illumination is cell mean / image mean


def saturation_level(header: fits.Header, dtype: np.dtype) -> float:
    """The level at which the detector saturates: header, else what the data type can hold."""
    for key in ("SATURATE", "DATAMAX"):
        level = float_card(header, key)
        if level is not None:
            return level
    outputs = int_card(header, "HIERARCH ESO DET OUTPUTS") or 0
    levels = [float_card(header, f"HIERARCH ESO DET OUT{i} SATLEVEL") for i in range(1, outputs + 1)]
    levels = [v for v in levels if v is not None]
    if levels:
        return min(levels)
    if dtype.kind in "iu":
        return float(min(65535, np.iinfo(dtype).max))
    return 65535.0


def bands(n: int) -> np.ndarray:
    """Edges of the 3 bands of the grid along an axis of ``n`` pixels."""
    return np.linspace(0, n, GRID + 1).round().astype(int)


def _grid_metrics(cells: np.ndarray, shape: tuple[int, int]) -> dict[str, float]:
    """``grid{r}{c}`` of a 3x3 array and the slopes of a plane fitted to it, per 1000 px."""
    out = {f"grid{r}{c}": float(cells[r, c]) for r in range(GRID) for c in range(GRID)}
    y_edges, x_edges = bands(shape[0]), bands(shape[1])
    y = np.repeat(0.5 * (y_edges[:-1] + y_edges[1:]), GRID)
    x = np.tile(0.5 * (x_edges[:-1] + x_edges[1:]), GRID)
    design = np.column_stack([np.ones(GRID * GRID), x, y])
    (_, slope_x, slope_y), *_ = np.linalg.lstsq(design, cells.ravel(), rcond=None)
    out["gradient_x"], out["gradient_y"] = 1000.0 * slope_x, 1000.0 * slope_y
    return out


def difference_grid(sample: np.ndarray, step: int, shape: tuple[int, int]) -> dict[str, float]:
    """Median of each ninth of the data minus the overall median (ADU): glows and light leaks."""
    row_edges = -(-bands(shape[0]) // step)  # first sample row at or after each band edge
    col_edges = bands(shape[1])
    if np.any(np.diff(row_edges) == 0) or np.any(np.diff(col_edges) == 0):
        return {}
    overall = median(sample)
    cells = np.array(
        [[median(sample[row_edges[r] : row_edges[r + 1], col_edges[c] : col_edges[c + 1]]) for c in range(GRID)] for r in range(GRID)]
    )
    return _grid_metrics(cells - overall, shape)


def relative_grid(shape: tuple[int, int], band_sums: np.ndarray, noise: NoiseModel) -> dict[str, float]:
    """Mean of each ninth of the data over the overall mean: vignetting, lamp illumination.

    Means rather than medians: on echelle flats and arcs a ninth's median falls between
    orders or lines. Not measured when the overall mean is below the read noise.
    """
    rows, cols = shape
    row_edges, col_edges = bands(rows), bands(cols)
    overall = float(band_sums.sum()) / (rows * cols)
    if np.any(np.diff(row_edges) == 0) or np.any(np.diff(col_edges) == 0) or overall <= math.sqrt(noise.read_var):
        return {}
    cells = np.array(
        [
            [
                band_sums[r, col_edges[c] : col_edges[c + 1]].sum()
                / ((row_edges[r + 1] - row_edges[r]) * (col_edges[c + 1] - col_edges[c]))
                for c in range(GRID)
            ]
            for r in range(GRID)
        ]
    )
    return _grid_metrics(cells / overall, shape)
