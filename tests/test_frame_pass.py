"""The one pass over the pixels gives, pixel for pixel, what the plain numpy steps give.

The reference below is the numpy implementation calspot had before the pass was
compiled: bias subtraction into a float32 frame, the cosmic-ray test in blocks of 64
rows with its growth, and arc binning. Frames are small, seeded, with cosmic rays
(single pixels, pairs, tracks), bright features, non-finite pixels, several amplifiers
and the pixel types raw files hold.
"""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
import pytest

from core.qc.cosmics import BLOCK_ROWS, COSMIC_GROWTH, COSMIC_SIGMA, COSMIC_SPREAD
from core.qc.frame_pass import arc_bin_factor, scan_frame
from core.qc.illumination import bands
from core.qc.layout import Amplifier
from core.qc.noise import NoiseModel
from core.qc.structure import PERIODIC_ROWS, ROW_SAMPLES


def reference_data(raw, amplifiers, biases, fill):
    rows = amplifiers[0].data[0]
    widths = [a.data[1].stop - a.data[1].start for a in amplifiers]
    data = np.empty((rows.stop - rows.start, sum(widths)), dtype=np.float32)
    column = 0
    for amplifier, bias, width in zip(amplifiers, biases, widths, strict=True):
        np.subtract(raw[amplifier.data], np.float32(bias or 0.0), out=data[:, column : column + width])
        column += width
    if fill is not None:
        data[~np.isfinite(data)] = fill
    return data


def _above_noise(excess, level, noise, scale):
    hit = excess > np.float32(scale * math.sqrt(noise.read_var))
    if noise.slope > 0 and np.count_nonzero(hit):
        limit = np.maximum(level - np.float32(noise.pedestal), 0.0)
        limit *= np.float32(noise.slope * scale**2)
        limit += np.float32(noise.read_var * scale**2)
        np.greater(excess, np.sqrt(limit, out=limit), out=hit)
    return hit


def _replace(data, ys, xs):
    data[ys, xs] = np.maximum(np.minimum(data[ys - 1, xs], data[ys + 1, xs]), np.minimum(data[ys, xs - 1], data[ys, xs + 1]))
    return ys, xs


def reference_clean(data, noise, growth):
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
        if np.count_nonzero(hit):
            ys, xs = np.nonzero(hit)
            found.append(_replace(data, ys + start, xs + 1))
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
        ys, xs = _replace(data, ys[hit], xs[hit])
        hits += ys.size
    return 1000.0 * hits / ((rows - 2) * (cols - 2))


def reference_block(data, b, ufunc):
    rows, cols = data.shape[0] // b * b, data.shape[1] // b * b
    if b == 1:
        return data[:rows, :cols].copy()
    out = ufunc(data[0:rows:b, :cols], data[1:rows:b, :cols])
    for i in range(2, b):
        ufunc(out, data[i:rows:b, :cols], out=out)
    blocks = ufunc(out[:, 0::b], out[:, 1::b])
    for i in range(2, b):
        ufunc(blocks, out[:, i::b], out=blocks)
    return blocks


def frame(dtype, seed: int = 1, shape=(300, 180), nonfinite: bool = False) -> np.ndarray:
    """Bias ~200 ADU with read noise, a bright band, cosmic rays of one and two pixels and a track."""
    rng = np.random.default_rng(seed)
    image = 200.0 + rng.normal(0.0, 3.0, shape)
    image[100:140, 20:160] += 3000.0 + rng.normal(0.0, 55.0, (40, 140))
    ys, xs = rng.integers(2, shape[0] - 2, 60), rng.integers(2, shape[1] - 2, 60)
    image[ys, xs] += rng.uniform(200, 5000, 60)
    image[ys[:20] + 1, xs[:20]] += rng.uniform(200, 5000, 20)
    image[70, 30:36] += 4000.0
    image[0, 5] = image[-1, 7] = 9000.0  # never tested: the outermost rows
    if dtype.kind in "iu":
        image = np.clip(np.rint(image), 0, np.iinfo(dtype).max)
    image = image.astype(dtype)
    if nonfinite:
        image[10, 10], image[50, 60], image[51, 60], image[200, 3] = np.nan, np.inf, np.nan, -np.inf
    return image


def two_amplifiers(shape):
    rows = slice(0, shape[0])
    return [
        Amplifier("1", (rows, slice(4, 88)), (rows, slice(0, 4))),
        Amplifier("2", (rows, slice(92, shape[1] - 4)), (rows, slice(shape[1] - 4, shape[1]))),
    ]


CASES = [
    pytest.param(np.dtype(np.uint16), NoiseModel(9.0, 0.0), "bias", False, id="uint16-bias"),
    pytest.param(np.dtype(np.uint16), NoiseModel(9.0, 1.2), "flat", False, id="uint16-flat-photon-noise"),
    pytest.param(np.dtype(np.uint16), NoiseModel(9.0, 1.2), "arc", False, id="uint16-arc"),
    pytest.param(np.dtype(np.float32), NoiseModel(9.0, 0.8, 150.0), "flat", True, id="float32-nan-pedestal"),
    pytest.param(np.dtype(np.float64), NoiseModel(9.0, 0.0), "arc", True, id="float64-arc-nan"),
    pytest.param(np.dtype(np.int32), NoiseModel(9.0, 0.5), "bias", False, id="int32"),
    pytest.param(np.dtype(np.int16), NoiseModel(9.0, 0.0), "bias", False, id="int16"),
]


@pytest.mark.parametrize(("dtype", "noise", "category", "nonfinite"), CASES)
def test_the_pass_gives_what_numpy_gives_pixel_for_pixel(dtype, noise, category, nonfinite):
    raw = frame(dtype, nonfinite=nonfinite)
    amplifiers = two_amplifiers(raw.shape)
    biases = [201.3, None] if category == "flat" else [199.7, 200.2]
    fill = 200.5 if nonfinite else None
    saturation = 3100.0
    scan = scan_frame(raw, amplifiers, biases, fill, noise, saturation, category)

    data = reference_data(raw, amplifiers, biases, fill)
    uncleaned = data.copy()
    fraction = reference_clean(data, noise, 0 if category == "arc" else COSMIC_GROWTH)
    assert scan.shape == data.shape
    assert scan.cosmic_ray_fraction == pytest.approx(fraction, rel=0, abs=0)
    assert fraction > 0.5  # the frame has cosmic rays to find
    np.testing.assert_allclose(scan.row_means, data.mean(axis=1, dtype=np.float64), rtol=1e-6, atol=1e-4)
    edges = bands(data.shape[0])
    sums = np.array([data[a:b].sum(axis=0, dtype=np.float64) for a, b in pairwise(edges)])
    np.testing.assert_allclose(scan.band_sums, sums, rtol=1e-9, atol=1e-6)
    stride = max(1, data.shape[1] // ROW_SAMPLES)
    np.testing.assert_array_equal(scan.left, data[:, :-1:stride])
    np.testing.assert_array_equal(scan.right, data[:, 1::stride])
    middle = max(0, (data.shape[0] - PERIODIC_ROWS) // 2)
    np.testing.assert_array_equal(scan.middle, data[middle : middle + PERIODIC_ROWS])

    region = np.hstack([raw[a.data] for a in amplifiers])
    finite = region[np.isfinite(region)] if region.dtype.kind == "f" else region
    assert scan.maximum == float(finite.max())
    assert scan.saturated == int(np.count_nonzero(region >= saturation))
    if category == "arc":
        b = arc_bin_factor(data.shape)
        assert scan.arc_factor == b
        np.testing.assert_array_equal(scan.arc_mean, reference_block(uncleaned, b, np.add) / np.float32(b * b))
        np.testing.assert_array_equal(scan.arc_peak, reference_block(uncleaned, b, np.maximum))
        np.testing.assert_array_equal(scan.arc_cleaned, reference_block(data, b, np.add) / np.float32(b * b))
    else:
        assert scan.arc_cleaned is None and scan.arc_mean is None


def test_a_full_size_frame_uses_the_binning_of_arcs_by_four():
    raw = frame(np.dtype(np.uint16), shape=(2100, 1100))
    amplifiers = [Amplifier("1", (slice(0, 2100), slice(0, 1100)), None)]
    scan = scan_frame(raw, amplifiers, [None], None, NoiseModel(9.0, 0.0), 65535.0, "arc")
    data = reference_data(raw, amplifiers, [None], None)
    reference_clean(data, NoiseModel(9.0, 0.0), 0)
    assert scan.arc_factor == 2
    np.testing.assert_array_equal(scan.arc_cleaned, reference_block(data, 2, np.add) / np.float32(4))


@pytest.mark.parametrize("shape", [(2, 50), (50, 2), (1, 1), (3, 3)])
def test_frames_too_small_to_test_are_summed_and_not_cleaned(shape):
    raw = np.full(shape, 300, np.uint16)
    raw.flat[-1] = 5000
    amplifiers = [Amplifier("1", (slice(0, shape[0]), slice(0, shape[1])), None)]
    scan = scan_frame(raw, amplifiers, [None], None, NoiseModel(9.0, 0.0), 65535.0, "bias")
    tested = min(shape) >= 3
    assert (scan.cosmic_ray_fraction is not None) == tested
    np.testing.assert_allclose(scan.row_means, raw.astype(np.float64).mean(axis=1), rtol=1e-6)
    assert scan.maximum == 5000.0


def test_a_shower_of_cosmic_rays_is_cleaned_from_the_sums():
    clean = frame(np.dtype(np.uint16), seed=4)
    rng = np.random.default_rng(5)
    hit = clean.copy()
    ys, xs = rng.integers(2, 298, 400), rng.integers(6, 84, 400)
    hit[ys, xs] = 20000
    amplifiers = two_amplifiers(clean.shape)
    noise = NoiseModel(9.0, 1.0)
    before = scan_frame(clean, amplifiers, [200.0, 200.0], None, noise, 65535.0, "bias")
    after = scan_frame(hit, amplifiers, [200.0, 200.0], None, noise, 65535.0, "bias")
    assert after.cosmic_ray_fraction > before.cosmic_ray_fraction + 6  # 400 hits in 49 000 pixels: 8 per mille
    # Each hit would move its row's mean by ~120 ADU; cleaned, nearly every row moves by under one.
    assert np.mean(np.abs(after.row_means - before.row_means) < 1.0) > 0.95
