"""kill -9 of a training and of a batch of verdicts at random moments: the store stays whole, the rerun gets there.

A killed ``calspot train`` leaves at most a model without its rescored nights (the
next training or ``calspot score`` mends that); a killed ``calspot label --from``
stores all of its verdicts or none.
"""

from __future__ import annotations

import csv
import random
import shutil
import signal
import time

import pytest

from core.config import load_settings
from core.store import Store
from tests.test_cli_train import raw_of, review_middle_night
from tests.test_faults import calspot_process
from tests.test_verdict_loop import home, report, scored_home

__all__ = ["home", "scored_home"]  # the fixtures this module uses

pytestmark = pytest.mark.slow
COPIES = 20  # verdicts per frame in the killed batch: a transaction long enough for a kill to land in it


def flags(store: Store) -> list[tuple]:
    rows = [r for night in store.nights() for r in store.night_rows(night) if r["score"] is not None]
    return sorted((r["path"], r["ext"], r["flagged"], round(r["score"], 6)) for r in rows)


def test_a_training_killed_at_random_moments_ends_with_the_flags_of_an_uninterrupted_one(home, scored_home, capsys, tmp_path):
    _, (_, middle, _) = scored_home
    review_middle_night(capsys, home, raw_of(scored_home), middle)
    whole = tmp_path / "whole"
    shutil.copytree(home, whole)
    done = calspot_process(whole, "train", "--by", "ana")
    assert done.wait(timeout=600) == 0, done.stderr.read()
    for delay in random.Random(5).sample([2.0, 4.0, 6.0, 8.0, 10.0, 12.0], 2):
        killed = calspot_process(home, "train", "--by", "ana")
        time.sleep(delay)
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        store = Store.open(load_settings(home))
        assert all(sum(m.active for m in store.models() if m.kind == kind) <= 1 for kind in ("bad-frames", "image-types"))
    final = calspot_process(home, "train", "--by", "ana")
    assert final.wait(timeout=600) == 0, final.stderr.read()
    trained, uninterrupted = Store.open(load_settings(home)), Store.open(load_settings(whole))
    assert flags(trained) == flags(uninterrupted)
    assert {m.kind for m in trained.models() if m.active} == {"bad-frames", "image-types"}


def test_a_batch_of_verdicts_killed_at_random_moments_is_stored_whole_or_not_at_all(home, capsys, tmp_path):
    rows = [r for night in Store.open(load_settings(home)).nights() for r in report(capsys, home, night) if r["ext"] is not None]
    batch = tmp_path / "verdicts.csv"
    with batch.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "ext", "verdict", "reviewer", "note"])
        for k, row in enumerate(rows * COPIES):
            writer.writerow([row["path"], row["ext"], "accept", "ana", f"batch {k}"])
    attempts = random.Random(9).sample([x / 10 for x in range(5, 60)], 6)
    for delay in attempts:
        run = calspot_process(home, "label", "--from", str(batch))
        time.sleep(delay)
        run.send_signal(signal.SIGKILL)
        run.wait()
        stored = len(Store.open(load_settings(home)).labels())
        assert stored % (COPIES * len(rows)) == 0, f"a killed batch left {stored} verdicts"
    assert calspot_process(home, "label", "--from", str(batch)).wait(timeout=300) == 0
    assert len(Store.open(load_settings(home)).labels()) % (COPIES * len(rows)) == 0
