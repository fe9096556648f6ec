"""Maps of the descriptors: clusters kept apart, stored maps reused, history sampled, nights placed, the ingest."""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import silhouette_score
from sklearn.neighbors import NearestNeighbors

from core import maps
from core.config import load_settings
from core.embed import expected_fingerprint
from core.maps import (
    MAP_METHODS,
    historic_map,
    map_coordinates,
    map_params,
    night_map,
    place_on_map,
    placed_night_map,
)
from core.pipeline import compute_maps, ingest
from core.store import NewFile, NewImage, Store
from tests.pipeline_fixtures import make_settings

ROOT = Path(__file__).resolve().parent.parent
DIM = 128
HISTORY = 5
# One centre per kind of frame; descriptors are non-negative like a network's pooled activations.
CENTRES = np.random.default_rng(42).gamma(1.0, 1.0, size=(4, DIM)).astype(np.float32)
TYPES = {"UVES_BLUE_BIAS_ext0": 0, "UVES_BLUE_FLAT_ext0": 1, "UVES_BLUE_WAVE_ext0": 2, "KAST_BLUE_ARC": 3}


def groups(sizes=(25, 25, 25), seed=0) -> tuple[np.ndarray, np.ndarray]:
    """Descriptors scattered around the first ``len(sizes)`` centres, each at its own brightness; the true groups."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(sizes)), sizes)
    scatter = rng.gamma(1.0, 0.25, size=(len(labels), DIM))
    brightness = rng.uniform(0.5, 2.0, size=(len(labels), 1))
    return ((CENTRES[labels] + scatter) * brightness).astype(np.float32), labels


def mapped(descriptors: np.ndarray, method: str, params=None) -> np.ndarray:
    """A map computed in one thread (the machines that run the tests are shared)."""
    return map_coordinates(descriptors, method, params, threads=1)


def nearest_of(points: np.ndarray, among: np.ndarray) -> np.ndarray:
    """Index in ``among`` of each point's nearest neighbour (itself excluded when ``points is among``)."""
    if points is among:
        return NearestNeighbors(n_neighbors=2).fit(among).kneighbors(points)[1][:, 1]
    return NearestNeighbors(n_neighbors=1).fit(among).kneighbors(points)[1][:, 0]


# ----------------------------------------------------------------------------- arrays


@pytest.mark.parametrize("method", MAP_METHODS)
def test_three_kinds_of_frame_stay_apart_on_every_map(method):
    descriptors, truth = groups()
    points = mapped(descriptors, method, map_params(method))
    assert points.shape == (75, 2) and points.dtype == np.float32
    assert (truth[nearest_of(points, points)] == truth).all()
    assert silhouette_score(points, truth) > 0.5


@pytest.mark.parametrize("method", MAP_METHODS)
def test_a_seed_gives_the_same_map_every_time(method):
    descriptors, _ = groups(seed=1)
    first = mapped(descriptors, method, map_params(method))
    np.testing.assert_array_equal(mapped(descriptors, method, map_params(method)), first)


def test_another_seed_gives_another_umap():
    descriptors, _ = groups(seed=1)
    first = mapped(descriptors, "umap", map_params("umap"))
    assert not np.array_equal(mapped(descriptors, "umap", dataclasses.replace(map_params("umap"), seed=1)), first)


def test_a_brighter_frame_sits_where_its_fainter_twin_does():
    descriptors, _ = groups(seed=2)
    brighter = descriptors * np.random.default_rng(3).uniform(2.0, 20.0, size=(len(descriptors), 1))
    np.testing.assert_allclose(mapped(brighter, "pca"), mapped(descriptors, "pca"), atol=1e-4)


@pytest.mark.parametrize("method", MAP_METHODS)
@pytest.mark.parametrize("frames", [1, 2, 3])
def test_a_map_of_a_handful_of_frames_still_has_coordinates(method, frames):
    descriptors, _ = groups(sizes=(frames,), seed=4)
    points = mapped(descriptors, method)
    assert points.shape == (frames, 2) and np.isfinite(points).all()


@pytest.mark.slow
def test_umaps_compiled_kernels_are_kept_for_the_next_process(tmp_path):
    """umap-learn compiles its kernels at the first fit of every process unless numba's cache keeps them."""
    script = "import numpy as np; from core.maps import map_coordinates; map_coordinates(np.eye(40, 16) + 0.1, 'umap')"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, check=True, capture_output=True)
    kept = {p.name.split(".")[0] for p in (tmp_path / "numba").rglob("*.nbi")}
    assert {"layouts", "umap_"} <= kept, kept


def test_a_nights_map_takes_one_thread_and_a_long_history_the_homes_share():
    assert maps.map_threads(225, 2) == 1
    assert maps.map_threads(4500, 2) == 2
    assert maps.map_threads(45_000, 2) == 2
    assert maps.map_threads(45_000, 1) == 1


def test_an_unknown_method_is_named_with_the_known_ones():
    with pytest.raises(ValueError, match="unknown map method 'umpa'; known: umap, tsne, pca"):
        mapped(np.ones((5, 4)), "umpa")


@pytest.mark.parametrize("method", MAP_METHODS)
def test_a_placed_frame_lands_among_the_frames_it_resembles(method):
    descriptors, truth = groups()
    points = mapped(descriptors, method, map_params(method))
    new, new_truth = groups(sizes=(4, 4, 4), seed=9)
    placed = place_on_map(descriptors, points, new, method, map_params(method))
    assert placed.shape == (12, 2)
    assert (truth[nearest_of(placed, points)] == new_truth).all()
    again = place_on_map(descriptors, points, descriptors[:10], method, map_params(method))
    np.testing.assert_allclose(again, points[:10], atol=1e-3 * np.ptp(points))


# ----------------------------------------------------------------------------- a store of synthetic frames


def add_night(
    store: Store,
    night: str,
    counts: dict[tuple[str, str], int],
    *,
    seed: int,
    instrument: str = "UVES",
    fingerprint: str,
) -> list[int]:
    """Store a night of frames, ``counts[(image type, mode)]`` of each; returns their image ids."""
    rng = np.random.default_rng(seed)
    start = datetime.fromisoformat(night) + timedelta(hours=20)
    files = []
    for (image_type, mode), count in counts.items():
        for k in range(count):
            descriptor = (CENTRES[TYPES[image_type]] + rng.gamma(1.0, 0.25, DIM)) * rng.uniform(0.5, 2.0)
            name = f"{instrument}.{night}.{image_type}.{mode}.{k}"
            label = image_type.split("_")[2]
            image = NewImage(
                ext=0,
                extname="",
                shape=(16, 16),
                instrument=instrument,
                arm="BLUE",
                category=label.lower(),
                label=label,
                mode=mode,
                image_type=image_type,
                night=night,
                date_obs=start + timedelta(minutes=len(files)),
                exptime=1.0,
                header={},
                problems=[],
                thumbnail=None,
                metrics=None,
                profiles={},
                descriptor=descriptor.astype(np.float32),
            )
            path = f"/raw/{night}/{name}.fits"
            files.append(NewFile(path=path, content_hash=name, size=5760, night=night, error=None, images=[image]))
    run_id = store.start_run("test", {})
    store.save_files(files, run_id, fingerprint, "test")
    store.finish_run(run_id, "done", {})
    paths = {f.path for f in files}
    return sorted(r.image_id for r in store.image_rows(night=night) if r.path in paths)


BIAS, FLAT, WAVE = ("UVES_BLUE_BIAS_ext0", "1x1"), ("UVES_BLUE_FLAT_ext0", "1x1"), ("UVES_BLUE_WAVE_ext0", "1x1")


@pytest.fixture
def home(tmp_path: Path):
    """Settings, store and fingerprint of a home with two nights of history of three UVES types."""
    settings = make_settings(tmp_path / "home", map_history_per_type=HISTORY)
    store = Store.open(settings)
    fingerprint = expected_fingerprint(settings)
    for seed, night in enumerate(["2025-01-10", "2025-01-11"]):
        add_night(store, night, {BIAS: 8, FLAT: 8, WAVE: 8}, seed=seed, fingerprint=fingerprint)
    return settings, store, fingerprint


@pytest.fixture
def fits(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The methods of the maps fitted from now on, one entry per fit."""
    fitted: list[str] = []
    fit = maps.map_coordinates

    def counted(descriptors, method, params=None, **options):
        fitted.append(method)
        return fit(descriptors, method, params, **options)

    monkeypatch.setattr(maps, "map_coordinates", counted)
    return fitted


def test_a_rerun_loads_the_stored_map_and_a_new_night_computes_its_own(home, fits):
    settings, store, fingerprint = home
    tonight = add_night(store, "2025-01-12", {BIAS: 3, FLAT: 3}, seed=7, fingerprint=fingerprint)
    assert night_map(store, "2025-01-12", settings, "pca", compute=False) is None
    first = night_map(store, "2025-01-12", settings, "pca")
    again = night_map(store, "2025-01-12", settings, "pca")
    assert fits == ["pca"]
    assert again.key == first.key and again.created_at == first.created_at
    np.testing.assert_array_equal(again.coordinates, first.coordinates)
    assert night_map(store, "2025-01-12", settings, "pca", compute=False).key == first.key
    assert list(first.image_ids[first.tonight]) == tonight
    assert [r.image_id for r in first.rows] == list(first.image_ids)

    add_night(store, "2025-01-13", {BIAS: 3}, seed=8, fingerprint=fingerprint)
    newer = night_map(store, "2025-01-13", settings, "pca")
    assert newer.key != first.key and fits == ["pca", "pca"]
    assert night_map(store, "2025-01-12", settings, "pca").key == first.key  # a later night is not its history
    assert fits == ["pca", "pca"]


def test_a_backfilled_history_or_another_method_computes_anew(home, fits):
    settings, store, fingerprint = home
    add_night(store, "2025-01-12", {BIAS: 3}, seed=7, fingerprint=fingerprint)
    first = night_map(store, "2025-01-12", settings, "pca")
    other = night_map(store, "2025-01-12", settings, "pca", params=maps.PcaParams(seed=5))
    add_night(store, "2024-12-01", {BIAS: 8, FLAT: 8, WAVE: 8}, seed=11, fingerprint=fingerprint)
    backfilled = night_map(store, "2025-01-12", settings, "pca")
    assert len({first.key, other.key, backfilled.key}) == 3
    assert fits == ["pca"] * 3
    assert "2024-12-01" in {r.night for r in backfilled.rows}


def test_a_new_model_computes_anew_and_never_mixes_descriptors(home, fits):
    settings, store, fingerprint = home
    add_night(store, "2025-01-12", {BIAS: 3}, seed=7, fingerprint=fingerprint)
    first = night_map(store, "2025-01-12", settings, "pca")
    assert night_map(store, "2025-01-12", settings, "pca", fingerprint="new-model") is None  # nothing described by it
    for seed, night in enumerate(["2025-01-10", "2025-01-11", "2025-01-12"]):
        counts = {BIAS: 3} if night == "2025-01-12" else {BIAS: 8, FLAT: 8, WAVE: 8}
        add_night(store, night, counts, seed=seed + 20, fingerprint="new-model")
    renewed = night_map(store, "2025-01-12", settings, "pca", fingerprint="new-model")
    assert renewed.key != first.key and fits == ["pca", "pca"]
    assert store.stored_map(renewed.key).fingerprint == "new-model"
    assert night_map(store, "2025-01-12", settings, "pca").key == first.key


def test_every_frame_of_the_night_is_in_with_a_bounded_sample_of_each_type_and_mode(home):
    settings, store, fingerprint = home
    add_night(store, "2025-01-11", {("UVES_BLUE_BIAS_ext0", "2x2"): 8}, seed=5, fingerprint=fingerprint)
    tonight = add_night(store, "2025-01-12", {BIAS: HISTORY + 7, FLAT: 2}, seed=7, fingerprint=fingerprint)
    frame_map = night_map(store, "2025-01-12", settings, "pca")
    assert sorted(frame_map.image_ids[frame_map.tonight]) == tonight
    history = Counter((r.image_type, r.mode) for r, t in zip(frame_map.rows, frame_map.tonight, strict=True) if not t)
    assert history == {BIAS: HISTORY, FLAT: HISTORY, WAVE: HISTORY, ("UVES_BLUE_BIAS_ext0", "2x2"): HISTORY}
    assert "of the night among" in frame_map.title


def test_the_progress_callback_goes_from_zero_to_one_in_words(home):
    settings, store, fingerprint = home
    add_night(store, "2025-01-12", {BIAS: 3}, seed=7, fingerprint=fingerprint)
    seen: list[tuple[float, str]] = []
    night_map(store, "2025-01-12", settings, "umap", progress=lambda fraction, text: seen.append((fraction, text)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert all(text for _, text in seen) and any("UMAP" in text for _, text in seen)


@pytest.mark.parametrize("method", MAP_METHODS)
def test_a_night_is_placed_among_the_historic_frames_it_resembles(home, fits, method):
    settings, store, fingerprint = home
    add_night(store, "2025-01-12", {BIAS: 3, FLAT: 3, WAVE: 3}, seed=7, fingerprint=fingerprint)
    kast = {("KAST_BLUE_ARC", "600/4310"): 4}
    add_night(store, "2025-01-12", kast, seed=8, instrument="KAST", fingerprint=fingerprint)
    placed = placed_night_map(store, "2025-01-12", settings, method, "UVES")
    history = historic_map(store, "UVES", settings, method)
    assert fits == [method]  # the history once; the night is placed, not fitted
    assert placed.kind == "placed" and placed.scope == "placed:UVES:2025-01-12" and placed.base_key == history.key
    assert {r.night for r in history.rows} == {"2025-01-10", "2025-01-11"} and not history.tonight.any()
    assert {r.instrument for r in placed.rows} == {"UVES"} and placed.tonight.sum() == 9
    np.testing.assert_array_equal(placed.coordinates[~placed.tonight], history.coordinates)
    types = np.array([r.image_type for r in placed.rows])
    past = placed.coordinates[~placed.tonight]
    assert (types[~placed.tonight][nearest_of(placed.coordinates[placed.tonight], past)] == types[placed.tonight]).all()
    assert placed_night_map(store, "2025-01-12", settings, method, "UVES").key == placed.key
    assert placed_night_map(store, "2025-01-12", settings, method, "KAST") is None  # no history to place it in
    assert fits == [method]


def test_the_historic_map_is_kept_for_later_nights_until_it_is_refitted(home, fits):
    settings, store, fingerprint = home
    add_night(store, "2025-01-12", {BIAS: 3}, seed=7, fingerprint=fingerprint)
    first = placed_night_map(store, "2025-01-12", settings, "pca", "UVES")
    add_night(store, "2025-01-13", {FLAT: 3}, seed=8, fingerprint=fingerprint)
    second = placed_night_map(store, "2025-01-13", settings, "pca", "UVES")
    assert second.base_key == first.base_key and fits == ["pca"]
    assert "2025-01-12" not in {r.night for r in second.rows}
    refitted = historic_map(store, "UVES", settings, "pca", refit=True)
    assert refitted.key != first.base_key and "2025-01-13" in {r.night for r in refitted.rows}
    assert placed_night_map(store, "2025-01-13", settings, "pca", "UVES").base_key == refitted.key
    assert fits == ["pca", "pca"]


def test_a_failing_map_is_logged_in_one_line_and_the_others_are_stored(home, monkeypatch, caplog):
    settings, store, fingerprint = home
    add_night(store, "2025-01-12", {BIAS: 3}, seed=7, fingerprint=fingerprint)

    def broken(reduced, params):
        raise FloatingPointError("the gradient\nexploded")

    monkeypatch.setattr(maps, "_tsne", broken)
    caplog.set_level(logging.INFO, logger="core.pipeline")
    made = compute_maps(store, "2025-01-12", settings.replace(map_methods=("tsne", "pca")), fingerprint)
    assert made == 2
    assert store.latest_map("night:2025-01-12", "pca", fingerprint) is not None
    assert store.latest_map("placed:UVES:2025-01-12", "pca", fingerprint) is not None
    assert store.latest_map("night:2025-01-12", "tsne", fingerprint) is None
    failures = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(failures) == 2 and all("t-SNE" in f and "FloatingPointError" in f for f in failures)
    assert not any("\n" in f for f in failures)
    assert any("computed 2 of 4 maps of 2025-01-12" in r.getMessage() for r in caplog.records)


def test_map_settings_come_from_the_file_and_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("CALSPOT_MAP_METHODS", raising=False)
    monkeypatch.delenv("CALSPOT_MAP_HISTORY_PER_TYPE", raising=False)
    assert load_settings(tmp_path).map_methods == MAP_METHODS
    assert load_settings(tmp_path).map_history_per_type == 200
    (tmp_path / "calspot.toml").write_text('map_methods = ["PCA", "umap"]\nmap_history_per_type = 50\n')
    assert load_settings(tmp_path).map_methods == ("pca", "umap")
    assert load_settings(tmp_path).map_history_per_type == 50
    monkeypatch.setenv("CALSPOT_MAP_METHODS", "tsne, pca")
    assert load_settings(tmp_path).map_methods == ("tsne", "pca")
    monkeypatch.setenv("CALSPOT_MAP_METHODS", "none")
    assert load_settings(tmp_path).map_methods == ()
    monkeypatch.setenv("CALSPOT_MAP_METHODS", "umpa")
    with pytest.raises(ValueError, match="unknown map method 'umpa' in map_methods; known: umap, tsne, pca"):
        load_settings(tmp_path)


# ----------------------------------------------------------------------------- the nightly ingest


def test_the_ingest_stores_the_newest_nights_maps_for_the_dashboard(simulated_nights, tmp_path, embedder, monkeypatch, caplog):
    settings = make_settings(tmp_path / "home", map_methods=MAP_METHODS, map_history_per_type=20)
    store = Store.open(settings)
    caplog.set_level(logging.INFO, logger="core.pipeline")
    result = ingest([simulated_nights], settings, store=store, embedder=embedder)
    newest, older = result.nights[-1], result.nights[:-1]
    fingerprint = embedder.fingerprint
    instruments = {r.instrument for r in store.image_rows(night=newest)}
    for method in MAP_METHODS:
        assert store.latest_map(f"night:{newest}", method, fingerprint) is not None
        assert all(store.latest_map(f"night:{night}", method, fingerprint) is None for night in older)
        for instrument in instruments:
            placed = store.latest_map(f"placed:{instrument}:{newest}", method, fingerprint)
            history = store.latest_map(f"history:{instrument}", method, fingerprint)
            assert placed is not None and history is not None
            assert newest not in {r.night for r in store.image_rows(list(history.image_ids))}
    assert any(f"computed {3 + 3 * len(instruments)} of" in r.getMessage() for r in caplog.records)

    def no_fitting(*args, **kwargs):
        raise AssertionError("the dashboard must find the map stored")

    monkeypatch.setattr(maps, "map_coordinates", no_fitting)
    for method in MAP_METHODS:
        frame_map = night_map(store, newest, settings, method, compute=False, fingerprint=fingerprint)
        night_ids = sorted(store.descriptors([r.image_id for r in store.image_rows(night=newest)], fingerprint))
        assert sorted(frame_map.image_ids[frame_map.tonight]) == night_ids
        assert frame_map.tonight.sum() < len(frame_map.image_ids)
