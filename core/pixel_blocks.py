"""Block sums and histograms of integer pixels, compiled by numba: one read of the frame each.

Downsampling a raw frame for the network and the thumbnail, and the high quantile that
caps its cosmic rays first, read every pixel; numpy would make whole-frame temporaries
on the way (a widened copy to sum in, a mask of the pixels above the cap). Here each
row is summed into its blocks as it is read. Sums are exact: integers are added in
64-bit integers, and capped pixels in float64, in which integers and a float32 cap
below 2^24 add up exactly.

numba keeps the compiled code in its cache next to this file.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def block_sums(pixels, fy, fx):
    """Exact sums of the ``fy`` x ``fx`` blocks of integer pixels (incomplete blocks dropped), as int64."""
    ny = pixels.shape[0] // fy
    nx = pixels.shape[1] // fx
    sums = np.zeros((ny, nx), np.int64)
    columns = np.zeros(nx * fx, np.int64)
    for by in range(ny):
        columns[:] = 0
        for y in range(by * fy, by * fy + fy):
            row = pixels[y]
            for x in range(nx * fx):
                columns[x] += row[x]
        _add_groups(columns, fx, sums[by])
    return sums


@numba.njit(cache=True, nogil=True)
def capped_block_sums(pixels, fy, fx, floor, cap):
    """Sums of the ``fy`` x ``fx`` blocks of integer pixels, each pixel above ``floor`` counted as ``cap``, as float64."""
    ny = pixels.shape[0] // fy
    nx = pixels.shape[1] // fx
    sums = np.zeros((ny, nx), np.float64)
    columns = np.zeros(nx * fx, np.float64)
    for by in range(ny):
        columns[:] = 0.0
        for y in range(by * fy, by * fy + fy):
            row = pixels[y]
            for x in range(nx * fx):
                v = row[x]
                columns[x] += cap if v > floor else np.float64(v)
        _add_groups(columns, fx, sums[by])
    return sums


@numba.njit(cache=True, nogil=True)
def _add_groups(columns, fx, out):
    """Add each run of ``fx`` consecutive column sums into one block of ``out``."""
    for bx in range(len(out)):
        total = columns[bx * fx]
        for j in range(bx * fx + 1, bx * fx + fx):
            total += columns[j]
        out[bx] += total


@numba.njit(cache=True, nogil=True)
def histogram_u16(pixels, step):
    """Counts of each of the 65536 values in every ``step``-th row of uint16 pixels.

    Four interleaved histograms, added at the end: equal neighbouring values (a bias's
    few levels) would otherwise wait on each other's increments.
    """
    partial = np.zeros((4, 1 << 16), np.int32)
    for y in range(0, pixels.shape[0], step):
        row = pixels[y]
        n = len(row) // 4 * 4
        for x in range(0, n, 4):
            partial[0, row[x]] += 1
            partial[1, row[x + 1]] += 1
            partial[2, row[x + 2]] += 1
            partial[3, row[x + 3]] += 1
        for x in range(n, len(row)):
            partial[0, row[x]] += 1
    counts = np.zeros(1 << 16, np.int64)
    for k in range(4):
        counts += partial[k]
    return counts
