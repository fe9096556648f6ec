"""The k-th smallest of many float32 values by radix selection: what ``np.partition`` gives, faster.

Levels and spreads are order statistics of 10^4-10^6 float32 values, taken dozens of times
per frame. ``np.partition`` moves the values around several times; here each value is
read twice and never moved: once into a histogram of the upper 16 bits of its sortable
bit pattern, once, if its upper bits are those of a wanted rank, into a histogram of its
lower 16 bits, which gives the rank's value exactly. That is the value ``np.partition``
puts at rank k (the same number; of -0.0 and +0.0, -0.0 counts as the smaller). Several
ranks of the same values cost the same two passes.

Compiled by numba (its cache keeps the machine code next to this file).
"""

from __future__ import annotations

import numba
import numpy as np

_BINS = 1 << 16


def kth_smallest(values: np.ndarray, ranks: np.ndarray | list[int]) -> np.ndarray:
    """The values of the given 0-based ranks among ``values`` (1-D float32 without NaN), as float32."""
    return _select(np.ascontiguousarray(values, np.float32), np.asarray(ranks, np.int64))


@numba.njit(cache=True, nogil=True)
def _sortable(bits):
    """Unsigned integers that sort like the float32 values whose bit patterns they are."""
    return bits ^ np.uint32(0xFFFFFFFF) if bits >> np.uint32(31) else bits | np.uint32(0x80000000)


@numba.njit(cache=True, nogil=True)
def _find(counts, rank):
    """The bin holding ``rank`` (0-based) in a histogram, and the rank within that bin."""
    below = 0
    for b in range(len(counts)):
        if rank < below + counts[b]:
            return b, rank - below
        below += counts[b]
    return len(counts) - 1, 0


@numba.njit(cache=True, nogil=True)
def _select(values, ranks):
    bits = values.view(np.uint32)
    upper = np.zeros(_BINS, np.int32)
    for i in range(len(bits)):
        upper[_sortable(bits[i]) >> np.uint32(16)] += 1
    slot = np.full(_BINS, -1, np.int64)
    bins = np.empty(len(ranks), np.int64)
    inside = np.empty(len(ranks), np.int64)
    n_slots = 0
    for j in range(len(ranks)):
        bins[j], inside[j] = _find(upper, ranks[j])
        if slot[bins[j]] < 0:
            slot[bins[j]] = n_slots
            n_slots += 1
    lower = np.zeros((n_slots, _BINS), np.int32)
    for i in range(len(bits)):
        key = _sortable(bits[i])
        s = slot[key >> np.uint32(16)]
        if s >= 0:
            lower[s, key & np.uint32(0xFFFF)] += 1
    patterns = np.empty(len(ranks), np.uint32)
    for j in range(len(ranks)):
        low, _ = _find(lower[slot[bins[j]]], inside[j])
        key = np.uint32((bins[j] << 16) | low)
        patterns[j] = key ^ np.uint32(0x80000000) if key >> np.uint32(31) else key ^ np.uint32(0xFFFFFFFF)
    return patterns.view(np.float32)
