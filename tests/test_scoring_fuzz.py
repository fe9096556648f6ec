"""Scoring survives whatever a night throws at it: a seeded fuzz test of ``score_night``.

Odd shapes, missing and extra quality numbers, NaN and infinite values, descriptors of
the wrong length, profiles of any length, previews of other sizes and tiny groups are
written through the store's API; every night is then scored. Nothing may raise, and
every image of the night must get exactly one score row.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import numpy as np
import pytest

from core import qc
from core.config import load_settings
from core.detect import FrameDetector, FrameSet
from core.report import night_report
from core.scoring import score_night
from core.store import NewFile, NewImage, Store

FINGERPRINT = "fuzz"
METRICS = (
    "level",
    "p50",
    "p99",
    "amp1.level",
    "amp1.read_noise",
    "amp2.level",
    "periodic_noise",
    "cosmic_ray_fraction",
    "saturated_fraction",
    "bad_column_excess",
    "flux",
    "line_count",
    "grid00",
    "gradient_x",
    "profile_bin_rows",
)
SHAPES = ((1, 1), (1, 4000), (4000, 1), (2, 2), (3, 5), (150, 120), (150, 120), (150, 120))
CATEGORIES = ("bias", "bias", "flat", "arc", "dark", "science", "unknown")
ODD_VALUES = (np.nan, np.inf, -np.inf, 0.0, 1e300, -1e300, 1e-300)


def odd_number(rng: np.random.Generator, typical: float) -> float:
    """Mostly a plausible value, sometimes anything at all."""
    if rng.random() < 0.15:
        return float(rng.choice(ODD_VALUES))
    return float(typical * (1 + 0.01 * rng.normal()))


def odd_metrics(rng: np.random.Generator) -> dict[str, float] | None:
    if rng.random() < 0.08:
        return None
    names = [n for n in METRICS if rng.random() < 0.8]
    if rng.random() < 0.2:
        names.append(f"extra_{rng.integers(100)}")
    return {name: odd_number(rng, 100.0 + len(name)) for name in names}


def odd_descriptor(rng: np.random.Generator) -> np.ndarray | None:
    roll = rng.random()
    if roll < 0.08:
        return None
    vector = (1.0 + 0.05 * rng.normal(size=8 if roll > 0.12 else 5)).astype(np.float32)
    if rng.random() < 0.1:
        vector[rng.integers(len(vector))] = rng.choice([np.nan, np.inf])
    if rng.random() < 0.05:
        vector[:] = 0.0
    return vector


def odd_profiles(rng: np.random.Generator) -> dict[str, np.ndarray]:
    profiles = {}
    for axis in ("rows", "cols"):
        if rng.random() < 0.7:
            length = int(rng.choice([0, 1, 3, 7, 40, 120]))
            values = rng.normal(100.0, 5.0, length)
            if length and rng.random() < 0.2:
                values[rng.integers(length)] = np.nan
            profiles[axis] = values
    return profiles


def odd_preview(rng: np.random.Generator) -> np.ndarray | None:
    if rng.random() < 0.1:
        return None
    side = int(rng.choice([1, 4, 16, 16, 16]))
    picture = rng.normal(200.0, 3.0, (side, side)).astype(np.float32)
    if rng.random() < 0.1:
        picture[0, 0] = np.nan
    return picture


def odd_image(rng: np.random.Generator, night: str, moment: datetime, category: str, image_type: str, mode: str) -> NewImage:
    problems = ["no observation date (DATE-OBS missing or unreadable): night taken from the batch"] if rng.random() < 0.05 else []
    return NewImage(
        ext=0,
        extname="",
        shape=tuple(int(v) for v in SHAPES[rng.integers(len(SHAPES))]),
        instrument="FUZZ" if rng.random() < 0.9 else "OTHER",
        arm="",
        category=category,
        label=category.upper(),
        mode=mode,
        image_type=image_type,
        night=night,
        date_obs=moment,
        exptime=0.0,
        header={"OBJECT": "fuzz"},
        problems=problems,
        thumbnail=None,
        metrics=odd_metrics(rng),
        profiles=odd_profiles(rng),
        descriptor=odd_descriptor(rng),
        preview=odd_preview(rng),
    )


def odd_store(rng: np.random.Generator, store: Store) -> list[str]:
    """A few nights of a few groups of odd frames, with occasional duplicates; returns the nights."""
    run_id = store.start_run("fuzz", {})
    first = datetime(2025, 3, 1, 20)
    nights = [(first + timedelta(days=d)).date().isoformat() for d in range(int(rng.integers(1, 5)))]
    groups = [(str(rng.choice(CATEGORIES)), int(rng.integers(3))) for _ in range(int(rng.integers(1, 5)))]
    files = []
    for d, night in enumerate(nights):
        for g, (category, mode) in enumerate(groups):
            for k in range(int(rng.integers(0, 7))):
                moment = first + timedelta(days=d, minutes=10 * g + k)
                image = odd_image(rng, night, moment, category, f"FUZZ_{category.upper()}{g}_ext0", f"m={mode}")
                content = f"{night}-{g}-{k}" if rng.random() > 0.05 else f"{night}-{g}-0"
                files.append(NewFile(f"/fuzz/{night}/{g}-{k}.fits", content, 2880, night, None, [image]))
    store.save_files(files, run_id, FINGERPRINT, qc.QC_VERSION)
    return nights


@pytest.mark.parametrize("seed", range(24))
def test_scoring_a_night_of_odd_frames_never_raises_and_scores_every_frame(seed, tmp_path, caplog):
    rng = np.random.default_rng(seed)
    settings = load_settings(tmp_path / "home", weights="random", min_reference=int(rng.integers(1, 6)))
    store = Store.open(settings)
    nights = odd_store(rng, store)
    with caplog.at_level(logging.WARNING):
        for night in store.nights():
            scores = score_night(store, night, settings, FINGERPRINT, store.start_run("score", {}))
            images = store.images(FINGERPRINT, qc.QC_VERSION, night=night)
            assert sorted(s.image_id for s in scores) == sorted(i.image_id for i in images)
            rows = night_report(store, night)
            assert all(r["reasons"] != ["not scored yet"] for r in rows)
            assert all(r["score"] is None or np.isfinite(r["score"]) for r in rows)
    assert set(store.nights()) <= set(nights)
    # The safety net of score_group_safely is for what nobody foresaw: these frames need none of it.
    assert not [r.getMessage() for r in caplog.records if r.name == "core.scoring"]


def test_a_frame_without_a_number_the_reference_has_is_explained_not_raised():
    """The crash of a blue bias night with one 1x4000 image among its biases."""
    rng = np.random.default_rng(0)
    metrics = [{"level": 200 + rng.normal(0, 0.3), "periodic_noise": 0.1, "cosmic_ray_fraction": 0.01} for _ in range(20)]
    reference = FrameSet(list(range(20)), ["2025-01-01"] * 20, metrics, np.ones((20, 4), np.float32), [{}] * 20, "bias")
    detector = FrameDetector().fit(reference)
    odd = FrameSet([99], ["2025-01-02"], [{"level": 200.0}], np.ones((1, 4), np.float32), [{}], "bias")
    explanation = detector.explain(odd)[0]
    assert [d.name for d in explanation.deviations] == ["level", "descriptor_distance"]
    assert explanation.score < detector.threshold_


def test_a_group_that_cannot_be_scored_says_so_and_the_others_are_scored(tmp_path, monkeypatch):
    settings = load_settings(tmp_path / "home", weights="random")
    store = Store.open(settings)
    run_id = store.start_run("test", {})
    files = []
    for g, category in enumerate(("bias", "flat")):
        for k in range(4):
            image = NewImage(
                0,
                "",
                (10, 10),
                "FUZZ",
                "",
                category,
                category.upper(),
                "",
                f"FUZZ_{category.upper()}_ext0",
                "2025-03-01",
                datetime(2025, 3, 1, 20, k),
                0.0,
                {},
                [],
                None,
                {"level": 100.0 + k},
                {},
                np.ones(4, np.float32) + k,
                None,
            )
            files.append(NewFile(f"/fuzz/{g}-{k}.fits", f"h{g}{k}", 2880, "2025-03-01", None, [image]))
    store.save_files(files, run_id, FINGERPRINT, qc.QC_VERSION)
    real_fit = FrameDetector.fit

    def fit_failing_on_flats(self, X, y=None):
        if X.category == "flat":
            raise FloatingPointError("overflow in a flat's profile")
        return real_fit(self, X, y)

    monkeypatch.setattr(FrameDetector, "fit", fit_failing_on_flats)
    score_night(store, "2025-03-01", settings, FINGERPRINT, run_id)
    rows = {r["image_type"]: r for r in night_report(store, "2025-03-01")}
    assert rows["FUZZ_BIAS_ext0"]["score"] is not None
    flat = rows["FUZZ_FLAT_ext0"]
    assert flat["flagged"] and flat["score"] is None
    assert flat["reasons"] == [
        "not scored: the detector failed on this image type and mode (FloatingPointError: overflow in a flat's profile)"
    ]


PIXEL_TYPES = (np.uint8, np.int16, np.uint16, np.int32, np.int64, np.float32, np.float64)
PIXEL_SHAPES = ((1, 1), (1, 4000), (4000, 1), (2, 2), (7, 3), (60, 50), (60, 50), (60, 50), (60, 50))


def odd_pixels(rng: np.random.Generator) -> np.ndarray:
    """A small image of any pixel type and shape, sometimes constant, sometimes with NaN or infinity."""
    shape = PIXEL_SHAPES[rng.integers(len(PIXEL_SHAPES))]
    dtype = PIXEL_TYPES[rng.integers(len(PIXEL_TYPES))]
    values = rng.normal(100.0, 3.0, shape)
    if rng.random() < 0.1:
        values[:] = 7.0
    pixels = values.astype(dtype)
    if pixels.dtype.kind == "f" and rng.random() < 0.3:
        pixels.flat[rng.integers(pixels.size, size=max(1, pixels.size // 10))] = rng.choice([np.nan, np.inf, -np.inf])
    return pixels


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.filterwarnings("error::RuntimeWarning")  # numpy's warnings about odd values would reach the user's terminal
def test_ingesting_a_night_of_odd_pixels_describes_and_scores_every_image(seed, tmp_path, embedder, caplog):
    from astropy.io import fits

    from core.pipeline import ingest
    from tests.pipeline_fixtures import make_settings

    rng = np.random.default_rng(seed)
    raw = tmp_path / "raw"
    raw.mkdir()
    expected = {}
    for k in range(14):
        header = fits.Header(
            {
                "INSTRUME": "FUZZCAM",
                "OBJECT": str(rng.choice(["Bias", "Dome flat", "Arc"])),
                "DATE-OBS": f"2025-03-0{2 + k % 2}T02:{k:02d}:00",
                "EXPTIME": 1.0,
            }
        )
        hdus = [fits.PrimaryHDU(odd_pixels(rng), header=header)]
        if rng.random() < 0.3:
            hdus.append(fits.ImageHDU(odd_pixels(rng)))
        path = raw / f"fuzz{k:02d}.fits"
        fits.HDUList(hdus).writeto(path)
        expected[str(path)] = len(hdus)
    settings = make_settings(tmp_path / "home")
    with caplog.at_level(logging.WARNING):
        result = ingest([raw], settings, embedder=embedder)
    assert result.unreadable == []
    rows = [r for night in result.nights for r in night_report(Store.open(settings), night)]
    counted = {path: sum(r["path"] == path for r in rows) for path in expected}
    assert counted == expected
    assert not [r for r in rows if any(reason.startswith(("not scored", "could not be measured")) for reason in r["reasons"])]
    assert not [r.getMessage() for r in caplog.records if r.name == "core.scoring"]
