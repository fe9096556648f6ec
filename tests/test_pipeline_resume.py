"""An ingest stopped by Ctrl-C leaves a consistent store, and the next one carries on to the same rows."""

from __future__ import annotations

import multiprocessing

import pytest
from sqlalchemy import func, select

from core.pipeline import ingest
from core.report import night_report
from core.store import Store
from core.store.schema import Descriptor, File, Image, Quality, Run
from tests.pipeline_fixtures import make_settings


def stop_after(calls: int):
    """A progress callback that presses Ctrl-C at its ``calls``-th description."""
    seen = []

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "describe":
            seen.append(done)
            if len(seen) == calls:
                raise KeyboardInterrupt

    return progress


def report_rows(store: Store, nights: list[str]) -> list[tuple]:
    return sorted(
        (r["path"], r["ext"], r["image_type"], r["night"], r["flagged"], r["score"] and round(r["score"], 6))
        for night in nights
        for r in night_report(store, night)
    )


def runs(store: Store) -> list[tuple[str, str]]:
    with store._sessions() as session:
        return [(r.command, r.status) for r in session.scalars(select(Run).order_by(Run.id))]


def every_stored_file_is_complete(store: Store) -> bool:
    """Each image of each stored file has its descriptor and quality numbers (nothing half-written)."""
    with store._sessions() as session:
        images = session.scalar(select(func.count()).select_from(Image).join(File).where(File.error.is_(None)))
        described = session.scalar(select(func.count()).select_from(Descriptor))
        measured = session.scalar(select(func.count()).select_from(Quality))
    return images == described == measured


def store_file_count(store: Store) -> int:
    with store._sessions() as session:
        return session.scalar(select(func.count()).select_from(File))


@pytest.fixture
def first_night(simulated_nights):
    return [sorted(p for p in simulated_nights.iterdir() if p.is_dir())[0]]


def test_interrupted_ingest_carries_on_to_the_rows_of_an_uninterrupted_one(first_night, tmp_path, embedder):
    settings = make_settings(tmp_path / "interrupted", workers=2, batch_size=4)
    store = Store.open(settings)
    with pytest.raises(KeyboardInterrupt):
        ingest(first_night, settings, store=store, embedder=embedder, progress=stop_after(8))
    assert runs(store) == [("ingest", "interrupted")]
    assert not multiprocessing.active_children()
    assert every_stored_file_is_complete(store)
    stored_before = store_file_count(store)

    resumed = ingest(first_night, settings, store=store, embedder=embedder)
    assert resumed.files_known == stored_before
    assert resumed.files_new == resumed.files_found - stored_before > 0
    assert runs(store) == [("ingest", "interrupted"), ("ingest", "done")]

    reference_settings = make_settings(tmp_path / "uninterrupted", workers=1, batch_size=4)
    reference = Store.open(reference_settings)
    whole = ingest(first_night, reference_settings, store=reference, embedder=embedder)
    assert resumed.nights == whole.nights
    assert report_rows(store, whole.nights) == report_rows(reference, whole.nights)
    assert every_stored_file_is_complete(store)


def test_interrupt_before_anything_is_stored_leaves_an_empty_store(first_night, tmp_path, embedder):
    settings = make_settings(tmp_path / "home", workers=2, batch_size=4)
    store = Store.open(settings)
    with pytest.raises(KeyboardInterrupt):
        ingest(first_night, settings, store=store, embedder=embedder, progress=stop_after(1))
    assert not multiprocessing.active_children()
    assert store_file_count(store) == 0 and runs(store) == [("ingest", "interrupted")]
    assert ingest(first_night, settings, store=store, embedder=embedder).files_known == 0


def stop_at_scoring(stage: str, done: int, total: int) -> None:
    """A progress callback that presses Ctrl-C when the nights are about to be scored."""
    if stage == "score":
        raise KeyboardInterrupt


def test_an_ingest_stopped_while_scoring_is_scored_by_the_next_one_though_every_file_is_known(simulated_nights, tmp_path, embedder):
    nights = sorted(p for p in simulated_nights.iterdir() if p.is_dir())[:2]
    settings = make_settings(tmp_path / "home")
    store = Store.open(settings)
    with pytest.raises(KeyboardInterrupt):
        ingest(nights, settings, store=store, embedder=embedder, progress=stop_at_scoring)
    assert store.unscored_nights() == [nights[1].name]  # the first night was scored, then Ctrl-C
    again = ingest(nights, settings, store=store, embedder=embedder)
    assert again.files_new == 0 and again.nights == [nights[1].name] and store.unscored_nights() == []
    reference = Store.open(make_settings(tmp_path / "whole"))
    ingest(nights, make_settings(tmp_path / "whole"), store=reference, embedder=embedder)
    assert report_rows(store, again.nights) == report_rows(reference, again.nights)
    assert ingest(nights, settings, store=store, embedder=embedder).nights == []
