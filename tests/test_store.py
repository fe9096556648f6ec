"""The store's reads for maps, clusterings, lists and histories, and the maps and clusterings it keeps."""

from __future__ import annotations

import io
import re
from collections import Counter
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import event

from core.config import load_settings
from core.store import ImageRow, NewFile, NewImage, NewScore, Store, pack_preview, store_for, unpack_preview
from tests.conftest import (
    FILLED_EARLIER_NIGHT,
    FILLED_FINGERPRINT,
    FILLED_FLAGGED_FILE,
    FILLED_MODEL_VERSION,
    FILLED_NIGHT,
    FILLED_QC_VERSION,
    FILLED_REASONS,
    fill_store,
)
from tests.store_history import HISTORY_FINGERPRINT, HISTORY_GROUPS, fill_history, night_name


@pytest.fixture
def filled(store_url: str, tmp_path: Path) -> Store:
    """The two scored nights of ``fill_store``: five frames on 2024-03-02, two on 2024-03-01 (SQLite, PostgreSQL)."""
    store = Store(store_url)
    fill_store(store, tmp_path / "raw")
    return store


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def history(request: pytest.FixtureRequest, tmp_path_factory) -> Store:
    """60 nights of three groups (two UVES, one Kast), 4 images of each group a night (SQLite, PostgreSQL)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('history') / 'calspot.sqlite'}"
    else:
        url = request.getfixturevalue("postgres").create_database()
    store = Store(url)
    fill_history(store, nights=60, per_night=4)
    return store


def by_name(rows: list[ImageRow]) -> dict[str, ImageRow]:
    return {Path(row.path).name: row for row in rows}


def test_image_rows_carry_each_image_latest_score_and_verdict(filled: Store, tmp_path: Path) -> None:
    rows = by_name(filled.image_rows(night=FILLED_NIGHT))
    assert len(rows) == 4 and {row.night for row in rows.values()} == {FILLED_NIGHT}
    flagged = rows[FILLED_FLAGGED_FILE]
    assert flagged.flagged is True and flagged.score == 7.5 and flagged.threshold == 3.0
    assert flagged.reasons == FILLED_REASONS and flagged.model_version == FILLED_MODEL_VERSION
    assert flagged.verdict is None and flagged.header_type == "BIAS" and flagged.shape == (16, 16)

    filled.add_label(flagged.path, 0, "reject", "ana")
    filled.add_label(flagged.path, 0, "accept", "ben", "a valid outlier")
    run_id = filled.start_run("rescore", {})
    filled.add_scores([NewScore(flagged.image_id, 1.2, 3.5, False, "history", [], {})], run_id, "model-2")
    again = by_name(filled.image_rows([flagged.image_id]))[FILLED_FLAGGED_FILE]
    assert (again.verdict, again.flagged, again.score, again.threshold, again.reasons, again.model_version) == (
        "accept",
        False,
        1.2,
        3.5,
        [],
        "model-2",
    )


def test_the_revision_changes_with_each_verdict_score_and_map_and_with_nothing_else(filled: Store) -> None:
    start = filled.revision()
    assert start[0] > 0 and start[-1] == len(filled.image_rows())  # counted whatever the other tables hold
    assert filled.revision() == start and filled.image_rows(night=FILLED_NIGHT)  # reading changes nothing
    flagged = by_name(filled.image_rows(night=FILLED_NIGHT))[FILLED_FLAGGED_FILE]
    filled.add_label(flagged.path, 0, "reject", "ana")
    after_verdict = filled.revision()
    assert after_verdict != start
    run_id = filled.start_run("rescore", {})
    filled.add_scores([NewScore(flagged.image_id, 1.2, 3.5, False, "history", [], {})], run_id, "model-2")
    after_score = filled.revision()
    assert after_score != after_verdict
    filled.save_map("k", "night:" + FILLED_NIGHT, "pca", {}, "fp", [flagged.image_id], np.zeros((1, 2)))
    assert filled.revision() != after_score


def test_an_image_not_scored_yet_has_no_score_and_its_header_type(filled: Store, tmp_path: Path) -> None:
    image = NewImage(
        ext=1,
        extname="CHIP1",
        shape=(8, 4),
        instrument="UVES",
        arm="RED",
        category="flat",
        label="FLAT",
        mode="1x1",
        image_type="UVES_RED_FLAT_ext1",
        night=FILLED_NIGHT,
        date_obs=datetime(2024, 3, 2, 22),
        exptime=3.0,
        header={"HIERARCH ESO DPR TYPE": "LAMP,FLAT"},
        problems=[],
        thumbnail=None,
        metrics=None,
        profiles={},
        descriptor=None,
    )
    run_id = filled.start_run("test", {})
    filled.save_files([NewFile(str(tmp_path / "red.fits"), "red", 2880, FILLED_NIGHT, None, [image])], run_id, "x", "x")
    [row] = filled.image_rows(image_type="UVES_RED_FLAT_ext1")
    assert (row.score, row.threshold, row.flagged, row.verdict, row.reasons, row.model_version) == (
        None,
        None,
        None,
        None,
        [],
        "",
    )
    assert (row.header_type, row.ext, row.arm, row.shape) == ("LAMP,FLAT", 1, "RED", (8, 4))


def test_image_rows_filters_combine_and_come_in_time_order(filled: Store) -> None:
    every = filled.image_rows()
    assert len(every) == 6 and [r.night for r in every] == sorted(r.night for r in every)
    assert [r.date_obs for r in every] == sorted(r.date_obs for r in every)
    assert len(filled.image_rows(nights=[FILLED_EARLIER_NIGHT, FILLED_NIGHT])) == 6
    flats = filled.image_rows(night=FILLED_NIGHT, image_type="UVES_BLUE_FLAT_ext0", mode="1x1", instrument="UVES")
    assert [r.category for r in flats] == ["flat", "flat"]
    assert filled.image_rows(instrument="KAST") == [] and filled.image_rows([]) == []
    assert [r.image_id for r in filled.image_rows([every[3].image_id, every[0].image_id])] == [
        every[0].image_id,
        every[3].image_id,
    ]


def test_image_types_count_images_and_nights_of_each_type_and_mode(history: Store) -> None:
    types = history.image_types()
    assert [(t["instrument"], t["image_type"], t["mode"]) for t in types] == sorted((g[0], g[1], g[2]) for g in HISTORY_GROUPS)
    kast = next(t for t in types if t["instrument"] == "KAST")
    assert kast == {
        "instrument": "KAST",
        "image_type": "KAST_RED_ARC_ext0",
        "mode": "600/7500",
        "category": "arc",
        "images": 240,
        "nights": 60,
        "first_night": "2020-01-01",
        "last_night": night_name("2020-01-01", 59),
    }


def test_descriptors_and_metrics_of_a_list_of_images(filled: Store) -> None:
    stored = filled.images(FILLED_FINGERPRINT, FILLED_QC_VERSION)
    ids = [s.image_id for s in stored]
    vectors = filled.descriptors(ids, FILLED_FINGERPRINT)
    assert set(vectors) == set(ids)
    for image in stored:
        assert vectors[image.image_id].dtype == np.float32
        np.testing.assert_array_equal(vectors[image.image_id], image.descriptor)
    assert filled.descriptors(ids, "another-model") == {}
    metrics = filled.metrics(ids, FILLED_QC_VERSION)
    assert {i: m["bias_level_1"] for i, m in metrics.items()} == {s.image_id: s.metrics["bias_level_1"] for s in stored}
    assert filled.metrics(ids, "another-qc") == {} and filled.descriptors([], FILLED_FINGERPRINT) == {}


def test_the_header_kept_with_each_image_is_there_when_the_file_is_gone(filled: Store) -> None:
    ids = [s.image_id for s in filled.images(FILLED_FINGERPRINT, FILLED_QC_VERSION)]
    assert filled.headers(ids) == {image_id: {"INSTRUME": "UVES"} for image_id in ids}


@pytest.mark.parametrize("level", [200.0, 1.0e6, 3.0e9])
def test_a_preview_of_large_values_keeps_its_picture(level: float) -> None:
    """float16 offsets overflowed on bright or 32-bit frames: the difference image became infinities."""
    picture = (level + np.linspace(-0.2, 0.2, 64 * 64).reshape(64, 64) * level).astype(np.float32)
    picture[3, 5] = np.nan
    back = unpack_preview(pack_preview(picture))
    assert np.isnan(back[3, 5]) and np.isfinite(np.delete(back.ravel(), 3 * 64 + 5)).all()
    np.testing.assert_allclose(back[np.isfinite(picture)], picture[np.isfinite(picture)], rtol=2e-3)


def test_a_preview_is_kept_as_float16_and_one_written_as_float32_still_reads() -> None:
    picture = (500.0 + np.random.default_rng(2).normal(0.0, 4.0, (128, 128))).astype(np.float32)
    blob = pack_preview(picture)
    with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
        assert archive["offsets"].dtype == np.float16
    older = io.BytesIO()  # what calspot wrote before: the same offsets widened to float32
    with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
        np.savez_compressed(older, **{name: archive[name].astype(np.float32) for name in archive.files})
    assert len(blob) < 0.9 * len(older.getvalue())
    np.testing.assert_array_equal(unpack_preview(older.getvalue()), unpack_preview(blob))
    np.testing.assert_allclose(unpack_preview(blob), picture, atol=0.01)


def test_a_sample_takes_one_frame_per_night_spread_over_the_history(history: Store) -> None:
    sample = history.sample_image_ids(HISTORY_FINGERPRINT, per_group=10, seed=3)
    rows = history.image_rows(sample)
    assert Counter(r.image_type for r in rows) == {g[1]: 10 for g in HISTORY_GROUPS}
    for image_type in {g[1] for g in HISTORY_GROUPS}:
        nights = sorted(r.night for r in rows if r.image_type == image_type)
        assert len(set(nights)) == 10
        days = [(datetime.fromisoformat(n) - datetime(2020, 1, 1)).days for n in nights]
        gaps = np.diff([-1, *days, 60])
        assert gaps.max() <= 15, f"{image_type}: nights {days} leave a gap of {gaps.max()} of 60"
    assert history.sample_image_ids(HISTORY_FINGERPRINT, per_group=10, seed=3) == sample
    assert history.sample_image_ids(HISTORY_FINGERPRINT, per_group=10, seed=4) != sample


def test_a_sample_of_a_short_history_gives_every_night_its_share(history: Store) -> None:
    before = night_name("2020-01-01", 3)
    sample = history.sample_image_ids(HISTORY_FINGERPRINT, per_group=7, before=before, image_type="UVES_BLUE_BIAS_ext0")
    rows = history.image_rows(sample)
    assert len(rows) == 7 and {r.image_type for r in rows} == {"UVES_BLUE_BIAS_ext0"}
    per_night = Counter(r.night for r in rows)
    assert set(per_night) == {night_name("2020-01-01", i) for i in range(3)} and max(per_night.values()) - min(per_night.values()) <= 1
    everything = history.sample_image_ids(HISTORY_FINGERPRINT, per_group=100, before=before, image_type="UVES_BLUE_BIAS_ext0")
    assert len(everything) == 12


def test_a_sample_keeps_to_its_instrument_nights_and_embedder(history: Store) -> None:
    before = night_name("2020-01-01", 30)
    rows = history.image_rows(history.sample_image_ids(HISTORY_FINGERPRINT, per_group=5, before=before, instrument="UVES"))
    assert len(rows) == 10 and {r.instrument for r in rows} == {"UVES"} and max(r.night for r in rows) < before
    assert history.sample_image_ids("another-model", per_group=5) == []
    assert history.sample_image_ids(HISTORY_FINGERPRINT, per_group=0) == []


def test_a_sample_leaves_out_copies_of_a_file_stored_under_another_path(filled: Store, tmp_path: Path) -> None:
    stored = filled.images(FILLED_FINGERPRINT, FILLED_QC_VERSION, night=FILLED_EARLIER_NIGHT, image_type="UVES_BLUE_BIAS_ext0")
    run_id = filled.start_run("copy", {})
    original = next(f for f in filled.image_rows() if f.image_id == stored[0].image_id)
    copy = NewFile(
        str(tmp_path / "copy.fits"),
        "hash0",
        5760,
        FILLED_EARLIER_NIGHT,
        None,
        [
            NewImage(
                ext=0,
                extname="",
                shape=(16, 16),
                instrument="UVES",
                arm="BLUE",
                category="bias",
                label="BIAS",
                mode="1x1",
                image_type="UVES_BLUE_BIAS_ext0",
                night=FILLED_EARLIER_NIGHT,
                date_obs=original.date_obs,
                exptime=0.0,
                header={},
                problems=[],
                thumbnail=None,
                metrics=None,
                profiles={},
                descriptor=None,
            )
        ],
    )
    filled.save_files([copy], run_id, FILLED_FINGERPRINT, FILLED_QC_VERSION)
    assert len(filled.image_rows(night=FILLED_EARLIER_NIGHT, image_type="UVES_BLUE_BIAS_ext0")) == 2
    sample = filled.sample_image_ids(FILLED_FINGERPRINT, per_group=5, before=FILLED_NIGHT, image_type="UVES_BLUE_BIAS_ext0")
    assert sample == [original.image_id]


def test_a_sample_reads_through_indexes(history: Store) -> None:
    """No statement of a sample, or of a night's rows, reads a whole table of images."""
    engine = history._sessions.kw["bind"]
    statements: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        history.sample_image_ids(HISTORY_FINGERPRINT, per_group=5, before=night_name("2020-01-01", 40), instrument="UVES")
        history.image_rows(night=night_name("2020-01-01", 10))
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if not sqlite:  # PostgreSQL scans small tables whole by choice: ask whether an index could serve
            connection.exec_driver_sql("SET enable_seqscan = off")
        explain = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
        plans = [[row[-1] for row in connection.exec_driver_sql(explain + statement, parameters)] for statement, parameters in statements]
    assert len(plans) >= 4
    whole_table = r"(SCAN|.*Seq Scan on) (images|files|descriptors|quality|scores|labels)\b"
    for plan in plans:
        scans = [step for step in plan if re.match(whole_table, step)]
        assert not scans, plan


def test_a_map_is_stored_once_per_key_as_numpy_arrays(history: Store) -> None:
    ids = history.sample_image_ids(HISTORY_FINGERPRINT, per_group=3)
    points = np.random.default_rng(0).normal(size=(len(ids), 2))
    history.save_map("night-a|umap", "night:2020-01-05", "umap", {"n_neighbors": 15}, HISTORY_FINGERPRINT, ids, points)
    history.save_map("night-a|umap", "night:2020-01-05", "umap", {"n_neighbors": 15}, HISTORY_FINGERPRINT, ids, points + 1)
    stored = history.stored_map("night-a|umap")
    assert stored.image_ids.dtype == np.int64 and stored.image_ids.tolist() == ids
    assert stored.coordinates.dtype == np.float32 and stored.coordinates.shape == (len(ids), 2)
    np.testing.assert_allclose(stored.coordinates, points, rtol=1e-6)
    assert (stored.scope, stored.method, stored.params, stored.fingerprint) == (
        "night:2020-01-05",
        "umap",
        {"n_neighbors": 15},
        HISTORY_FINGERPRINT,
    )
    assert isinstance(stored.created_at, datetime)
    history.save_map("night-b|umap", "night:2020-01-05", "umap", {"n_neighbors": 30}, HISTORY_FINGERPRINT, ids[:2], points[:2])
    assert history.latest_map("night:2020-01-05", "umap", HISTORY_FINGERPRINT).key == "night-b|umap"
    assert history.latest_map("night:2020-01-05", "pca", HISTORY_FINGERPRINT) is None
    assert history.latest_map("night:2020-01-05", "umap", "another-model") is None
    assert history.stored_map("no such key") is None
    with pytest.raises(ValueError, match="one \\(x, y\\) per image"):
        history.save_map("bad", "night:2020-01-05", "umap", {}, HISTORY_FINGERPRINT, ids, points[:, :1])


def test_the_arrays_of_a_map_are_npy_bytes_never_pickles(history: Store) -> None:
    from core.store.schema import Map

    history.save_map("npy", "scope", "pca", {}, HISTORY_FINGERPRINT, [1, 2], np.zeros((2, 2)))
    with history._sessions() as session:
        row = session.query(Map).filter_by(key="npy").one()
    assert row.image_ids.startswith(b"\x93NUMPY") and row.coordinates.startswith(b"\x93NUMPY")


def test_a_clustering_keeps_its_labels_and_the_names_of_its_clusters(history: Store) -> None:
    ids = history.sample_image_ids(HISTORY_FINGERPRINT, per_group=2)
    labels = np.arange(len(ids)) % 2
    names = {0: "UVES_BLUE_BIAS_ext0", 1: "UVES_BLUE_FLAT_ext0"}
    history.save_clustering("c1", "all", "hierarchical", {"cut": 0.5}, HISTORY_FINGERPRINT, ids, labels, names)
    history.save_clustering("c1", "all", "hierarchical", {"cut": 0.5}, HISTORY_FINGERPRINT, ids, labels[::-1], {})
    stored = history.stored_clustering("c1")
    assert stored.image_ids.tolist() == ids and stored.labels.tolist() == labels.tolist()
    assert stored.names == names and stored.params == {"cut": 0.5} and stored.method == "hierarchical"
    assert history.stored_clustering("c2") is None
    with pytest.raises(ValueError, match="one integer label per image"):
        history.save_clustering("c3", "all", "kmeans", {}, HISTORY_FINGERPRINT, ids, labels + 0.5, names)


def test_a_store_opened_for_a_call_is_closed_after_it_and_a_closed_store_still_answers(filled: Store, tmp_path: Path) -> None:
    engine = filled._sessions.kw["bind"]
    nights = filled.nights()
    filled.close()
    assert engine.pool.checkedin() == 0  # no connection left open
    assert filled.nights() == nights  # a later query connects again
    with store_for(load_settings(tmp_path / "home"), filled) as given:
        assert given is filled
    assert engine.pool.checkedin() == 1  # a store the caller passed stays as it was
    with store_for(load_settings(tmp_path / "home")) as opened:
        opened.nights()
        pool = opened._sessions.kw["bind"].pool
        assert pool.checkedin() == 1
    assert pool.checkedin() == 0
