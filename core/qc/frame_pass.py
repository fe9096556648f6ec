"""One pass over the pixels: bias subtraction, saturation, cosmic rays, and what the other numbers read.

Every number that needs the whole frame is gathered here while each block of rows is in
the CPU cache, so that the raw frame is read once and no bias-subtracted copy of it is
ever made (a 4096 x 2148 frame would be 35 MB of float32, written and read several
times). The pass, compiled by numba, walks blocks of :data:`~core.qc.cosmics.BLOCK_ROWS`
rows and for each

1. subtracts each amplifier's bias from its data columns (float32, as numpy would:
   the exact difference rounded once), puts non-finite pixels at the fill level, and
   counts the pixels at or above saturation and the data's maximum (on the raw values);
2. finds the cosmic rays of the block and replaces them (:mod:`~core.qc.cosmics` says
   how and why);
3. adds the cleaned rows to the row sums and to the column sums of each third of the
   rows, and keeps what the later numbers read: ~128 pairs of neighbouring pixels per
   row (corrupted rows), the middle 256 rows (periodic noise) and, on arcs, the frame
   binned before and after cleaning (lines).

The cosmic-ray hits are then grown (:data:`~core.qc.cosmics.COSMIC_GROWTH`) on the
cleaned frame, read back from the raw pixels and the hits' new values, and whatever the
growth changes is corrected in the sums and the kept pixels. The results are those of
the plain numpy version of the same steps, pixel for pixel, but for the row and column
sums, which are accumulated in float64 rather than float32 (differences of ~1e-7).

numba compiles the pass once per raw pixel type (uint16, float32, float64; other types
are read as float64) and keeps the machine code in its cache next to this file.
Everything the pass calls lives in this module: numba's cache does not notice a change
in another module's compiled functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from .cosmics import BLOCK_ROWS, COSMIC_GROWTH, COSMIC_SIGMA, COSMIC_SPREAD
from .illumination import bands
from .layout import Amplifier, data_width
from .noise import NoiseModel
from .structure import PERIODIC_ROWS, ROW_SAMPLES

_NATIVE_TYPES = (np.dtype(np.uint16), np.dtype(np.float32), np.dtype(np.float64))


@dataclass(frozen=True)
class FrameScan:
    """What the pass over the pixels gathered (bias-subtracted, cosmic rays cleaned unless said otherwise).

    Attributes
    ----------
    shape
        ``(rows, columns)`` of the data: the amplifiers' light-sensitive pixels side by side.
    maximum
        The largest finite raw data value (-inf without any).
    saturated
        Raw data pixels at or above the saturation level.
    cosmic_ray_fraction
        Per mille of the pixels found to be cosmic rays (None when the frame is too small to test).
    row_means, band_sums
        Mean of every row; ``(3, columns)`` sums of every column over each third of the rows.
    left, right
        ``(rows, pairs)``: pixels at columns ``0, s, 2s ...`` and the ones just right of them,
        ``s = max(1, columns // 128)``: the corrupted-row test's pairs of neighbours.
    middle
        Up to 256 consecutive rows from the middle of the frame (periodic noise).
    arc_mean, arc_peak, arc_cleaned
        On arcs, the frame binned ``arc_factor`` x ``arc_factor``: block means and maxima
        before cleaning, block means after; None otherwise.
    """

    shape: tuple[int, int]
    maximum: float
    saturated: int
    cosmic_ray_fraction: float | None
    row_means: np.ndarray
    band_sums: np.ndarray
    left: np.ndarray
    right: np.ndarray
    middle: np.ndarray
    arc_factor: int
    arc_mean: np.ndarray | None
    arc_peak: np.ndarray | None
    arc_cleaned: np.ndarray | None


def arc_bin_factor(shape: tuple[int, int]) -> int:
    """The binning of arcs for line finding: 4 on a full-size frame (``min(shape) // 512``, at least 1)."""
    return max(1, min(shape) // 512)


def scan_frame(
    raw: np.ndarray,
    amplifiers: list[Amplifier],
    biases: list[float | None],
    fill: float | None,
    noise: NoiseModel,
    saturation: float,
    category: str,
) -> FrameScan:
    """Bias-subtract, clean and summarise a raw frame in one pass over its pixels.

    Parameters
    ----------
    raw
        The raw 2-D pixels in native byte order.
    amplifiers, biases
        The layout and each amplifier's bias level (None: no overscan, nothing subtracted).
    fill
        The level given to non-finite pixels, None when there are none.
    noise
        The frame's noise model, which sets the cosmic-ray test's threshold.
    saturation
        The raw level at which the detector saturates.
    category
        Arcs are binned for line finding and their hits are not grown (see
        :mod:`~core.qc.cosmics`).
    """
    if raw.dtype not in _NATIVE_TYPES:
        raw = raw.astype(np.float64)
    raw = np.ascontiguousarray(raw)
    rows_slice = amplifiers[0].data[0]
    rows = rows_slice.stop - rows_slice.start
    starts = np.array([a.data[1].start for a in amplifiers], np.int64)
    stops = np.array([a.data[1].stop for a in amplifiers], np.int64)
    offsets = np.array([np.float32(b or 0.0) for b in biases], np.float64)
    cols = sum(data_width(a) for a in amplifiers)
    level = np.float32(saturation) if raw.dtype == np.float32 else np.float64(saturation)
    scale = COSMIC_SIGMA * COSMIC_SPREAD
    rv_s2 = np.float32(noise.read_var * scale**2)
    stride = max(1, cols // ROW_SAMPLES)
    middle = max(0, (rows - PERIODIC_ROWS) // 2)
    arc = category == "arc"
    growth = 0 if arc else COSMIC_GROWTH
    (peaks, counts, hits, row_sums, band_sums, left, right, kept, arc_mean, arc_peak, arc_cleaned) = _scan(
        raw,
        rows_slice.start,
        rows,
        starts,
        stops,
        offsets,
        np.float32(0.0 if fill is None else fill),
        fill is not None,
        raw.dtype.kind in "iu",
        level,
        np.float32(scale * math.sqrt(noise.read_var)),
        np.float32(noise.pedestal),
        np.float32(noise.slope * scale**2),
        rv_s2,
        noise.slope > 0,
        bands(rows).astype(np.int64),
        stride,
        middle,
        min(rows, middle + PERIODIC_ROWS),
        arc_bin_factor((rows, cols)) if arc else 0,
        growth,
    )
    maximum = float(peaks.max()) if len(peaks) else -math.inf
    tested = rows >= 3 and cols >= 3
    return FrameScan(
        shape=(rows, cols),
        maximum=maximum,
        saturated=int(sum(c for c, p in zip(counts, peaks) if p >= saturation)),
        cosmic_ray_fraction=1000.0 * hits / ((rows - 2) * (cols - 2)) if tested else None,
        row_means=(row_sums / cols).astype(np.float32),
        band_sums=band_sums,
        left=left,
        right=right,
        middle=kept,
        arc_factor=arc_bin_factor((rows, cols)) if arc else 0,
        arc_mean=arc_mean if arc else None,
        arc_peak=arc_peak if arc else None,
        arc_cleaned=arc_cleaned if arc else None,
    )


_JIT = {"cache": True, "nogil": True}


@numba.njit(inline="always")
def _nan_max(a, b):
    """np.maximum of two scalars: NaN if either is."""
    return a if (a >= b or a != a) else b


@numba.njit(inline="always")
def _nan_min(a, b):
    """np.minimum of two scalars: NaN if either is."""
    return a if (a <= b or a != a) else b


@numba.njit(**_JIT)
def _grown(values, n, size):
    """``values`` with room for at least ``size`` entries, its first ``n`` kept."""
    if size <= len(values):
        return values
    out = np.empty(max(size, 2 * len(values)), values.dtype)
    out[:n] = values[:n]
    return out


@numba.njit(**_JIT)
def _scan(
    raw,
    row0,
    rows,
    starts,
    stops,
    offsets,
    fill,
    has_fill,
    integer,
    level,
    threshold,
    pedestal,
    slope_s2,
    read_s2,
    sloped,
    band_edges,
    stride,
    middle,
    middle_stop,
    arc_b,
    growth,
):
    n_amps = len(starts)
    cols = 0
    for a in range(n_amps):
        cols += stops[a] - starts[a]
    peaks = np.full(n_amps, -np.inf)
    counts = np.zeros(n_amps, np.int64)
    row_sums = np.zeros(rows, np.float64)
    band_sums = np.zeros((band_edges.shape[0] - 1, cols), np.float64)
    pairs = len(range(0, cols - 1, stride)) if cols >= 2 else 0
    left = np.empty((rows, pairs), np.float32)
    right = np.empty((rows, pairs), np.float32)
    kept = np.empty((middle_stop - middle, cols), np.float32)
    nby = rows // arc_b if arc_b > 0 else 0
    nbx = cols // arc_b if arc_b > 0 else 0
    arc_sum = np.empty((nby, nbx), np.float32)
    arc_max = np.empty((nby, nbx), np.float32)
    arc_clean = np.empty((nby, nbx), np.float32)
    acc_sum = np.empty(nbx * arc_b, np.float32)
    acc_max = np.empty(nbx * arc_b, np.float32)
    acc_clean = np.empty(nbx * arc_b, np.float32)
    half = np.float32(0.5)
    zero = np.float32(0.0)

    buf = np.empty((BLOCK_ROWS + 2, cols), np.float32)
    passed = np.zeros(cols, np.bool_)
    tested = rows >= 3 and cols >= 3
    hit_y = np.empty(1024, np.int64)
    hit_x = np.empty(1024, np.int64)
    hit_v = np.empty(1024, np.float32)
    n_hits = 0
    cand_i = np.empty(1024, np.int64)
    cand_x = np.empty(1024, np.int64)

    # Row 0 (and every row of a frame too small to test) is final when converted.
    first = rows if not tested else min(rows, 2)
    for y in range(first):
        _convert_row(raw, row0 + y, starts, stops, offsets, fill, has_fill, integer, level, buf[y % 2], peaks, counts)
        _bin_sum(buf[y % 2], y, arc_b, nby, acc_sum, arc_sum)
        _bin_max(buf[y % 2], y, arc_b, nby, acc_max, arc_max)
        if y == 0 or not tested:
            _finish_row(buf[y % 2], y, row_sums, band_sums, band_edges, left, right, stride, pairs, kept, middle, middle_stop)
            _bin_sum(buf[y % 2], y, arc_b, nby, acc_clean, arc_clean)
    if tested:
        start = 1
        while start < rows - 1:
            stop = min(start + BLOCK_ROWS, rows - 1)
            n = stop - start
            for i in range(2, n + 2):
                y = start + i - 1
                _convert_row(raw, row0 + y, starts, stops, offsets, fill, has_fill, integer, level, buf[i], peaks, counts)
                _bin_sum(buf[i], y, arc_b, nby, acc_sum, arc_sum)
                _bin_max(buf[i], y, arc_b, nby, acc_max, arc_max)
            # Each row is tested in a loop the compiler vectorises; rows with a hit go through a second, scalar one.
            any_first = False
            n_cand = 0
            for i in range(1, n + 1):
                up = buf[i - 1]
                mid = buf[i]
                down = buf[i + 1]
                above = 0
                possible = 0
                if sloped:
                    for x in range(1, cols - 1):
                        around = _nan_max(up[x] + down[x], mid[x - 1] + mid[x + 1]) * half
                        e = mid[x] - around
                        above += e > threshold
                        second = e > np.sqrt(_nan_max(around - pedestal, zero) * slope_s2 + read_s2)
                        passed[x] = second
                        possible += second
                else:
                    for x in range(1, cols - 1):
                        e = mid[x] - _nan_max(up[x] + down[x], mid[x - 1] + mid[x + 1]) * half
                        first = e > threshold
                        passed[x] = first
                        above += first
                    possible = above
                any_first = any_first or above > 0
                if possible == 0:
                    continue
                if n_cand + possible > len(cand_i):
                    cand_i = _grown(cand_i, n_cand, n_cand + possible)
                    cand_x = _grown(cand_x, n_cand, n_cand + possible)
                for x in range(1, cols - 1):
                    if passed[x]:
                        cand_i[n_cand] = i
                        cand_x[n_cand] = x
                        n_cand += 1
            # Sloped, a block is tested at each pixel's level only if a pixel passes at zero level.
            if sloped and not any_first:
                n_cand = 0
            if n_hits + n_cand > len(hit_y):
                hit_y = _grown(hit_y, n_hits, n_hits + n_cand)
                hit_x = _grown(hit_x, n_hits, n_hits + n_cand)
                hit_v = _grown(hit_v, n_hits, n_hits + n_cand)
            for c in range(n_cand):
                i = cand_i[c]
                x = cand_x[c]
                hit_y[n_hits] = start + i - 1
                hit_x[n_hits] = x
                hit_v[n_hits] = _nan_max(_nan_min(buf[i - 1, x], buf[i + 1, x]), _nan_min(buf[i, x - 1], buf[i, x + 1]))
                n_hits += 1
            # The replacements are written once the whole block is tested, as numpy assigns them.
            for h in range(n_hits - 1, -1, -1):
                if hit_y[h] < start:
                    break
                buf[hit_y[h] - start + 1, hit_x[h]] = hit_v[h]
            for i in range(1, n + 1):
                y = start + i - 1
                _finish_row(buf[i], y, row_sums, band_sums, band_edges, left, right, stride, pairs, kept, middle, middle_stop)
                _bin_sum(buf[i], y, arc_b, nby, acc_clean, arc_clean)
            buf[0, :] = buf[n, :]
            buf[1, :] = buf[n + 1, :]
            start = stop
        y = rows - 1
        _finish_row(buf[1], y, row_sums, band_sums, band_edges, left, right, stride, pairs, kept, middle, middle_stop)
        _bin_sum(buf[1], y, arc_b, nby, acc_clean, arc_clean)
        n_hits = _grow(
            raw,
            row0,
            rows,
            cols,
            starts,
            stops,
            offsets,
            fill,
            has_fill,
            hit_y,
            hit_x,
            hit_v,
            n_hits,
            growth,
            threshold,
            pedestal,
            slope_s2,
            read_s2,
            sloped,
            row_sums,
            band_sums,
            band_edges,
            left,
            right,
            stride,
            pairs,
            kept,
            middle,
            middle_stop,
        )
    if arc_b > 0:
        scale = np.float32(arc_b * arc_b)
        for by in range(nby):
            for bx in range(nbx):
                arc_sum[by, bx] = arc_sum[by, bx] / scale
                arc_clean[by, bx] = arc_clean[by, bx] / scale
    return peaks, counts, n_hits, row_sums, band_sums, left, right, kept, arc_sum, arc_max, arc_clean


@numba.njit(**_JIT)
def _convert_row(raw, y, starts, stops, offsets, fill, has_fill, integer, level, out, peaks, counts):
    """Raw row ``y``'s data columns minus their amplifier's bias into ``out``; saturation counted per amplifier."""
    k = 0
    for a in range(len(starts)):
        bias = offsets[a]
        values = raw[y, starts[a] : stops[a]]
        target = out[k : k + len(values)]
        count = 0
        for x in range(len(values)):
            v = values[x]
            count += v >= level
            target[x] = np.float32(np.float64(v) - bias)
        counts[a] += count
        if integer:
            peak = values[0]
            for x in range(1, len(values)):
                if values[x] > peak:
                    peak = values[x]
            peaks[a] = max(peaks[a], np.float64(peak))
        else:
            for x in range(len(values)):
                value = np.float64(values[x])
                if value > peaks[a] and math.isfinite(value):
                    peaks[a] = value
        if has_fill:
            for x in range(len(values)):
                if not math.isfinite(target[x]):
                    target[x] = fill
        k += len(values)


@numba.njit(cache=True, nogil=True, fastmath={"reassoc"})
def _finish_row(row, y, row_sums, band_sums, band_edges, left, right, stride, pairs, kept, middle, middle_stop):
    """Add a final row to the sums and keep the pixels the later numbers read."""
    band = 0
    while y >= band_edges[band + 1]:
        band += 1
    sums = band_sums[band]
    total = 0.0
    for x in range(len(row)):
        value = np.float64(row[x])
        total += value
        sums[x] += value
    row_sums[y] = total
    for j in range(pairs):
        left[y, j] = row[j * stride]
        right[y, j] = row[1 + j * stride]
    if middle <= y < middle_stop:
        kept[y - middle, :] = row


@numba.njit(**_JIT)
def _bin_sum(row, y, b, nby, acc, sums):
    """Add ``row`` into the ``b`` x ``b`` block sums, in numpy's order: rows added first, then columns, in float32."""
    if b == 0 or y >= nby * b:
        return
    r = y % b
    if r == 0:
        for x in range(len(acc)):
            acc[x] = row[x]
    else:
        for x in range(len(acc)):
            acc[x] = acc[x] + row[x]
    if r == b - 1:
        _add_columns(acc, b, sums[y // b])


@numba.njit(**_JIT)
def _bin_max(row, y, b, nby, acc, maxima):
    """Take ``row`` into the ``b`` x ``b`` block maxima."""
    if b == 0 or y >= nby * b:
        return
    r = y % b
    if r == 0:
        for x in range(len(acc)):
            acc[x] = row[x]
    else:
        for x in range(len(acc)):
            acc[x] = _nan_max(acc[x], row[x])
    if r == b - 1:
        _max_columns(acc, b, maxima[y // b])


@numba.njit(**_JIT)
def _add_columns(acc, b, out):
    """``out[j] = ((acc[jb] + acc[jb + 1]) + acc[jb + 2]) ...``: numpy's order of adding a block's columns."""
    for j in range(len(out)):
        out[j] = acc[j * b]
    for i in range(1, b):
        for j in range(len(out)):
            out[j] = out[j] + acc[j * b + i]


@numba.njit(**_JIT)
def _max_columns(acc, b, out):
    """The maximum of each run of ``b`` columns of ``acc``."""
    for j in range(len(out)):
        out[j] = acc[j * b]
    for i in range(1, b):
        for j in range(len(out)):
            out[j] = _nan_max(out[j], acc[j * b + i])


@numba.njit(**_JIT)
def _pixel(raw, row0, y, x, starts, stops, offsets, fill, has_fill, cleaned_keys, cleaned_values):
    """The cleaned value of data pixel (y, x): a replaced pixel's new value, else the bias-subtracted raw one."""
    k = np.searchsorted(cleaned_keys, y * 1_000_000_000 + x)
    if k < len(cleaned_keys) and cleaned_keys[k] == y * 1_000_000_000 + x:
        return cleaned_values[k]
    for a in range(len(starts)):
        width = stops[a] - starts[a]
        if x < width:
            d = np.float32(np.float64(raw[row0 + y, starts[a] + x]) - offsets[a])
            if has_fill and not math.isfinite(d):
                d = fill
            return d
        x -= width
    return fill


@numba.njit(**_JIT)
def _grow(
    raw,
    row0,
    rows,
    cols,
    starts,
    stops,
    offsets,
    fill,
    has_fill,
    hit_y,
    hit_x,
    hit_v,
    n_hits,
    growth,
    threshold,
    pedestal,
    slope_s2,
    read_s2,
    sloped,
    row_sums,
    band_sums,
    band_edges,
    left,
    right,
    stride,
    pairs,
    kept,
    middle,
    middle_stop,
):
    """Test the neighbours of the hits again once the hits are cleaned, ``growth`` times; return all hits.

    The whole set of neighbours is one block of the test (see :func:`_scan`); what the
    growth replaces is corrected in the sums and the kept pixels.
    """
    half = np.float32(0.5)
    zero = np.float32(0.0)
    total = n_hits
    # Replaced pixels so far, sorted by position: the cleaned frame is the raw one but for them.
    keys = hit_y[:n_hits] * 1_000_000_000 + hit_x[:n_hits]
    order = np.argsort(keys, kind="mergesort")
    keys = keys[order]
    values = hit_v[:n_hits][order]
    ys = hit_y[:n_hits].copy()
    xs = hit_x[:n_hits].copy()
    for _ in range(growth):
        if len(ys) == 0:
            break
        near = np.empty(4 * len(ys), np.int64)
        m = 0
        for h in range(len(ys)):
            for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                y = ys[h] + dy
                x = xs[h] + dx
                if 1 <= y < rows - 1 and 1 <= x < cols - 1:
                    near[m] = y * 1_000_000_000 + x
                    m += 1
        near = np.unique(near[:m])
        excess = np.empty(len(near), np.float32)
        around = np.empty(len(near), np.float32)
        new = np.empty(len(near), np.float32)
        any_first = False
        for c in range(len(near)):
            y = near[c] // 1_000_000_000
            x = near[c] % 1_000_000_000
            up = _pixel(raw, row0, y - 1, x, starts, stops, offsets, fill, has_fill, keys, values)
            down = _pixel(raw, row0, y + 1, x, starts, stops, offsets, fill, has_fill, keys, values)
            west = _pixel(raw, row0, y, x - 1, starts, stops, offsets, fill, has_fill, keys, values)
            east = _pixel(raw, row0, y, x + 1, starts, stops, offsets, fill, has_fill, keys, values)
            centre = _pixel(raw, row0, y, x, starts, stops, offsets, fill, has_fill, keys, values)
            around[c] = _nan_max(up + down, west + east) * half
            excess[c] = centre - around[c]
            new[c] = _nan_max(_nan_min(up, down), _nan_min(west, east))
            if excess[c] > threshold:
                any_first = True
        use_limit = sloped and any_first
        hit = np.zeros(len(near), np.bool_)
        for c in range(len(near)):
            if use_limit:
                hit[c] = excess[c] > np.sqrt(_nan_max(around[c] - pedestal, zero) * slope_s2 + read_s2)
            else:
                hit[c] = excess[c] > threshold
        changed = near[hit]
        ys = changed // 1_000_000_000
        xs = changed % 1_000_000_000
        total += len(changed)
        olds = np.empty(len(changed), np.float32)
        for c in range(len(changed)):
            olds[c] = _pixel(raw, row0, ys[c], xs[c], starts, stops, offsets, fill, has_fill, keys, values)
        news = new[hit]
        for c in range(len(changed)):
            y = ys[c]
            x = xs[c]
            delta = np.float64(news[c]) - np.float64(olds[c])
            row_sums[y] += delta
            band = 0
            while y >= band_edges[band + 1]:
                band += 1
            band_sums[band, x] += delta
            if x % stride == 0 and x // stride < pairs:
                left[y, x // stride] = news[c]
            if x >= 1 and (x - 1) % stride == 0 and (x - 1) // stride < pairs:
                right[y, (x - 1) // stride] = news[c]
            if middle <= y < middle_stop:
                kept[y - middle, x] = news[c]
        merged_keys = np.concatenate((keys, changed))
        merged_values = np.concatenate((values, news))
        order = np.argsort(merged_keys, kind="mergesort")
        merged_keys = merged_keys[order]
        merged_values = merged_values[order]
        # A pixel replaced again keeps its newest value: the last of equal keys after a stable sort.
        keep = np.ones(len(merged_keys), np.bool_)
        for k in range(len(merged_keys) - 1):
            if merged_keys[k] == merged_keys[k + 1]:
                keep[k] = False
        keys = merged_keys[keep]
        values = merged_values[keep]
    return total
