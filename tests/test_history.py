"""The history of a type: the reference band follows a slow drift and a jump stands out of it."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from core.config import load_settings
from core.history import (
    MIN_BAND_FRAMES,
    frame_status,
    load_type_history,
    reference_band,
    type_history,
    usable,
)
from core.store import Store
from core.store.records import ImageRow
from tests.conftest import FILLED_EARLIER_NIGHT, FILLED_NIGHT, FILLED_QC_VERSION

FIRST_NIGHT = datetime(2024, 1, 1)


def row(
    image_id: int,
    night: int,
    *,
    score: float | None = 1.0,
    threshold: float | None = 6.0,
    flagged: bool | None = False,
    verdict: str | None = None,
    minutes: int = 0,
    image_type: str = "UVES_BLUE_BIAS_ext0",
    date_obs: bool = True,
) -> ImageRow:
    day = FIRST_NIGHT + timedelta(days=night)
    return ImageRow(
        image_id=image_id,
        file_id=image_id,
        path=f"/raw/frame{image_id}.fits",
        ext=0,
        night=f"{day:%Y-%m-%d}",
        date_obs=day + timedelta(hours=20, minutes=minutes) if date_obs else None,
        instrument="UVES",
        arm="BLUE",
        image_type=image_type,
        mode="1x1",
        category="bias",
        header_type="BIAS",
        shape=(16, 16),
        score=score,
        threshold=threshold,
        flagged=flagged,
        verdict=verdict,
        reasons=[],
        model_version="test",
    )


def nights_of_frames(levels: list[float], per_night: int = 4, noise: float = 1.0, seed: int = 0):
    """Rows and quality numbers: ``per_night`` frames a night around each night's level."""
    generator = np.random.default_rng(seed)
    rows, metrics = [], {}
    for night, level in enumerate(levels):
        for k in range(per_night):
            image_id = night * per_night + k + 1
            rows.append(row(image_id, night, minutes=k))
            metrics[image_id] = {"amp1.level": level + noise * generator.standard_normal(), "amp1.read_noise": 3.0}
    return rows, metrics


def test_band_follows_a_slow_drift() -> None:
    levels = [170.0 + 0.3 * night for night in range(30)]
    rows, metrics = nights_of_frames(levels)
    history = type_history(rows, metrics, history_nights=5)
    band = history.bands["amp1.level"]
    assert np.isnan(band.median[0]) and band.frames[0] == 0
    # The band moves with the level, a few nights behind, and no night leaves it.
    assert band.median[-1] - band.median[5] == pytest.approx(0.3 * 24, abs=1.0)
    excursions = history.excursions("amp1.level")
    assert np.nanmax(np.abs(excursions)) < 3.0
    assert np.all((band.low() < band.median) & (band.median < band.high()) | np.isnan(band.median))


def test_a_jump_stands_out_until_it_is_the_history() -> None:
    levels = [170.0] * 12 + [190.0] * 12
    rows, metrics = nights_of_frames(levels)
    history = type_history(rows, metrics, history_nights=5)
    excursions = history.excursions("amp1.level")
    assert np.nanmax(np.abs(excursions[:12])) < 3.0
    assert excursions[12] > 10.0
    band = history.bands["amp1.level"]
    assert band.median[12] == pytest.approx(170.0, abs=1.0)
    # Five nights later the new level is the reference.
    assert band.median[17] == pytest.approx(190.0, abs=1.0)
    assert abs(excursions[17]) < 3.0
    assert history.ranked_metrics()[0] == "amp1.level"


def test_rejected_and_flagged_frames_stay_out_of_the_band() -> None:
    rows, metrics = nights_of_frames([170.0] * 6, noise=0.5)
    wild = [
        row(100, 2, flagged=True, score=40.0),
        row(101, 3, verdict="reject", flagged=True, score=40.0),
        row(102, 4, verdict="accept", flagged=True, score=9.0),
    ]
    metrics.update({100: {"amp1.level": 1000.0}, 101: {"amp1.level": 1000.0}, 102: {"amp1.level": 171.0}})
    history = type_history(rows + wild, metrics, history_nights=10)
    assert history.bands["amp1.level"].median[-1] == pytest.approx(170.0, abs=0.5)
    # Four frames a night and the accepted one: 21 usable frames before the last night.
    assert history.bands["amp1.level"].frames[-1] == 21
    status = dict(zip((r.image_id for r in history.rows), history.statuses, strict=True))
    assert (status[100], status[101], status[102], status[1]) == ("flagged", "rejected", "accepted", "usable")
    assert [usable(r) for r in wild] == [False, False, True]


def test_identical_frames_get_the_detectors_floor_not_a_zero_band() -> None:
    rows, metrics = nights_of_frames([170.0] * 4, noise=0.0)
    band = type_history(rows, metrics, history_nights=5).bands["amp1.level"]
    assert band.scatter[-1] == pytest.approx(0.002 * 170.0)  # a level's floor: 0.2 ADU or 0.2 %, the larger
    few = reference_band(["2024-01-01", "2024-01-02"], np.array([1.0, 1.0]), np.ones(2, bool), 5)
    assert few.frames[-1] == 1 and np.isnan(few.median[-1]) and MIN_BAND_FRAMES > 1


def test_thresholds_times_and_labels() -> None:
    rows = [row(1, 0, threshold=6.0), row(2, 0, threshold=8.0), row(3, 1, threshold=None, score=None, date_obs=False)]
    history = type_history(rows, {1: {"amp1.level": 1.0, "max": 9.0}}, history_nights=3)
    assert history.nights == ["2024-01-01", "2024-01-02"]
    assert history.thresholds[0] == pytest.approx(7.0) and np.isnan(history.thresholds[1])
    assert history.night_starts[1] == datetime(2024, 1, 2, 12)
    assert history.times[2] == datetime(2024, 1, 3, 0)  # no DATE-OBS: the middle of its night
    assert list(history.values) == ["amp1.level"]  # bookkeeping numbers ("max") are not followed
    assert np.isnan(history.values["amp1.level"][1])
    assert history.label("amp1.level")[1] == "ADU"
    assert np.isnan(history.scores[2])
    assert frame_status(rows[0]) == "usable"


def test_one_group_only() -> None:
    with pytest.raises(ValueError, match="one instrument, image type and mode"):
        type_history([row(1, 0), row(2, 0, image_type="UVES_BLUE_FLAT_ext0")], {}, history_nights=3)
    with pytest.raises(ValueError, match="no frames"):
        type_history([], {}, history_nights=3)


def test_loaded_from_the_store(filled_home: Path) -> None:
    settings = load_settings(filled_home)
    store = Store.open(settings)
    history = load_type_history(store, settings, "UVES", "UVES_BLUE_BIAS_ext0", "1x1", qc_version=FILLED_QC_VERSION)
    assert history.nights == [FILLED_EARLIER_NIGHT, FILLED_NIGHT]
    assert len(history.rows) == 3
    assert history.statuses.count("flagged") == 1
    assert list(history.values) == ["bias_level_1"]
    assert load_type_history(store, settings, "UVES", "NO_SUCH_TYPE", "1x1") is None
