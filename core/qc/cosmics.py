"""Cosmic rays: found against the frame's noise model, counted, and cleaned away.

Their load is a quality number of its own (a shower, a long exposure), and they are
removed before profiles, structure, grids and arc lines are measured, or a hit would pass
for a hot column, a corrupted row or an arc line.
"""

from __future__ import annotations

import math

import numpy as np

from .noise import NoiseModel

BLOCK_ROWS = 64  # rows per block of the full-frame cosmic-ray test (fits the CPU cache)
COSMIC_SIGMA = 8.0  # a cosmic ray stands this many sigma above its neighbours
COSMIC_SPREAD = 1.16  # sigma of the neighbour test, in units of the pixel noise
COSMIC_GROWTH = 1  # times the test is repeated around the hits once they are cleaned (not on arcs)


def clean_cosmic_rays(data: np.ndarray, noise: NoiseModel, growth: int) -> float | None:
    """Replace cosmic rays by their neighbours' level, in place; return their per mille of the pixels.

    A pixel is a cosmic ray (or a hot pixel) when it exceeds the brighter of the mean
    of its upper and lower neighbours and the mean of its left and right neighbours by
    more than 8 sigma (of this difference, 1.16 pixel sigma, at the neighbours' level).
    Taking the brighter direction leaves features extended along a row or a column
    alone (orders, arc lines, hot columns); a hit of two adjacent pixels still stands
    out by half its height. The test is repeated on the neighbours of the hits once
    these are cleaned (``growth`` times, once by default): the fainter pixel of a
    two-pixel hit stands out then; a track along a row or column is not followed to its
    end. A hit is replaced by the brighter of min(up, down) and
    min(left, right), which skips its own bright neighbours. Arc lines narrower than
    ~2 px in both directions can look like cosmic rays and lose their peak pixel; on
    arcs cleaning matters all the same, or every hit would count as a line, but hits
    are not grown there, or such lines would be eaten. The test runs on blocks
    of rows that stay in the CPU cache.
    """
    rows, cols = data.shape
    if rows < 3 or cols < 3:
        return None
    scale = COSMIC_SIGMA * COSMIC_SPREAD
    found = []
    for start in range(1, rows - 1, BLOCK_ROWS):
        stop = min(start + BLOCK_ROWS, rows - 1)
        level = np.add(data[start - 1 : stop - 1, 1:-1], data[start + 1 : stop + 1, 1:-1])
        across = np.add(data[start:stop, :-2], data[start:stop, 2:])
        np.maximum(level, across, out=level)
        level *= np.float32(0.5)
        hit = _above_noise(np.subtract(data[start:stop, 1:-1], level, out=across), level, noise, scale)
        if np.count_nonzero(hit):  # much faster than np.nonzero on a block without hits
            ys, xs = np.nonzero(hit)
            found.append(_replace_by_neighbours(data, ys + start, xs + 1))
    hits = sum(ys.size for ys, _ in found)
    ys, xs = (np.concatenate(c) for c in zip(*found, strict=True)) if found else (np.empty(0, int), np.empty(0, int))
    for _ in range(growth):
        if ys.size == 0:
            break
        ys, xs = np.concatenate([ys - 1, ys + 1, ys, ys]), np.concatenate([xs, xs, xs - 1, xs + 1])
        inside = (ys >= 1) & (ys < rows - 1) & (xs >= 1) & (xs < cols - 1)
        ys, xs = np.divmod(np.unique(ys[inside] * cols + xs[inside]), cols)
        level = np.maximum(data[ys - 1, xs] + data[ys + 1, xs], data[ys, xs - 1] + data[ys, xs + 1]) / 2
        hit = _above_noise(data[ys, xs] - level, level, noise, scale)
        ys, xs = _replace_by_neighbours(data, ys[hit], xs[hit])
        hits += ys.size
    return 1000.0 * hits / ((rows - 2) * (cols - 2))


def _replace_by_neighbours(data: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Set the pixels (ys, xs) to the brighter of min(up, down) and min(left, right), in place.

    The minimum of each pair skips a bright neighbour that belongs to the same hit;
    the brighter direction keeps the level of an order or a line under the hit.
    Returns the coordinates.
    """
    data[ys, xs] = np.maximum(np.minimum(data[ys - 1, xs], data[ys + 1, xs]), np.minimum(data[ys, xs - 1], data[ys, xs + 1]))
    return ys, xs


def _above_noise(excess: np.ndarray, level: np.ndarray, noise: NoiseModel, scale: float) -> np.ndarray:
    """Where ``excess`` is more than ``scale`` sigma of the noise at ``level``.

    Tested first against the noise at zero level, the smallest: the limit at each
    pixel's level is computed only for blocks where some pixel passes that.
    """
    hit = excess > np.float32(scale * math.sqrt(noise.read_var))
    if noise.slope > 0 and np.count_nonzero(hit):
        limit = np.maximum(level - np.float32(noise.pedestal), 0.0)
        limit *= np.float32(noise.slope * scale**2)
        limit += np.float32(noise.read_var * scale**2)
        np.greater(excess, np.sqrt(limit, out=limit), out=hit)
    return hit
