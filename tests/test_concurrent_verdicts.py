"""Reviewers at once, on SQLite and on PostgreSQL: every verdict stored once, the latest of a frame the last written."""

from __future__ import annotations

import multiprocessing
from collections import Counter

from core.store import Store
from tests.conftest import fill_store

REVIEWERS = 4
VERDICTS = 25


def _review(url: str, name: str, frames: list[tuple[str, int | None]], barrier, results) -> None:
    store = Store(url)
    barrier.wait()
    written = []
    for k in range(VERDICTS):
        path, ext = frames[k % len(frames)]
        written.append(store.add_label(path, ext, "reject" if k % 2 else "accept", name, f"{name}-{k}"))
    results.put((name, written))


def test_reviewers_writing_at_once_lose_and_double_nothing(store_url, tmp_path):
    store = Store(store_url)
    fill_store(store, tmp_path / "raw")
    frames = [(r["path"], r["ext"]) for night in store.nights() for r in store.night_rows(night)]
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(REVIEWERS), context.Queue()
    shifted = [frames[i:] + frames[:i] for i in range(REVIEWERS)]  # each starts on another frame
    processes = [context.Process(target=_review, args=(store_url, f"reviewer{i}", shifted[i], barrier, results)) for i in range(REVIEWERS)]
    for process in processes:
        process.start()
    written = dict(results.get(timeout=300) for _ in processes)
    for process in processes:
        process.join(timeout=60)
    assert [p.exitcode for p in processes] == [0] * REVIEWERS
    labels = store.labels()
    notes = Counter(label.note for label in labels)
    assert len(labels) == REVIEWERS * VERDICTS and set(notes.values()) == {1}
    for name, ids in written.items():
        assert ids == sorted(ids)  # each reviewer's verdicts in the order given
        assert {label.note for label in labels if label.id in set(ids)} == {f"{name}-{k}" for k in range(VERDICTS)}
    by_frame: dict[tuple[int, int | None], list] = {}
    for label in labels:
        by_frame.setdefault((label.file_id, label.image_id), []).append(label)
    for verdicts in by_frame.values():  # the verdict that counts (the newest id) is the one written last
        assert [v.id for v in sorted(verdicts, key=lambda v: (v.created_at, v.id))] == sorted(v.id for v in verdicts)
    latest = {row.image_id: row.verdict for row in store.image_rows()}
    for (_, image_id), verdicts in by_frame.items():
        if image_id is not None:
            assert latest[image_id] == max(verdicts, key=lambda v: v.id).verdict
