"""Block sums and histograms of integer pixels are exact: the numbers numpy gives."""

from __future__ import annotations

import numpy as np
import pytest

from core import pixel_blocks
from core.preprocess import block_reduce, hot_pixel_cap


@pytest.mark.parametrize("dtype", [np.uint16, np.int16, np.uint8, np.int32, np.uint32])
def test_block_sums_are_exact_for_every_integer_type(dtype):
    rng = np.random.default_rng(0)
    limits = np.iinfo(dtype)
    pixels = rng.integers(max(limits.min, -40000), min(limits.max, 70000), (203, 131), endpoint=True).astype(dtype)
    expected = pixels[:200, :130].astype(np.int64).reshape(40, 5, 13, 10).sum(axis=(1, 3))
    np.testing.assert_array_equal(pixel_blocks.block_sums(pixels, 5, 10), expected)


def test_capped_block_sums_count_every_pixel_above_the_cap_as_the_cap():
    pixels = np.random.default_rng(1).integers(0, 65535, (64, 48), endpoint=True).astype(np.uint16)
    cap = 40000.25
    expected = np.where(pixels > 40000, cap, pixels.astype(np.float64)).reshape(16, 4, 8, 6).sum(axis=(1, 3))
    np.testing.assert_array_equal(pixel_blocks.capped_block_sums(pixels, 4, 6, 40000, cap), expected)


def test_the_histogram_of_every_fourth_row_is_numpys():
    pixels = np.random.default_rng(2).integers(990, 1010, (403, 77)).astype(np.uint16)
    pixels[8, 3] = 65535
    np.testing.assert_array_equal(pixel_blocks.histogram_u16(pixels, 4), np.bincount(pixels[::4].ravel(), minlength=1 << 16))


def test_the_network_reduction_of_a_frame_with_cosmic_rays_is_the_plain_one():
    pixels = np.random.default_rng(3).normal(1000, 5, (450, 226)).clip(0, 65535).astype(np.uint16)
    pixels[[5, 200, 301], [7, 100, 3]] = 60000
    cap = hot_pixel_cap(pixels)
    assert 1000 < cap < 60000
    plain = np.minimum(pixels.astype(np.float64), cap).reshape(225, 2, 226, 1).mean(axis=(1, 3))
    np.testing.assert_allclose(block_reduce(pixels, (224, 224), cap=cap), plain.astype(np.float32), rtol=1e-7)
