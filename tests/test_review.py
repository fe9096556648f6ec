"""The learning order of the review queue: uncertain frames first, near-duplicates spread out."""

from __future__ import annotations

import numpy as np
import pytest

from core.review import Candidate, learning_order, uncertainty

BIAS = ("UVES_BLUE_BIAS_ext0", "1x1")
FLAT = ("UVES_BLUE_FLAT_ext0", "390")


def frame(image_id: int, score: float | None, direction: int = 0, *, group=BIAS, reviewed: bool = False, dims: int = 8) -> Candidate:
    vector = np.full(dims, 0.1)
    vector[direction] = 1.0
    return Candidate(image_id, score, None if score is None else 6.0, vector, group, reviewed)


def test_uncertainty_is_one_at_the_threshold_and_falls_either_way() -> None:
    assert uncertainty(6.0, 6.0) == pytest.approx(1.0)
    assert uncertainty(3.0, 6.0) == pytest.approx(0.5) == uncertainty(12.0, 6.0)
    assert uncertainty(None, 6.0) == 0.0 == uncertainty(3.0, None) == uncertainty(float("nan"), 6.0)


def test_frames_near_their_threshold_come_first_flagged_or_not() -> None:
    order = learning_order([frame(1, 0.5, 1), frame(2, 5.5, 2), frame(3, 300.0, 3), frame(4, 6.6, 4)])
    assert order[:2] in ([2, 4], [4, 2]) and order[-1] == 3


def test_near_duplicates_are_spread_out_by_a_different_frame() -> None:
    twins = [frame(1, 6.0, 1), frame(2, 6.1, 1), frame(3, 6.2, 1)]
    other = frame(4, 4.5, 5)  # less uncertain, but unlike the twins
    assert learning_order([*twins, other])[:2] == [1, 4]
    assert learning_order([*twins, other], diversity=0.0)[:3] == [1, 2, 3]  # uncertainty alone


def test_frames_like_a_reviewed_one_wait_and_reviewed_ones_are_not_queued() -> None:
    reviewed = frame(9, 6.0, 1, reviewed=True)
    order = learning_order([reviewed, frame(1, 6.1, 1), frame(2, 5.2, 2)])
    assert order == [2, 1]


def test_similar_frames_of_another_type_do_not_hold_each_other_back() -> None:
    order = learning_order([frame(1, 6.0, 1), frame(2, 6.1, 1, group=FLAT), frame(3, 4.0, 2)])
    assert order[:2] == [1, 2]


def test_unscored_frames_and_frames_without_descriptors_are_kept() -> None:
    blank = Candidate(5, 5.9, 6.0, None, BIAS)
    order = learning_order([frame(1, None, 1), blank, frame(2, 6.0, 2)])
    assert sorted(order) == [1, 2, 5] and order[-1] == 1


def test_diversity_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        learning_order([frame(1, 6.0)], diversity=1.5)
