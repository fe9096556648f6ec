"""The learning loop through the command line: verdicts shape the next night's reference once ``calspot score`` runs.

Three tiny simulated nights: one of history, then two with defects. Verdicts are given
on the middle night (a flagged frame accepted, a good one rejected); the last night's
stored explanations say how many frames its reference held and which were nearest.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.cli import main
from core.config import DEFAULT_DATABASE, load_settings
from core.pipeline import ingest
from core.store import Store
from core.store.schema import Run, Score
from core.synthetic import simulate_nights
from tests.pipeline_fixtures import SIM_SCALE, TEST_INPUT_SIZE, make_settings

NIGHTS_LINE = re.compile(r"^(\d{4}-\d{2}-\d{2})\s+(\d+) images\s+(\d+) flagged\s+(\d+) unreadable$")


@pytest.fixture(scope="module")
def scored_home(tmp_path_factory, embedder) -> tuple[Path, list[str]]:
    """A home with three simulated nights ingested and scored; returns the home and its nights."""
    root = tmp_path_factory.mktemp("loop")
    simulate_nights(root / "raw", nights=3, test_nights=2, scale=SIM_SCALE, seed=3, defect_rate=0.5)
    settings = make_settings(root / "home")
    result = ingest([root / "raw"], settings, store=Store.open(settings), embedder=embedder)
    assert len(result.nights) == 3
    return settings.home, result.nights


@pytest.fixture
def home(scored_home, tmp_path, monkeypatch) -> Path:
    """A private copy of the scored home, whose settings (from the environment) match the test embedder."""
    source, _ = scored_home
    copy = tmp_path / "home"
    copy.mkdir()
    original, target = sqlite3.connect(source / DEFAULT_DATABASE), sqlite3.connect(copy / DEFAULT_DATABASE)
    original.backup(target)
    original.close()
    target.close()
    monkeypatch.setenv("CALSPOT_WEIGHTS", "random")
    monkeypatch.setenv("CALSPOT_INPUT_SIZE", str(TEST_INPUT_SIZE))
    monkeypatch.setenv("CALSPOT_WORKERS", "1")
    monkeypatch.delenv("CALSPOT_DATABASE_URL", raising=False)
    return copy


def calspot(capsys, home: Path, *args: str) -> str:
    """Run a command in this process; returns its standard output (the command must succeed)."""
    status = main(["--home", str(home), *args])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return captured.out


def label(capsys, home: Path, row: dict, verdict: str, reviewer: str, *note: str) -> None:
    calspot(capsys, home, "label", row["path"], "--ext", str(row["ext"]), "--verdict", verdict, "--by", reviewer, *note)


def report(capsys, home: Path, night: str) -> list[dict]:
    return json.loads(calspot(capsys, home, "report", "--night", night, "--format", "json"))


def group(row: dict) -> tuple[str, str]:
    return row["image_type"], row["mode"]


def reference_frames(rows: list[dict]) -> dict[tuple[str, str], set[int]]:
    """Per type and mode, the reference sizes its scored frames were compared with."""
    sizes: dict[tuple[str, str], set[int]] = {}
    for row in rows:
        if row["score"] is not None:
            sizes.setdefault(group(row), set()).add(row["explanation"]["reference"]["frames"])
    return sizes


def neighbour_counts(rows: list[dict]) -> Counter:
    """How often each (path, ext) is among the nearest reference frames of these rows."""
    return Counter((n["path"], n["ext"]) for row in rows for n in row["explanation"].get("neighbours", []))


def choose_verdicts(middle: list[dict], last: list[dict]) -> tuple[dict, dict]:
    """A flagged frame of the middle night to accept and a good one to reject, in two groups.

    Both groups are compared with history on the last night, with room to lose a frame
    and stay so (the default ``min_reference`` is 5); the good frame is one of the
    last night's nearest reference frames, so that rejecting it must change them.
    """
    sizes = {g: s.pop() for g, s in reference_frames(last).items() if len(s) == 1}
    history = {group(r) for r in last if r["reference"] == "history" and sizes.get(group(r), 0) >= 6}
    flagged = [r for r in middle if r["flagged"] and r["score"] is not None and group(r) in history]
    assert flagged, "the middle night must have a flagged frame of a type compared with history"
    accepted = flagged[0]
    nearest = neighbour_counts(last)
    others = history - {group(accepted)}
    good = [r for r in middle if not r["flagged"] and group(r) in others and nearest[(r["path"], r["ext"])]]
    assert good, "the middle night must have a good frame among the last night's nearest reference frames"
    rejected = max(good, key=lambda r: nearest[(r["path"], r["ext"])])
    return accepted, rejected


def score_rows(home: Path) -> dict[str, int]:
    """Stored score rows per command of the run that wrote them."""
    store = Store.open(load_settings(home))
    with store._sessions() as session:
        rows = session.execute(select(Run.command, func.count(Score.id)).join(Score, Score.run_id == Run.id).group_by(Run.command))
        return dict(rows.all())


def test_verdicts_and_score_change_the_next_nights_reference(home, scored_home, capsys):
    _, (_, middle_night, last_night) = scored_home
    middle, before = report(capsys, home, middle_night), report(capsys, home, last_night)
    accepted, rejected = choose_verdicts(middle, before)
    label(capsys, home, accepted, "accept", "ana", "--note", "flag understood, frame fine")
    label(capsys, home, rejected, "reject", "ana")
    out = calspot(capsys, home, "score")
    after = report(capsys, home, last_night)
    assert out.splitlines()[-1].startswith(f"{last_night}: ")
    sizes_before, sizes_after = reference_frames(before), reference_frames(after)
    expected = dict(sizes_before)
    expected[group(accepted)] = {n + 1 for n in sizes_before[group(accepted)]}
    expected[group(rejected)] = {n - 1 for n in sizes_before[group(rejected)]}
    assert sizes_after == expected
    assert {r["reference"] for r in after if group(r) in {group(accepted), group(rejected)}} == {"history"}
    assert neighbour_counts(before)[(rejected["path"], rejected["ext"])] > 0
    assert neighbour_counts(after)[(rejected["path"], rejected["ext"])] == 0
    verdicts = {(r["path"], r["ext"]): r["verdict"] for r in report(capsys, home, middle_night)}
    assert verdicts[(accepted["path"], accepted["ext"])] == "accept"
    assert verdicts[(rejected["path"], rejected["ext"])] == "reject"


def test_score_appends_new_scores_that_reflect_a_new_verdict(home, scored_home, capsys):
    _, (_, middle_night, last_night) = scored_home
    middle, before = report(capsys, home, middle_night), report(capsys, home, last_night)
    _, rejected = choose_verdicts(middle, before)
    stored = score_rows(home)
    label(capsys, home, rejected, "reject", "ben")
    out = calspot(capsys, home, "score", "--night", last_night, "--night", middle_night)
    after = report(capsys, home, last_night)
    images = [r for night in (middle_night, last_night) for r in report(capsys, home, night) if r["ext"] is not None]
    assert score_rows(home) == {**stored, "score": len(images)}
    flagged = {night: sum(r["flagged"] for r in images if r["night"] == night) for night in (middle_night, last_night)}
    assert out.splitlines() == [f"{night}: {flagged[night]} flagged" for night in (middle_night, last_night)]
    rejected_key = (rejected["path"], rejected["ext"])
    assert neighbour_counts(before)[rejected_key] > 0 and neighbour_counts(after)[rejected_key] == 0
    shrunk = {n - 1 for n in reference_frames(before)[group(rejected)]}
    assert reference_frames(after)[group(rejected)] == shrunk


def test_nights_counts_equal_the_report_of_each_night_after_verdicts_and_score(home, scored_home, capsys):
    _, nights = scored_home
    middle = report(capsys, home, nights[1])
    flagged = next(r for r in middle if r["flagged"] and r["ext"] is not None)
    label(capsys, home, flagged, "accept", "ana")
    calspot(capsys, home, "score")
    listed = [NIGHTS_LINE.match(line).groups() for line in calspot(capsys, home, "nights").splitlines()]
    assert [night for night, *_ in listed] == sorted(nights, reverse=True)
    for night, images, flagged_count, unreadable in listed:
        rows = report(capsys, home, night)
        unreadable_rows = sum(r["ext"] is None for r in rows)
        counts = (len(rows) - unreadable_rows, sum(r["flagged"] for r in rows), unreadable_rows)
        assert (int(images), int(flagged_count), int(unreadable)) == counts, night
    assert sum(int(f) for _, _, f, _ in listed) > 0
