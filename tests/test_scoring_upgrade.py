"""Scoring after an upgrade that changed the quality numbers: old numbers are never taken for none."""

from __future__ import annotations

import numpy as np

from core import qc
from core.config import load_settings
from core.store import Store
from tests.stored_frames import bias, night_name, scored, store_frames

OLD_QC = "0-older"


def test_frames_measured_by_an_older_calspot_are_flagged_unchecked_and_never_stand_for_normal(tmp_path):
    settings = load_settings(tmp_path / "home", weights="random", min_reference=5)
    store = Store.open(settings)
    rng = np.random.default_rng(3)
    store_frames(store, [bias(rng, night, k) for night in range(4) for k in range(3)], qc_version=OLD_QC)
    store_frames(store, [bias(rng, 4, k) for k in range(3)])  # tonight's files ingested again: current numbers
    assert len(store.measured_by_older_calspot(qc.QC_VERSION, nights=[night_name(n) for n in range(4)])) == 12
    assert store.measured_by_older_calspot(qc.QC_VERSION, night=night_name(4)) == {}

    old_night = scored(store, settings, 2)
    assert all(row["flagged"] and row["score"] is None for row in old_night.values())
    assert all("measured by an older calspot (QC version 0-older" in row["reasons"][0] for row in old_night.values())
    assert all("ingest its file again" in row["reasons"][0] for row in old_night.values())

    tonight = scored(store, settings, 4)
    # the history's old numbers are not a reference: tonight's three frames are compared with each other
    assert {row["reference"] for row in tonight.values()} == {"night"}
    assert not any(row["flagged"] for row in tonight.values())
