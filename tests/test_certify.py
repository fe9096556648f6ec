"""A certified change: after an intervention an expert says "new normal from this night on".

The frames are bias-like numbers written through the store's API (``tests.stored_frames``):
five nights at a level of 200 ADU, then a jump of 30 ADU that stays (a new CCD
controller, say). Without a certification every frame after the jump is flagged; once
the jump's night is certified, the reference starts there and the new level is normal.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.cli import main
from core.config import load_settings
from core.history import load_type_history
from core.store import Store
from tests.stored_frames import bias, night_name, scored, store_frames

JUMP_NIGHT = 5
NIGHTS = 9
PER_NIGHT = 3
TYPE, MODE = "MUTCAM_BIAS_ext0", "1x1"


@pytest.fixture
def jumped(tmp_path):
    """A home whose bias level jumps by 30 ADU on night 5 and stays there; nothing scored yet."""
    settings = load_settings(tmp_path / "home", weights="random", min_reference=5)
    store = Store.open(settings)
    rng = np.random.default_rng(3)
    store_frames(
        store,
        [bias(rng, night, k, level=30.0 if night >= JUMP_NIGHT else 0.0) for night in range(NIGHTS) for k in range(PER_NIGHT)],
    )
    return settings, store


def flags_by_night(store: Store, settings) -> dict[int, int]:
    return {night: sum(row["flagged"] for row in scored(store, settings, night).values()) for night in range(NIGHTS)}


def test_without_a_certification_the_new_level_stays_flagged(jumped):
    settings, store = jumped
    flags = flags_by_night(store, settings)
    assert all(flags[night] == 0 for night in range(1, JUMP_NIGHT))
    assert all(flags[night] == PER_NIGHT for night in range(JUMP_NIGHT, NIGHTS))


def test_after_a_certification_the_reference_starts_at_the_change(jumped):
    settings, store = jumped
    store.certify(TYPE, MODE, night_name(JUMP_NIGHT), "ana", "new CCD controller")
    flags = flags_by_night(store, settings)
    assert sum(flags.values()) == 0, flags
    after = scored(store, settings, NIGHTS - 1)
    reference = next(iter(after.values()))["details"]["reference"]
    assert reference["first_night"] >= night_name(JUMP_NIGHT) and reference["certified_since"] == night_name(JUMP_NIGHT)
    before = next(iter(scored(store, settings, JUMP_NIGHT - 1).values()))["details"]["reference"]
    assert before["certified_since"] is None  # nights before the change keep their old reference


def test_a_jump_after_the_certified_one_is_still_caught(jumped):
    settings, store = jumped
    store.certify(TYPE, MODE, night_name(JUMP_NIGHT), "ana", "new CCD controller")
    rng = np.random.default_rng(4)
    store_frames(store, [bias(rng, NIGHTS, 0, level=30.0), bias(rng, NIGHTS, 1, level=60.0)], folder="later")
    for night in range(NIGHTS):
        scored(store, settings, night)
    rows = scored(store, settings, NIGHTS)
    assert [row["flagged"] for _, row in sorted(rows.items())] == [False, True]
    assert any("since the change certified on" in reason for reason in rows["bias-2001.fits"]["reasons"])


def test_certifications_are_kept_in_order_and_the_newest_before_a_night_counts(jumped):
    _, store = jumped
    store.certify(TYPE, MODE, night_name(6), "ben", "lamp replaced")
    store.certify(TYPE, MODE, night_name(2), "ana")
    assert [(c.night, c.reviewer, c.note) for c in store.certifications(TYPE, MODE)] == [
        (night_name(2), "ana", ""),
        (night_name(6), "ben", "lamp replaced"),
    ]
    assert store.certified_since(TYPE, MODE, night_name(1)) is None
    assert store.certified_since(TYPE, MODE, night_name(5)).night == night_name(2)
    assert store.certified_since(TYPE, MODE, night_name(8)).night == night_name(6)
    assert store.certified_since(TYPE, "2x2", night_name(8)) is None


@pytest.mark.parametrize(
    ("image_type", "mode", "night", "reviewer", "message"),
    [
        (TYPE, MODE, "2025-13-01", "ana", "YYYY-MM-DD"),
        (TYPE, MODE, "20250301", "ana", "YYYY-MM-DD"),
        (TYPE, MODE, "2025-03-05", " ", "name of who certifies"),
        ("NOSUCH_BIAS_ext0", MODE, "2025-03-05", "ana", "no frame of type"),
    ],
)
def test_a_certification_that_names_nothing_real_is_refused(jumped, image_type, mode, night, reviewer, message):
    _, store = jumped
    with pytest.raises(ValueError, match=message):
        store.certify(image_type, mode, night, reviewer)
    assert store.certifications() == []


def test_the_history_band_starts_again_at_the_certified_night(jumped):
    settings, store = jumped
    history = load_type_history(store, settings, "MUTCAM", TYPE, MODE)
    assert history.certified == []
    assert history.bands["level"].median[JUMP_NIGHT + 2] == pytest.approx(200.0, abs=2.0)  # the old level, unaware
    store.certify(TYPE, MODE, night_name(JUMP_NIGHT), "ana")
    history = load_type_history(store, settings, "MUTCAM", TYPE, MODE)
    assert history.certified == [night_name(JUMP_NIGHT)]
    assert np.isnan(history.bands["level"].median[JUMP_NIGHT])  # nothing before the change counts
    assert history.bands["level"].median[JUMP_NIGHT + 2] == pytest.approx(230.0, abs=2.0)


def test_calspot_certify_rescores_the_nights_from_the_change_on(jumped, capsys):
    settings, store = jumped
    flags_by_night(store, settings)
    home = str(Path(settings.home))
    status = main(["--home", home, "certify", "--type", TYPE, "--night", night_name(JUMP_NIGHT), "--by", "ana", "--note", "new controller"])
    out = capsys.readouterr().out
    assert status == 0
    assert f"{TYPE} mode {MODE} is new normal from {night_name(JUMP_NIGHT)} on, by ana" in out
    assert f"rescored {NIGHTS - JUMP_NIGHT} nights from {night_name(JUMP_NIGHT)}: 0 flagged" in out
    assert main(["--home", home, "report", "--format", "csv"]) == 0
    assert ",true," not in capsys.readouterr().out  # the latest night's report: nothing flagged any more


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--type", "NOSUCH_BIAS_ext0"], "no frame of type 'NOSUCH_BIAS_ext0' in the store; its types: MUTCAM_BIAS_ext0"),
        (["--type", TYPE, "--mode", "2x2"], f"{TYPE} has no mode '2x2'; its modes: {MODE}"),
    ],
)
def test_calspot_certify_says_in_one_line_what_it_does_not_know(jumped, capsys, extra, message):
    settings, store = jumped
    status = main(["--home", str(settings.home), "certify", *extra, "--night", night_name(JUMP_NIGHT), "--by", "ana"])
    err = capsys.readouterr().err
    assert status != 0 and message in err and "Traceback" not in err
    assert store.certifications() == []
