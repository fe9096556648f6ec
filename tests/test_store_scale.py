"""The store's hot reads on a store of thousands of images: right rows, read through indexes.

What a store of years of archive must answer as quickly as a small one: the nights, a
night's rows (the report and the Night page), the reference history that scoring reads
(the latest nights of a type, the instrument's latest nights for the type check), and the
samples of history that maps and dendrograms draw. Each is checked for what it returns
and for its plan: no statement reads a whole table of images, files, descriptors, quality
numbers, scores or verdicts (SQLite's ``EXPLAIN QUERY PLAN``; PostgreSQL's ``EXPLAIN``
with sequential scans discouraged, since it scans small tables whole by choice), and
SQLite's plans hold the seeks that keep a read to the rows it needs (the nights one
seek each, the latest nights of an instrument backwards from the night, the types and
modes one seek each, a type's nights from ``type_nights``). Also: files stored in one
batch make the rows that storing them one by one makes, and the nights of their types.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import event, select

from core.config import load_settings
from core.qc import QC_VERSION
from core.scoring import choose_reference
from core.store import NewFile, NewImage, NewScore, Store, direct
from core.store.schema import Descriptor, File, Image, Quality, TypeNight
from tests.store_history import HISTORY_FINGERPRINT, HISTORY_GROUPS, fill_history, night_name

START = "2020-01-01"
NIGHTS = 400
PER_NIGHT = 3  # images of each of the three groups a night: 3 600 images
FLAG_EVERY = 37  # every 37th image is flagged; of those, the even ones are rejected, the odd ones accepted
RESCORED_NIGHT = night_name(START, 250)
READS = ("SELECT", "WITH")
WHOLE_TABLE = re.compile(r"(SCAN|.*Seq Scan on) (images|files|descriptors|quality|scores|labels|type_nights)\b")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def archive(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Store:
    """400 nights of three groups, scored (every 37th image flagged, most flags judged), one night scored twice."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('scale') / 'calspot.sqlite'}"
    else:
        url = request.getfixturevalue("postgres").create_database()
    store = Store(url)
    fill_history(store, nights=NIGHTS, per_night=PER_NIGHT, start=START, qc_version=QC_VERSION)
    rows = store.image_rows()
    run_id = store.start_run("score", {})
    store.add_scores(
        [
            NewScore(r.image_id, 9.0 if k % FLAG_EVERY == 0 else 1.0, 6.0, k % FLAG_EVERY == 0, "history", [], {})
            for k, r in enumerate(rows)
        ],
        run_id,
        "model-1",
    )
    again = [r for r in rows if r.night == RESCORED_NIGHT]
    store.add_scores([NewScore(r.image_id, 2.0, 5.0, False, "history", ["again"], {}) for r in again], run_id, "model-2")
    verdicts = [(r.path, r.ext, "reject" if k % 2 == 0 else "accept", "ana", "") for k, r in enumerate(rows) if k % FLAG_EVERY == 0]
    store.add_labels(verdicts)
    store.add_labels([(r.path, r.ext, "accept", "ben", "on second thoughts") for r in again[:1]])
    store.finish_run(run_id, "done", {})
    if request.param == "postgresql":  # the statistics PostgreSQL plans by, as its autovacuum gathers them after a load
        with store._sessions.kw["bind"].connect() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()
    return store


def plans(store: Store, statements: list[tuple[str, object]]) -> list[list[str]]:
    """The plan of each statement, one line per step."""
    engine = store._sessions.kw["bind"]
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if not sqlite:
            connection.exec_driver_sql("SET enable_seqscan = off")
        explain = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
        return [
            [str(row[-1]) for row in connection.exec_driver_sql(explain + statement, parameters)] for statement, parameters in statements
        ]


@contextmanager
def statements_of(store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, object]]]:
    """The SELECT statements run meanwhile, through SQLAlchemy or as the plain SQL of :mod:`core.store.direct`."""
    engine = store._sessions.kw["bind"]
    placeholder = "?" if engine.dialect.name == "sqlite" else "%s"
    seen: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(READS):
            seen.append((statement, parameters))

    plain = direct.Sql.rows

    def plain_rows(sql: direct.Sql, statement: str, params: tuple = ()) -> list[tuple]:
        if statement.lstrip().upper().startswith(READS):
            seen.append((statement.replace("?", placeholder), params))
        return plain(sql, statement, params)

    monkeypatch.setattr(direct.Sql, "rows", plain_rows)
    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", capture)
        monkeypatch.undo()


def read(store: Store, monkeypatch: pytest.MonkeyPatch, action: Callable[[], object], seeks: Sequence[str] = ()):
    """What ``action`` returns, after checking that every statement it ran read through indexes.

    ``seeks`` are steps that SQLite's plans must hold, word for word: the index
    searches that keep a read to the rows it needs however long the history.
    """
    with statements_of(store, monkeypatch) as statements:
        result = action()
    assert statements
    found = plans(store, statements)
    for plan in found:
        assert not [step for step in plan if WHOLE_TABLE.match(step)], plan
    if store.url.startswith("sqlite"):
        steps = {step for plan in found for step in plan}
        assert set(seeks) <= steps, found
    return result


def test_the_nights_come_back_oldest_first_one_seek_each(archive: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    nights = read(archive, monkeypatch, archive.nights, seeks=["SEARCH f USING COVERING INDEX ix_files_night (night>?)"])
    assert nights == [night_name(START, i) for i in range(NIGHTS)]


def test_a_night_has_every_image_with_its_latest_score_and_verdict(archive: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = read(archive, monkeypatch, lambda: archive.night_rows(RESCORED_NIGHT))
    assert len(rows) == PER_NIGHT * len(HISTORY_GROUPS) and {r["night"] for r in rows} == {RESCORED_NIGHT}
    assert {(r["score"], r["threshold"], r["model_version"], tuple(r["reasons"])) for r in rows} == {(2.0, 5.0, "model-2", ("again",))}
    judged = {r["image_id"]: r["verdict"] for r in rows if r["verdict"]}
    assert judged == {r.image_id: r.verdict for r in archive.image_rows(night=RESCORED_NIGHT) if r.verdict} and "accept" in judged.values()
    assert rows == sorted(rows, key=lambda r: (r["path"], r["ext"]))


def test_the_reference_of_a_type_is_its_usable_frames_of_its_latest_nights(
    archive: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = load_settings(tmp_path, history_nights=30, min_reference=5)
    _, image_type, mode, _, _ = HISTORY_GROUPS[1]
    night = night_name(START, 300)
    frames = archive.images(HISTORY_FINGERPRINT, QC_VERSION, night=night, image_type=image_type, mode=mode)
    reference = read(
        archive, monkeypatch, lambda: choose_reference(archive, night, image_type, mode, frames, settings, HISTORY_FINGERPRINT)
    )
    assert reference.kind == "history" and reference.nights == 30
    assert {f.night for f in reference.frames} == {night_name(START, i) for i in range(270, 300)}
    assert {(f.image_type, f.mode) for f in reference.frames} == {(image_type, mode)}
    assert all(f.verdict == "accept" or (not f.flagged and f.verdict != "reject") for f in reference.frames)
    every = archive.images(HISTORY_FINGERPRINT, QC_VERSION, image_type=image_type, mode=mode, nights=[f.night for f in reference.frames])
    left_out = {f.image_id for f in every} - {f.image_id for f in reference.frames}
    assert left_out and all(f.verdict == "reject" or (f.flagged and f.verdict != "accept") for f in every if f.image_id in left_out)


def test_the_type_check_learns_from_the_instrument_s_latest_nights(archive: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    night = night_name(START, 300)
    examples = read(
        archive,
        monkeypatch,
        lambda: archive.type_examples("UVES", night, 30, HISTORY_FINGERPRINT),
        seeks=["SEARCH images USING COVERING INDEX ix_images_instrument_night (instrument=? AND night<?)"],
    )
    assert {f.night for f in examples} == {night_name(START, i) for i in range(270, 300)}
    assert Counter(f.image_type for f in examples) == {g[1]: 30 * PER_NIGHT for g in HISTORY_GROUPS if g[0] == "UVES"}
    assert all(f.descriptor is not None and f.descriptor.shape == (8,) for f in examples)


def test_a_sample_of_a_long_history_spreads_over_its_nights(archive: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    before = night_name(START, NIGHTS - 1)
    sample = read(
        archive,
        monkeypatch,
        lambda: archive.sample_image_ids(HISTORY_FINGERPRINT, before=before, per_group=50, instrument="UVES"),
        seeks=[
            "SEARCH images USING COVERING INDEX ix_images_instrument_type (instrument=? AND image_type>?)",
            "SEARCH type_nights USING COVERING INDEX sqlite_autoindex_type_nights_1 (image_type=? AND mode=? AND night<?)",
        ],
    )
    rows = archive.image_rows(sample)
    assert Counter(r.image_type for r in rows) == {g[1]: 50 for g in HISTORY_GROUPS if g[0] == "UVES"}
    for image_type in {r.image_type for r in rows}:
        days = sorted((date.fromisoformat(r.night) - date.fromisoformat(START)).days for r in rows if r.image_type == image_type)
        assert len(set(days)) == 50 and max(days) < NIGHTS - 1
        assert np.diff([-1, *days, NIGHTS - 1]).max() <= 24, f"{image_type}: nights {days}"


def test_a_type_s_sample_for_its_dendrogram_holds_every_frame_of_a_short_history(archive: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    _, image_type, _, _, _ = HISTORY_GROUPS[2]
    before = night_name(START, 10)
    sample = read(
        archive,
        monkeypatch,
        lambda: archive.sample_image_ids(HISTORY_FINGERPRINT, before=before, per_group=100, image_type=image_type),
        seeks=[
            "SEARCH images USING COVERING INDEX ix_images_type_night (image_type=? AND mode>?)",
            "SEARCH type_nights USING COVERING INDEX sqlite_autoindex_type_nights_1 (image_type=? AND mode=? AND night<?)",
        ],
    )
    rows = archive.image_rows(sample)
    assert len(rows) == 10 * PER_NIGHT and {r.image_type for r in rows} == {image_type} and max(r.night for r in rows) < before


def _file(path: str, content_hash: str, *, error: str | None = None) -> NewFile:
    images = [] if error else [_image(ext, content_hash) for ext in (1, 2)]
    return NewFile(path=path, content_hash=content_hash, size=2880, night="2024-05-01", error=error, images=images)


def _image(ext: int, content_hash: str) -> NewImage:
    seed = sum(map(ord, content_hash)) + ext
    return NewImage(
        ext=ext,
        extname=f"CHIP{ext}",
        shape=(8, 4),
        instrument="UVES",
        arm="RED",
        category="bias",
        label="BIAS",
        mode="1x1",
        image_type=f"UVES_RED_BIAS_ext{ext}",
        night="2024-05-01",
        date_obs=None,
        exptime=0.0,
        header={"INSTRUME": "UVES", "EXT": ext},
        problems=[],
        thumbnail=bytes([seed % 256]) * 4,
        metrics={"level": float(seed)},
        profiles={"rows": np.arange(8, dtype=np.float32) + seed},
        descriptor=np.full(4, seed, np.float32),
        preview=np.full((2, 2), seed, np.float32),
    )


def _rows(store: Store) -> dict[str, list[tuple]]:
    """Every row of the ingestion tables, in id order, with the paths files and images point to."""
    with store._sessions() as session:
        paths = dict(session.execute(select(File.id, File.path)).all())
        return {
            "files": [
                (f.id, f.path, f.content_hash, f.size, f.night, f.error, paths.get(f.duplicate_of), f.run_id)
                for f in session.scalars(select(File).order_by(File.id))
            ],
            "images": [
                (i.id, paths[i.file_id], i.ext, i.extname, i.image_type, i.header, i.thumbnail, i.ny, i.nx)
                for i in session.scalars(select(Image).order_by(Image.id))
            ],
            "descriptors": [
                (d.id, d.content_hash, d.ext, d.fingerprint, d.vector) for d in session.scalars(select(Descriptor).order_by(Descriptor.id))
            ],
            "quality": [
                (q.id, q.content_hash, q.ext, q.qc_version, q.metrics, q.profiles, q.preview)
                for q in session.scalars(select(Quality).order_by(Quality.id))
            ],
            "type_nights": [
                tuple(row)
                for row in session.execute(
                    select(TypeNight.image_type, TypeNight.mode, TypeNight.night, TypeNight.instrument).order_by(TypeNight.image_type)
                )
            ],
        }


def test_files_stored_in_one_batch_make_the_rows_storing_them_one_by_one_makes(
    store_url: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    other_url = (
        f"sqlite:///{tmp_path / 'one-by-one.sqlite'}"
        if store_url.startswith("sqlite")
        else request.getfixturevalue("postgres").create_database()
    )
    earlier = [_file("/raw/a.fits", "h1")]
    batch = [
        _file("/raw/b.fits", "h1"),  # a copy of a stored content
        _file("/raw/c.fits", "h2"),
        _file("/raw/d.fits", "h2"),  # a copy of a content first stored in this batch
        _file("/raw/c.fits", "h2"),  # the same file twice
        _file("/raw/a.fits", "h1"),  # known: gains the new model's descriptors only
        _file("/raw/e.fits.Z", "h3", error="truncated"),
    ]
    stores = {"batch": Store(store_url), "one by one": Store(other_url)}
    ids = {}
    for how, store in stores.items():
        run_id = store.start_run("test", {})
        store.save_files(earlier, run_id, "model-1", "qc-1")
        if how == "batch":
            ids[how] = store.save_files(batch, run_id, "model-2", "qc-1")
        else:
            ids[how] = [store.save_files([new], run_id, "model-2", "qc-1")[0] for new in batch]
    assert ids["batch"] == ids["one by one"] and ids["batch"][1] == ids["batch"][3]
    rows = _rows(stores["batch"])
    assert rows == _rows(stores["one by one"])
    assert [(path, original) for _, path, _, _, _, _, original, _ in rows["files"]] == [
        ("/raw/a.fits", None),
        ("/raw/b.fits", "/raw/a.fits"),
        ("/raw/c.fits", None),
        ("/raw/d.fits", "/raw/c.fits"),
        ("/raw/e.fits.Z", None),
    ]
    assert Counter((h, fingerprint) for _, h, _, fingerprint, _ in rows["descriptors"]) == {
        ("h1", "model-1"): 2,
        ("h1", "model-2"): 2,
        ("h2", "model-2"): 2,
    }
    assert Counter(h for _, h, _, _, _, _, _ in rows["quality"]) == {"h1": 2, "h2": 2}
    assert len(rows["images"]) == 8
    assert rows["type_nights"] == [("UVES_RED_BIAS_ext1", "1x1", "2024-05-01", "UVES"), ("UVES_RED_BIAS_ext2", "1x1", "2024-05-01", "UVES")]


def test_a_sample_takes_the_frames_with_a_descriptor_however_many_of_a_night_have_none(store_url: str) -> None:
    store = Store(store_url)
    run_id = store.start_run("test", {})
    described = {3, 8}
    files = []
    for k in range(12):
        image = _image(0, f"arc{k}")
        image.image_type, image.mode, image.descriptor = "UVES_BLUE_WAVE_ext0", "390", image.descriptor if k in described else None
        files.append(NewFile(path=f"/raw/arc{k}.fits", content_hash=f"arc{k}", size=2880, night="2024-05-01", error=None, images=[image]))
    store.save_files(files, run_id, "model-1", "qc-1")
    paths = {row.image_id: row.path for row in store.image_rows()}
    for per_group in (1, 2, 5):
        sample = store.sample_image_ids("model-1", before="2024-05-02", per_group=per_group, image_type="UVES_BLUE_WAVE_ext0")
        assert len(sample) == min(per_group, 2) and {paths[i] for i in sample} <= {"/raw/arc3.fits", "/raw/arc8.fits"}
        assert store.sample_image_ids("model-1", before="2024-05-02", per_group=per_group, image_type="UVES_BLUE_WAVE_ext0") == sample
