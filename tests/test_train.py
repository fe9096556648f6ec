"""Learning from verdicts: the threshold guard, the bad-frame judgement, and flags that change after training.

The frames are bias-like numbers written through the store's API (``tests.stored_frames``):
nights of frames at 200 ADU, some nights with frames 2 ADU high, a shift the unsupervised
threshold lets through (it is about 4 sigma of the night-to-night scatter). An expert
rejects those and accepts the others; after training the next such frames are flagged.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.config import load_settings
from core.models import BAD_FRAMES, IMAGE_TYPES, GroupJudge, load_active_models
from core.store import Store
from core.train import MAX_FACTOR, Example, cross_validated, fit_bad_frames, fit_group, train, tune_threshold
from tests.stored_frames import bias, night_name, scored, store_frames

NIGHTS = 9
PER_NIGHT = 4
SHIFTED = {2: (0,), 3: (1,), 4: (0, 2), 5: (1,), 6: (3,), 7: (0, 2), 8: (1,)}
SHIFT_ADU = 3.5
REVIEW_NIGHTS = range(2, 8)


def test_labels_of_one_kind_never_move_the_threshold_to_flag_everything_or_nothing():
    assert tune_threshold([0.2, 0.5, 1.5, 2.0], [False] * 4, shrink=0) == pytest.approx(2.0 * 1.05)  # just over the highest accepted
    assert tune_threshold([0.2, 0.5, 0.9], [False] * 3) == 1.0  # accepted and unflagged: nothing to move
    assert tune_threshold([0.5, 0.7, 3.0], [True] * 3, lowest=0.6, shrink=0) == pytest.approx(0.6)  # no lower than history allows
    assert tune_threshold([0.5, 0.7, 3.0], [True] * 3, lowest=0.2, shrink=0) == pytest.approx(0.5 / 1.05)  # just under the lowest
    assert tune_threshold([0.5, 0.7, 3.0], [True] * 3) == 1.0  # no word of what good frames score: stays
    assert tune_threshold([], []) == 1.0


def test_the_threshold_moves_between_accepted_and_rejected_frames_and_more_with_more_verdicts():
    few = tune_threshold([0.2, 0.5], [False, True])
    accepted, rejected = np.linspace(0.1, 0.3, 20), np.linspace(0.5, 0.9, 20)
    many = tune_threshold(np.concatenate([accepted, rejected]), [False] * 20 + [True] * 20)
    assert 0.3 < many < 0.5  # every rejected frame above it, every accepted one below
    assert many < few < 1.0  # two verdicts move it less than forty


def test_the_threshold_never_goes_beyond_its_bounds():
    assert tune_threshold([1e-6] * 50 + [1e-5] * 50, [False] * 50 + [True] * 50) == pytest.approx(1 / MAX_FACTOR)
    assert tune_threshold([1e5] * 50 + [1e6] * 50, [False] * 50 + [True] * 50) == pytest.approx(MAX_FACTOR)


def example(i: int, z: float, rejected: bool, score: float | None = None) -> Example:
    score = abs(z) if score is None else score
    return Example(i, "T|M", score / 6.0, score, 6.0, {"level": z, "noise": 0.1 * i % 1}, rejected)


def test_the_classifier_decides_near_judged_frames_and_the_threshold_far_from_them():
    examples = [example(i, 4.0 + 0.1 * i, True) for i in range(8)] + [example(10 + i, 0.1 * i, False) for i in range(8)]
    group = fit_group(examples)
    assert group.has_classifier and group.verdicts == 16 and group.rejected == 8
    near = group.judge(4.3, 6.0, {"level": 4.3, "noise": 0.3})
    assert near.flagged and near.trust > 0.5 and near.p_supervised > 0.75
    far = group.judge(3.0, 6.0, {"level": 3.0, "noise": 1e4})  # unlike any judged frame
    assert far.trust < 0.01 and math.isclose(far.p_bad, far.p_unsupervised, abs_tol=0.01)


def test_verdicts_on_faint_failures_cannot_clear_a_frame_far_over_the_threshold():
    """Experts rejected frames with a faint level problem and accepted quiet ones; none saw a frame like this one.

    A frame 5 times over the threshold on a number no judged frame deviated in must stay
    flagged, however much it resembles the accepted frames in the rest.
    """
    rejected = [Example(i, "T|M", 0.6, 3.6, 6.0, {"level": 3.6, "shift": -0.5 - 0.1 * (i % 3)}, True) for i in range(6)]
    accepted = [Example(10 + i, "T|M", 0.2, 1.2, 6.0, {"level": 0.1 * i, "shift": 0.5 + 0.1 * (i % 3)}, False) for i in range(8)]
    group = fit_group(rejected + accepted)
    assert group.has_classifier and group.accepted_ratio == pytest.approx(0.2) and group.rejected_ratio == pytest.approx(0.6)
    shifted = group.judge(31.0, 6.0, {"level": 0.2, "shift": 31.0})
    assert shifted.p_supervised < 0.5  # the classifier alone would clear it
    assert shifted.flagged and shifted.trust < 0.01
    # Within the scores the verdicts covered, the classifier still decides: a frame like the rejected ones is flagged.
    faint = group.judge(3.5, 6.0, {"level": 3.5, "shift": -0.6})
    assert faint.flagged and faint.trust > 0.5


def test_a_classifier_needs_two_frames_of_each_verdict():
    group = fit_group([example(0, 9.0, True), example(1, 0.5, False), example(2, 0.4, False)])
    assert not group.has_classifier
    assert group.judge(7.0, 6.0, {}).p_supervised is None
    assert GroupJudge.from_json(group.to_json()).threshold_factor == group.threshold_factor


def test_cross_validation_judges_every_verdict_once_with_a_model_that_never_saw_it():
    examples = [example(i, 4.0 + 0.1 * i, True) for i in range(6)] + [example(10 + i, 0.1 * i, False) for i in range(6)]
    trained, unsupervised = cross_validated(examples)
    assert trained.verdicts == unsupervised.verdicts == 12 and trained.rejected == 6
    assert unsupervised.recall == 0.0  # every rejected frame is under the unsupervised threshold
    assert trained.f1 == 1.0


@pytest.fixture
def shifted(tmp_path):
    """A home of bias frames, some of them 3.5 ADU high; every night scored without a model."""
    settings = load_settings(tmp_path / "home", weights="random", min_reference=5)
    store = Store.open(settings)
    rng = np.random.default_rng(5)
    frames = [
        bias(rng, night, k, level=SHIFT_ADU if k in SHIFTED.get(night, ()) else 0.0) for night in range(NIGHTS) for k in range(PER_NIGHT)
    ]
    store_frames(store, frames)
    for night in range(NIGHTS):
        scored(store, settings, night)
    return settings, store


def is_shifted(name: str, night: int) -> bool:
    return int(name.split("-")[1][:4]) % 100 in SHIFTED.get(night, ())


def review(store: Store, settings) -> None:
    """An expert's verdicts on every frame of the review nights: the shifted ones rejected."""
    for night in REVIEW_NIGHTS:
        for name, row in scored(store, settings, night).items():
            store.add_label(row["path"], 0, "reject" if is_shifted(name, night) else "accept", "ana", "level 3.5 ADU high")


def flags(store: Store, settings, night: int) -> dict[str, tuple[bool, bool]]:
    """(shifted, flagged) of every frame of a night, every night up to it scored again (as ``calspot train`` does)."""
    for earlier in range(night):
        scored(store, settings, earlier)
    return {name: (is_shifted(name, night), row["flagged"]) for name, row in scored(store, settings, night).items()}


def test_training_from_verdicts_flags_the_next_nights_shifted_frames(shifted):
    settings, store = shifted
    before = flags(store, settings, NIGHTS - 1)
    assert not any(flagged for _, flagged in before.values())  # 3.5 ADU is under the unsupervised threshold there
    review(store, settings)
    result = train(store, settings, "ana", rescore=False)
    assert [m.version for m in result.models] == ["bad-frames-1"]
    assert "no image-type network" in " ".join(result.notes)  # one type only: nothing to tell apart
    after = flags(store, settings, NIGHTS - 1)
    assert all(shifted_frame == flagged for shifted_frame, flagged in after.values()), after
    row = next(r for name, r in scored(store, settings, NIGHTS - 1).items() if is_shifted(name, NIGHTS - 1))
    assert row["details"]["threshold_basis"] == "verdicts" and row["details"]["learned"]["model"] == "bad-frames-1"
    assert row["model_version"].endswith("|bad-frames-1")


def test_the_metrics_of_a_model_say_how_it_does_on_verdicts_it_never_saw(shifted):
    settings, store = shifted
    review(store, settings)
    _, counts, metrics = fit_bad_frames(store.judged_images())
    assert counts["learnt_from"] == len(REVIEW_NIGHTS) * PER_NIGHT and counts["rejected"] == sum(len(SHIFTED[n]) for n in REVIEW_NIGHTS)
    per_type = metrics["per_type"]["MUTCAM_BIAS_ext0|1x1"]
    assert per_type["unsupervised"]["recall"] < 1.0  # the unsupervised threshold misses some of them
    assert per_type["trained"]["precision"] == 1.0 and per_type["trained"]["f1"] > per_type["unsupervised"]["f1"]
    assert per_type["threshold_factor"] < 1.0


def test_every_version_is_kept_and_rolling_back_brings_the_old_flags_back(shifted):
    settings, store = shifted
    train_without_rejections = [m.version for m in _train_on_accepts(store, settings)]
    review(store, settings)
    second = train(store, settings, "ben", rescore=False).models
    assert train_without_rejections == ["bad-frames-1"] and [m.version for m in second] == ["bad-frames-2"]
    assert [(m.version, m.active) for m in store.models(BAD_FRAMES)] == [("bad-frames-2", True), ("bad-frames-1", False)]
    assert any(flagged for _, flagged in flags(store, settings, NIGHTS - 1).values())
    store.activate_model("bad-frames-1")
    assert load_active_models(store, settings.home).version == "bad-frames-1"
    assert not any(flagged for _, flagged in flags(store, settings, NIGHTS - 1).values())
    row = next(iter(scored(store, settings, NIGHTS - 1).values()))
    store.add_label(row["path"], 0, "accept", "ana")
    assert store.labels(row["image_id"])[-1].model_version.endswith("|bad-frames-1")
    with pytest.raises(KeyError, match="known: bad-frames-1, bad-frames-2"):
        store.activate_model("bad-frames-9")
    assert store.active_model(IMAGE_TYPES) is None


def _train_on_accepts(store: Store, settings):
    for name, row in scored(store, settings, 2).items():
        if not is_shifted(name, 2):
            store.add_label(row["path"], 0, "accept", "ana")
    return train(store, settings, "ana", rescore=False).models


def test_a_model_without_a_rejected_frame_leaves_the_flags_as_they_were(shifted):
    settings, store = shifted
    before = flags(store, settings, NIGHTS - 1)
    (model,) = _train_on_accepts(store, settings)
    assert model.parameters["groups"]["MUTCAM_BIAS_ext0|1x1"]["threshold_factor"] == 1.0
    assert flags(store, settings, NIGHTS - 1) == before


def test_training_with_no_verdict_says_what_is_missing(shifted):
    settings, store = shifted
    result = train(store, settings, "ana", rescore=False)
    assert result.models == [] and any("no verdict on a scored calibration frame yet" in note for note in result.notes)
    assert night_name(0) in store.nights()
