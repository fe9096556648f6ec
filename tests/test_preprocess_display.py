"""Pictures for people: the display image, histogram and median profile of core.preprocess."""

from __future__ import annotations

import numpy as np
import pytest

from core.preprocess import display_image, median_profile, pixel_histogram


@pytest.fixture
def bias_with_saturated_rows() -> np.ndarray:
    """A 2048 x 1024 unsigned bias (1000 ADU, 5 ADU noise) with ten saturated rows."""
    rng = np.random.default_rng(0)
    image = rng.normal(1000.0, 5.0, (2048, 1024)).astype(np.uint16)
    image[100:110] = 60000
    return image


def test_display_image_is_small_and_keeps_levels(bias_with_saturated_rows: np.ndarray) -> None:
    display = display_image(bias_with_saturated_rows, "zscale", side=800)
    assert max(display.values.shape) <= 800 and display.factor == (3, 3)
    assert display.values.dtype == np.float32 and display.values.min() >= 0.0 and display.values.max() <= 1.0
    low, high = display.limits
    assert 980 < low < 1000 < high < 1020  # zscale ignores the saturated rows
    assert display.adu[display.adu.shape[0] // 2].mean() == pytest.approx(1000, abs=1)
    assert display.adu[34].mean() > 50000  # rows 102-104 are saturated, averaged in blocks of 3
    assert display.ticks[0][1] == pytest.approx(low)


def test_stretches_differ_where_the_eye_needs_them(bias_with_saturated_rows: np.ndarray) -> None:
    zscale, asinh, minmax = (display_image(bias_with_saturated_rows, s) for s in ("zscale", "asinh", "minmax"))
    assert minmax.limits[1] == pytest.approx(60000) and asinh.limits[1] == pytest.approx(60000)
    background = (slice(500, 600), slice(0, 100))
    # Min-max shows the bias as black; asinh lifts the faint end; zscale spreads the noise over the grey scale.
    assert minmax.values[background].mean() < 0.01
    assert asinh.values[background].mean() < 0.05
    assert 0.3 < zscale.values[background].mean() < 0.7
    assert zscale.values[background].std() > 10 * minmax.values[background].std()
    brightness = [b for b, _ in asinh.ticks]
    assert brightness == sorted(brightness) and brightness[1] > 0.25  # asinh: the low ticks spread out


def test_display_image_refuses_what_it_cannot_show() -> None:
    with pytest.raises(ValueError, match="unknown stretch"):
        display_image(np.zeros((4, 4)), "log")
    with pytest.raises(ValueError, match="not a 2-D image"):
        display_image(np.zeros(4), "zscale")
    flat = display_image(np.full((10, 10), 7.0), "minmax")
    assert np.isfinite(flat.values).all() and flat.limits[1] > flat.limits[0]


def test_histogram_counts_the_tails_apart(bias_with_saturated_rows: np.ndarray) -> None:
    image = bias_with_saturated_rows.astype(np.float32)
    image[0, :5] = np.nan
    counts, edges, below, above = pixel_histogram(image, bins=100, tail=1e-3)
    assert len(counts) == 100 and len(edges) == 101
    assert counts.sum() + below + above == image.size - 5
    assert edges[-1] == pytest.approx(60000)  # 0.5 % saturated: beyond the tail, inside the range
    empty_counts, _, _, _ = pixel_histogram(np.full((3, 3), np.nan))
    assert empty_counts.sum() == 0


def test_median_profile_of_frames_of_different_lengths() -> None:
    assert np.allclose(median_profile([np.arange(5.0), np.arange(4.0) + 2, np.arange(6.0) + 1]), [1, 2, 3, 4])
    assert median_profile([]) is None
