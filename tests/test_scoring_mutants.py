"""What a night's scores say that no other test looked at: what a deviation was compared with, both sizes of a
frame read out in another window, history described by an earlier embedder, and a type check that fails.

Each test here fails for a change to ``core/scoring.py`` that left the rest of the suite green (found by mutation
testing). The frames are written straight through the store's API: small seeded quality numbers and descriptors,
no FITS files, no network.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from core.config import load_settings
from core.detect import TypeClassifier
from core.store import Store
from tests.stored_frames import SHAPE, bias, night_name, scored, store_frames


@pytest.fixture
def home(tmp_path):
    settings = load_settings(tmp_path / "home", weights="random", min_reference=5)
    return settings, Store.open(settings)


def test_a_deviation_names_the_nights_it_was_compared_with(home):
    settings, store = home
    rng = np.random.default_rng(1)
    store_frames(store, [bias(rng, night, k) for night in range(3) for k in range(3)])
    store_frames(store, [bias(rng, 3, 0), bias(rng, 3, 1, level=40.0)])
    rows = scored(store, settings, 3)
    jumped = rows["bias-2001.fits"]
    assert jumped["flagged"] and jumped["reference"] == "history"
    assert any(reason.endswith("sigma above the last 3 nights") for reason in jumped["reasons"]), jumped["reasons"]
    assert not rows["bias-2000.fits"]["flagged"]


def test_a_deviation_names_the_other_frames_of_a_night_without_history(home):
    settings, store = home
    rng = np.random.default_rng(2)
    store_frames(store, [bias(rng, 0, k) for k in range(5)] + [bias(rng, 0, 5, level=40.0)])
    jumped = scored(store, settings, 0)["bias-2005.fits"]
    assert jumped["flagged"] and jumped["reference"] == "night"
    assert any(reason.endswith("sigma above the other 5 frames of this night") for reason in jumped["reasons"]), jumped["reasons"]


def test_a_frame_of_another_size_says_its_size_and_that_of_its_reference(home):
    settings, store = home
    rng = np.random.default_rng(3)
    store_frames(store, [bias(rng, night, k) for night in range(2) for k in range(3)])
    store_frames(store, [bias(rng, 2, 0), bias(rng, 2, 1, shape=(10, 30))])
    rows = scored(store, settings, 2)
    cropped = rows["bias-2001.fits"]
    assert cropped["flagged"]
    assert cropped["reasons"][0] == "image of 10x30 pixels; the frames it is compared with have 20x30"
    assert not any(reason.startswith("image of") for reason in rows["bias-2000.fits"]["reasons"])


def test_a_frame_of_another_size_among_a_nights_own_three_frames_is_named(home):
    settings, store = home
    rng = np.random.default_rng(9)
    store_frames(store, [bias(rng, 0, 0), bias(rng, 0, 1), bias(rng, 0, 2, shape=(10, 30))])
    rows = scored(store, settings, 0)
    assert {row["reference"] for row in rows.values()} == {"night"}
    assert rows["bias-2002.fits"]["reasons"][0] == "image of 10x30 pixels; the frames it is compared with have 20x30"
    assert not any(reason.startswith("image of") for k in range(2) for reason in rows[f"bias-200{k}.fits"]["reasons"])


def test_no_size_is_called_the_norm_when_the_reference_holds_two_sizes_equally(home):
    settings, store = home
    rng = np.random.default_rng(4)
    sizes = [SHAPE, (10, 30)] * 3
    store_frames(store, [bias(rng, 0, k, shape=shape) for k, shape in enumerate(sizes)])
    store_frames(store, [bias(rng, 1, 0, shape=(10, 30))])
    row = scored(store, settings, 1)["bias-2000.fits"]
    assert row["reference"] == "history" and row["score"] is not None
    assert not any(reason.startswith("image of") for reason in row["reasons"])


def test_copies_of_files_count_once_in_the_next_nights_reference(home):
    settings, store = home
    rng = np.random.default_rng(7)
    history = [bias(rng, night, k) for night in range(3) for k in range(3)]
    store_frames(store, history)
    store_frames(store, history[:3], folder="copy")
    store_frames(store, [bias(rng, 3, k) for k in range(2)])
    rows = scored(store, settings, 3)
    assert {row["reference"] for row in rows.values()} == {"history"}
    assert {row["details"]["reference"]["frames"] for row in rows.values()} == {9}


def test_frames_without_valid_pixels_do_not_make_a_reference(home):
    settings, store = home
    rng = np.random.default_rng(8)
    empty = [bias(rng, 0, k) for k in range(2, 5)]
    for image in empty:
        image.metrics, image.descriptor, image.problems = None, None, ["no valid pixels: every pixel is NaN or infinite"]
    store_frames(store, [bias(rng, 0, 0), bias(rng, 0, 1), *empty])
    rows = scored(store, settings, 0)
    for name in ("bias-2000.fits", "bias-2001.fits"):
        assert rows[name]["score"] is None and not rows[name]["flagged"] and rows[name]["reference"] == "none"
        assert rows[name]["reasons"] == ["no reference yet: 2 frames of this type and mode so far, 3 needed to compare"]
    assert all(rows[f"bias-200{k}.fits"]["flagged"] for k in range(2, 5))


def test_history_described_by_an_earlier_embedder_still_serves_as_the_reference(home):
    """After a change of weights only tonight is described again: the quality numbers of the history still count."""
    settings, store = home
    rng = np.random.default_rng(5)
    store_frames(store, [bias(rng, night, k) for night in range(3) for k in range(3)], fingerprint="earlier-embedder")
    store_frames(store, [bias(rng, 3, k) for k in range(2)] + [bias(rng, 3, 2, level=40.0)])
    rows = scored(store, settings, 3)
    assert {row["reference"] for row in rows.values()} == {"history"}
    assert {row["details"]["reference"]["frames"] for row in rows.values()} == {9}
    assert [name for name, row in rows.items() if row["flagged"]] == ["bias-2002.fits"]


def test_a_type_check_that_fails_leaves_every_frame_of_the_night_scored(home, monkeypatch, caplog):
    settings, store = home
    rng = np.random.default_rng(6)
    history = [bias(rng, night, k, category=category) for night in range(2) for category in ("bias", "flat") for k in range(3)]
    store_frames(store, history)
    store_frames(store, [bias(rng, 2, k, category=category) for category in ("bias", "flat") for k in range(2)])

    def failing_fit(self, X, y):
        raise ValueError("descriptors of another length")

    monkeypatch.setattr(TypeClassifier, "fit", failing_fit)
    with caplog.at_level(logging.WARNING, logger="core.scoring"):
        rows = scored(store, settings, 2)
    assert len(rows) == 4 and all(row["score"] is not None and row["reference"] == "history" for row in rows.values())
    assert not any(row["flagged"] for row in rows.values())
    assert [r.getMessage() for r in caplog.records] == [
        f"no type check for night {night_name(2)}: ValueError: descriptors of another length"
    ]
