"""Reasons in words, and the difference image of a frame against its nearest reference frames."""

from __future__ import annotations

import numpy as np

from core.detect import Deviation
from core.explain import difference_image, word_deviation


def test_a_reason_names_the_number_its_change_and_how_far_out_it_is():
    reason = word_deviation(Deviation("amp2.bias_level", 214.2, 200.0, 1.45, 9.8), "the last 30 nights", "bias")
    assert reason == "bias level, amplifier 2: +14.2 ADU, 9.8 sigma above the last 30 nights"


def test_a_frame_far_out_is_said_to_be_far_out_not_given_a_meaningless_number_of_sigma():
    reason = word_deviation(Deviation("amp2.bias_level", 650.0, 200.0, 0.01, -44245.7), "the last 30 nights", "bias")
    assert reason.endswith(": +450 ADU, over 100 sigma below the last 30 nights")


def test_a_difference_image_ignores_missing_pixels_and_keeps_its_scale_finite():
    frame = np.full((8, 8), 200.0, np.float32)
    frame[2, 3] = 260.0
    neighbours = [np.full((8, 8), 200.0, np.float32) for _ in range(3)]
    neighbours[0][0, 0] = np.nan
    difference, scale = difference_image(frame, neighbours)
    assert np.isfinite(difference).all() and np.isfinite(scale)
    assert difference[2, 3] == 60.0 and np.abs(np.delete(difference.ravel(), 2 * 8 + 3)).max() == 0.0
