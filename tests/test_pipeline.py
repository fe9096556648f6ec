"""The nightly pipeline end to end on simulated nights, real frames and broken files."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.pipeline import ingest
from core.report import night_report
from core.store import Store
from core.store.schema import Descriptor, File, Image, Quality
from tests.broken_files import write_broken_corpus, write_good_files
from tests.pipeline_fixtures import make_settings

REAL = Path(__file__).resolve().parent / "data" / "real"


def truth_rows(folder: Path) -> list[dict[str, str]]:
    with (folder / "truth.csv").open() as fh:
        return list(csv.DictReader(fh))


def table_counts(store: Store) -> dict[str, int]:
    with store._sessions() as session:
        return {t.__tablename__: session.scalar(select(func.count()).select_from(t)) for t in (File, Image, Descriptor, Quality)}


@pytest.fixture
def ingested(simulated_nights, tmp_path, embedder):
    settings = make_settings(tmp_path / "home")
    store = Store.open(settings)
    result = ingest([simulated_nights], settings, store=store, embedder=embedder)
    return simulated_nights, settings, store, result


def test_every_extension_of_every_night_is_reported(ingested):
    sim, _, store, result = ingested
    truth = truth_rows(sim)
    assert result.nights == sorted({r["night"] for r in truth})
    reported = [row for night in result.nights for row in night_report(store, night)]
    truncated = {r["path"] for r in truth if r["defect"] == "truncated_file"}
    expected = {(str(sim / r["path"]), int(r["ext"])) for r in truth if r["path"] not in truncated}
    assert {(r["path"], r["ext"]) for r in reported if r["ext"] is not None} == expected
    unreadable = [r for r in reported if r["ext"] is None]
    assert {Path(r["path"]).relative_to(sim).as_posix() for r in unreadable} == truncated
    assert all(r["flagged"] and r["reasons"][0].startswith("unreadable:") for r in unreadable)


def test_most_injected_defects_are_flagged_with_reasons(ingested):
    sim, _, store, result = ingested
    truth = {(str(sim / r["path"]), r["ext"]): r for r in truth_rows(sim)}
    test_night = result.nights[-1]
    rows = [r for r in night_report(store, test_night) if r["ext"] is not None]
    defective = [r for r in rows if truth[(r["path"], str(r["ext"]))]["defect"]]
    good = [r for r in rows if not truth[(r["path"], str(r["ext"]))]["defect"]]
    assert defective and good
    caught = [r for r in defective if r["flagged"]]
    assert len(caught) >= 0.8 * len(defective)
    assert all(r["reasons"] for r in caught)
    assert sum(r["flagged"] for r in good) <= 0.1 * len(good)


def test_history_nights_are_scored_against_earlier_nights(ingested):
    _, _, store, result = ingested
    first, last = result.nights[0], result.nights[-1]
    rows = [r for r in night_report(store, first) if r["ext"] is not None]
    group_size = {}
    for r in rows:
        group_size[(r["image_type"], r["mode"])] = group_size.get((r["image_type"], r["mode"]), 0) + 1
    for r in rows:
        if group_size[(r["image_type"], r["mode"])] >= 3:
            assert r["reference"] == "night"
        else:
            assert r["reference"] == "none" and "no reference yet" in r["reasons"][-1] and not r["flagged"]
    assert {r["reference"] for r in night_report(store, last) if r["ext"] is not None} == {"history"}


def test_reingest_describes_nothing_and_adds_no_rows(ingested, embedder):
    sim, settings, store, _ = ingested
    before = table_counts(store)
    again = ingest([sim], settings, store=store, embedder=embedder)
    assert again.files_new == 0 and again.files_known == again.files_found
    assert table_counts(store) == before


def test_a_copied_night_is_flagged_as_duplicates_without_new_descriptors(ingested, tmp_path, embedder):
    sim, settings, store, result = ingested
    copy = tmp_path / "copy"
    source = sim / result.nights[0]
    copy.mkdir()
    first = sorted(source.iterdir())[0]
    (copy / first.name).write_bytes(first.read_bytes())
    descriptors = table_counts(store)["descriptors"]
    ingest([copy], settings, store=store, embedder=embedder)
    assert table_counts(store)["descriptors"] == descriptors
    rows = [r for r in night_report(store, result.nights[0]) if r["path"] == str(copy / first.name)]
    assert rows and all(r["flagged"] and any(x.startswith("duplicate") for x in r["reasons"]) for r in rows)


def test_broken_files_are_reported_and_the_rest_is_ingested(tmp_path, embedder):
    folder = tmp_path / "night"
    corpus = write_broken_corpus(folder)
    good = write_good_files(folder / "good", 4)
    settings = make_settings(tmp_path / "home")
    store = Store.open(settings)
    result = ingest([folder], settings, store=store, embedder=embedder)
    rows = {Path(r["path"]).name: r for night in result.nights for r in night_report(store, night)}
    for name, expected in corpus.items():
        row = rows[name]
        assert row["flagged"], name
        reasons = " ".join(row["reasons"]).lower()
        assert expected.words.lower() in reasons, (name, row["reasons"])
        assert (row["ext"] is None) == expected.unreadable, name
    for path in good:
        assert rows[path.name]["ext"] == 0 and not any(r.startswith("unreadable") for r in rows[path.name]["reasons"])
    assert result.nights == ["2024-03-01"]


def test_kast_night_without_history_compares_frames_with_each_other(tmp_path, embedder):
    settings = make_settings(tmp_path / "home")
    store = Store.open(settings)
    result = ingest([REAL / "shane_kast_blue"], settings, store=store, embedder=embedder)
    assert result.nights == ["2015-05-19"] and not result.unreadable
    rows = {Path(r["path"]).name.split(".")[0]: r for r in night_report(store, "2015-05-19")}
    flats = {k: r for k, r in rows.items() if r["category"] == "flat"}
    assert max(flats, key=lambda k: flats[k]["score"]) == "b2"
    assert flats["b2"]["flagged"] and flats["b2"]["reference"] == "night"
    assert not any(r["flagged"] for r in rows.values() if r["category"] == "bias")
    assert rows["b24"]["score"] is None and "not a calibration" in rows["b24"]["reasons"][-1]


def test_worker_pool_gives_the_same_rows_as_one_process(simulated_nights, tmp_path, embedder):
    night = sorted(p for p in simulated_nights.iterdir() if p.is_dir())[0]
    rows = {}
    for workers in (1, 2):
        settings = make_settings(tmp_path / f"home{workers}", workers=workers)
        store = Store.open(settings)
        result = ingest([night], settings, store=store, embedder=embedder)
        rows[workers] = [
            (r["path"], r["ext"], r["image_type"], r["score"] and round(r["score"], 6)) for r in night_report(store, result.nights[0])
        ]
    assert rows[1] == rows[2]
