"""The per-type detector and the type classifier on small seeded feature sets."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from core.detect import STEADY_ROWS, FrameDetector, FrameSet, TypeClassifier, describe_feature, floor_shrink, profile_shift, tolerance


def frames(n: int, seed: int = 0, level: float = 200.0, noise: float = 3.0, start_id: int = 0, dim: int = 16) -> FrameSet:
    """``n`` good bias-like frames: small scatter in level and noise, similar descriptors."""
    rng = np.random.default_rng(seed)
    base = np.random.default_rng(99).normal(1.0, 0.2, dim)
    return FrameSet(
        ids=list(range(start_id, start_id + n)),
        nights=[f"2025-01-{1 + i // 4:02d}" for i in range(n)],
        metrics=[
            {
                "amp1.level": level + rng.normal(0, 0.3),
                "amp1.read_noise": noise + rng.normal(0, 0.03),
                "cosmic_ray_fraction": abs(rng.normal(0, 0.01)),
            }
            for _ in range(n)
        ],
        descriptors=(base + rng.normal(0, 0.01, (n, dim))).astype(np.float32),
        profiles=[{} for _ in range(n)],
        category="bias",
    )


def one(metrics: dict, descriptor: np.ndarray, image_id: int = 1000) -> FrameSet:
    return FrameSet([image_id], ["2025-02-01"], [metrics], descriptor[None].astype(np.float32), [{}], "bias")


def test_follows_scikit_learn_conventions():
    detector = FrameDetector(neighbours=2, min_threshold=5.0)
    assert detector.get_params()["neighbours"] == 2
    assert clone(detector).get_params() == detector.get_params()
    reference = frames(30)
    assert detector.fit(reference) is detector
    assert detector.threshold_ >= 5.0 and len(detector.feature_names_) == 5
    assert "night_amp1.level" in detector.feature_names_  # four frames a night: each also against its night
    scores = detector.anomaly_score(reference)
    np.testing.assert_allclose(detector.score_samples(reference), -scores)
    thresholds = np.array([e.threshold for e in detector.explain(reference)])
    np.testing.assert_allclose(detector.decision_function(reference), thresholds - scores)
    assert set(detector.predict(reference)) <= {-1, 1}


def test_good_frames_pass_and_a_level_jump_is_flagged_with_its_number():
    reference = frames(40)
    detector = FrameDetector().fit(reference)
    assert (detector.predict(frames(20, seed=1, start_id=500)) == 1).all()
    jumped = one({"amp1.level": 214.2, "amp1.read_noise": 3.0, "cosmic_ray_fraction": 0.0}, reference.descriptors[0])
    assert detector.predict(jumped)[0] == -1
    top = detector.explain(jumped)[0].deviations[0]
    assert top.name == "amp1.level" and top.value == pytest.approx(214.2) and top.z > 10


def test_a_number_measured_under_two_names_is_one_reason_under_the_plainer_name():
    reference = frames(40)
    for m in reference.metrics:
        m["level"] = m["p50"] = m["amp1.level"]  # a single amplifier: its level is the image's median
    detector = FrameDetector().fit(reference)
    jumped = one(
        {"amp1.level": 214.2, "level": 214.2, "p50": 214.2, "amp1.read_noise": 3.0, "cosmic_ray_fraction": 0.0}, reference.descriptors[0]
    )
    names = [d.name for d in detector.explain(jumped)[0].deviations]
    assert names[0] == "level" and "amp1.level" not in names and "p50" not in names


def test_shift_reasons_name_what_moved_on_each_category():
    assert describe_feature("shift_cols", "arc")[0] == "shift of the arc lines in x (along the rows)"
    assert describe_feature("shift_rows", "flat")[0] == "shift of the orders or illumination in y (up the columns)"
    assert "arc lines" not in describe_feature("profile_mismatch_rows", "bias")[0]


def test_fewer_cosmic_rays_than_usual_is_not_a_defect():
    reference = frames(40)
    detector = FrameDetector().fit(reference)
    clean = one({"amp1.level": 200.0, "amp1.read_noise": 3.0, "cosmic_ray_fraction": 0.0}, reference.descriptors[0])
    more = one({"amp1.level": 200.0, "amp1.read_noise": 3.0, "cosmic_ray_fraction": 2.0}, reference.descriptors[0])
    assert detector.predict(clean)[0] == 1 and detector.predict(more)[0] == -1


def test_identical_reference_frames_do_not_make_every_wobble_a_flag():
    reference = frames(20)
    for m in reference.metrics:
        m["amp1.level"] = 200.0
    detector = FrameDetector().fit(reference)
    wobble = one({"amp1.level": 200.05, "amp1.read_noise": 3.0, "cosmic_ray_fraction": 0.0}, reference.descriptors[0])
    assert detector.predict(wobble)[0] == 1
    absolute, _ = tolerance("amp1.level", "bias")
    assert detector.scale_[detector.feature_names_.index("amp1.level")] >= absolute * floor_shrink("amp1.level", 20)


def steady(n: int, step: float = 0.0) -> FrameSet:
    """``n`` bias frames, four a night, whose level scatters by 0.02 ADU (a very steady controller)."""
    reference = frames(n)
    rng = np.random.default_rng(7)
    for m in reference.metrics:
        m["amp1.level"] = 200.0 + rng.normal(0, 0.02)
    return reference


def test_a_long_steady_reference_sees_a_faint_level_jump_that_a_short_one_does_not():
    jump = one({"amp1.level": 200.3, "amp1.read_noise": 3.0, "cosmic_ray_fraction": 0.0}, frames(1).descriptors[0])
    assert FrameDetector().fit(steady(100)).predict(jump)[0] == -1  # 0.3 ADU is many times a steady history's scatter
    assert FrameDetector().fit(steady(12)).predict(jump)[0] == 1  # three nights: the floor of 0.4 ADU stands


def test_floors_of_counts_and_shape_numbers_never_shrink_those_of_cosmic_rays_only_off_arcs():
    assert floor_shrink("amp1.level", 4) == 1.0 and floor_shrink("amp1.level", 1000) == 0.1
    assert floor_shrink("amp1.level", 2 * STEADY_ROWS) == pytest.approx(0.5)
    for name in ("line_count", "bad_column_excess", "descriptor_distance", "profile_mismatch_cols"):
        assert floor_shrink(name, 1000) == 1.0
    # a long reference says how many cosmic rays a bias or a flat gets; on an arc, line peaks pass for hits
    assert floor_shrink("cosmic_ray_fraction", 1000, "bias") == 0.2 and floor_shrink("cosmic_ray_fraction", 1000, "arc") == 1.0


def test_reference_frames_are_scored_leaving_themselves_out():
    reference = frames(12)
    reference.descriptors[3] += np.linspace(-1.0, 1.0, 16)
    detector = FrameDetector().fit(reference)
    scores = detector.anomaly_score(reference)
    assert int(np.argmax(scores)) == 3 and scores[3] > detector.threshold_


def test_a_descriptor_far_from_every_reference_frame_is_flagged():
    reference = frames(30)
    detector = FrameDetector().fit(reference)
    odd = one(dict(reference.metrics[0]), reference.descriptors[0] + np.linspace(-0.5, 0.5, 16))
    explanation = detector.explain(odd)[0]
    assert explanation.score > detector.threshold_
    assert explanation.deviations[0].name == "descriptor_distance"
    assert [n for n, _ in explanation.neighbours] and all(d >= 0 for _, d in explanation.neighbours)


def test_profile_shift_finds_sub_sample_shifts_and_a_mismatch():
    x = np.arange(800.0)
    orders = np.exp(-0.5 * ((x % 37 - 18) / 3) ** 2)
    shift, mismatch = profile_shift(np.interp(x - 4.3, x, orders), orders, 30)
    assert shift == pytest.approx(4.3, abs=0.2) and mismatch < 0.05
    _, mismatch = profile_shift(np.random.default_rng(0).normal(size=800), orders, 30)
    assert mismatch > 0.5


def test_type_classifier_tells_types_apart_and_says_how_sure_it_is():
    rng = np.random.default_rng(0)
    bias = rng.normal(1.0, 0.01, 32)
    flat = bias + rng.normal(0, 0.05, 32)
    training = np.vstack([bias + rng.normal(0, 0.01, (20, 32)), flat + rng.normal(0, 0.01, (20, 32))])
    classifier = TypeClassifier(neighbours=5).fit(training, ["bias"] * 20 + ["flat"] * 20)
    probe = np.vstack([bias + rng.normal(0, 0.01, 32), flat + rng.normal(0, 0.01, 32)])
    assert list(classifier.predict(probe)) == ["bias", "flat"]
    assert classifier.predict_proba(probe).max(axis=1).min() > 0.8


def drifting_nights(nights: int, per_night: int, seed: int = 0, step: float = 1.0, jitter: float = 0.03) -> tuple[FrameSet, float]:
    """Bias-like frames whose level walks ``step`` ADU a night and scatters ``jitter`` within one; and the last level."""
    rng = np.random.default_rng(seed)
    base = np.random.default_rng(99).normal(1.0, 0.2, 16)
    walk = 200.0 + np.cumsum(rng.normal(0.0, step, nights))
    levels = np.repeat(walk, per_night) + rng.normal(0.0, jitter, nights * per_night)
    n = nights * per_night
    reference = FrameSet(
        ids=list(range(n)),
        nights=[f"2025-01-{1 + i // per_night:02d}" for i in range(n)],
        metrics=[{"amp1.level": float(level), "amp1.read_noise": 3.0 + rng.normal(0, 0.03)} for level in levels],
        descriptors=(base + rng.normal(0, 0.01, (n, 16))).astype(np.float32),
        profiles=[{} for _ in range(n)],
        category="bias",
    )
    return reference, float(walk[-1])


def one_night(levels: list[float], reference: FrameSet) -> FrameSet:
    n = len(levels)
    return FrameSet(
        ids=list(range(1000, 1000 + n)),
        nights=["2025-02-15"] * n,
        metrics=[{"amp1.level": level, "amp1.read_noise": 3.0} for level in levels],
        descriptors=reference.descriptors[:n].copy(),
        profiles=[{} for _ in range(n)],
        category="bias",
    )


def test_a_frame_off_its_nights_others_by_a_fraction_of_the_nightly_drift_is_flagged_against_them():
    reference, last = drifting_nights(25, 4)
    detector = FrameDetector().fit(reference)
    tonight = last + 1.5  # the night moved on, as nights do here: nothing to flag
    night = one_night([tonight, tonight + 0.02, tonight - 0.02, tonight + 0.4], reference)
    assert detector.predict(night).tolist() == [1, 1, 1, -1]
    top = detector.explain(night)[3].deviations[0]
    assert top.name == "night_amp1.level" and top.value - top.reference == pytest.approx(0.4, abs=0.05)
    assert describe_feature(top.name, "bias")[0] == "level, amplifier 1, against the night's other frames"
    # the same 0.4 ADU shared by the whole night is drift, not a defect
    assert (detector.predict(one_night([tonight + 0.4, tonight + 0.42, tonight + 0.38, tonight + 0.4], reference)) == 1).all()


def test_of_a_night_of_two_frames_the_one_that_left_the_history_too_is_the_odd_one():
    reference, last = drifting_nights(25, 2, seed=1, step=0.2)
    detector = FrameDetector().fit(reference)
    for levels in ([last, last + 0.6], [last + 0.6, last]):
        flags = detector.predict(one_night(levels, reference))
        assert flags[levels.index(last)] == 1 and flags[levels.index(last + 0.6)] == -1


def test_a_broken_frame_never_stands_for_its_night():
    reference, _ = drifting_nights(25, 3)
    detector = FrameDetector().fit(reference)
    recent = sorted(set(reference.nights))[-detector.recent_nights :]
    predicted = float(np.median([m["amp1.level"] for m, n in zip(reference.metrics, reference.nights, strict=True) if n in recent]))
    for drift in (1.0, -1.0, 1.5):  # the night moved as nights do; its broken frame sits where the history predicts
        night = one_night([predicted + drift, predicted + drift + 0.02, predicted], reference)
        night.metrics[2]["amp1.read_noise"] = 30.0
        assert detector.predict(night).tolist() == [1, 1, -1]
        assert max(e.score for e in detector.explain(night)[:2]) < detector.threshold_


def test_a_couple_of_cosmic_rays_more_never_flag_a_small_frame():
    reference = frames(60)
    reference.pixels = 20_000  # one hit of three pixels is 0.15 per mille of such a frame
    detector = FrameDetector().fit(reference)
    two_hits = one({"amp1.level": 200.0, "amp1.read_noise": 3.0, "cosmic_ray_fraction": 0.3}, reference.descriptors[0])
    assert detector.predict(two_hits)[0] == 1
    shower = one({"amp1.level": 200.0, "amp1.read_noise": 3.0, "cosmic_ray_fraction": 3.0}, reference.descriptors[0])
    assert detector.predict(shower)[0] == -1
