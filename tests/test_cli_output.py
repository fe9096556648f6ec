"""What the command line prints for people: the report table, and progress when there is no terminal."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

from core.cli import main
from core.cli_format import format_table
from core.cli_progress import ProgressBars
from core.config import load_settings
from core.store import Store
from tests.conftest import FILLED_FLAGGED_FILE, FILLED_NIGHT, FILLED_UNREADABLE_FILE


def report_table(capsys, home: Path) -> list[str]:
    assert main(["--home", str(home), "report", "--night", FILLED_NIGHT, "--format", "table"]) == 0
    return capsys.readouterr().out.splitlines()


def test_report_table_counts_files_apart_from_images_and_shows_verdicts(filled_home: Path, capsys) -> None:
    store = Store.open(load_settings(filled_home))
    flagged = next(r for r in store.night_rows(FILLED_NIGHT) if r["path"].endswith(FILLED_FLAGGED_FILE))
    store.add_label(flagged["path"], 0, "reject", "Ana", "bias jumped")
    header, *rows, total = report_table(capsys, filled_home)
    assert header.split()[:4] == ["flag", "score", "thr", "image"] and "verdict" in header
    assert [FILLED_FLAGGED_FILE in rows[0], FILLED_UNREADABLE_FILE in rows[1]] == [True, True]
    assert all(line.startswith("FLAG") for line in rows[:2]) and not any(line.startswith("FLAG") for line in rows[2:])
    assert "rejected" in rows[0] and "unreadable file" in rows[1] and "rejected" not in rows[1]
    assert total == "4 images, 1 unreadable file, 2 flagged"


def test_report_table_of_rows_without_verdicts() -> None:
    rows = [
        {
            "path": "/raw/a.fits",
            "ext": 0,
            "image_type": "T",
            "score": 1.0,
            "threshold": 6.0,
            "flagged": False,
            "reasons": [],
            "verdict": None,
        },
        {
            "path": "/raw/b.fits",
            "ext": 1,
            "image_type": "T",
            "score": 9.0,
            "threshold": 6.0,
            "flagged": True,
            "reasons": ["level: +3 ADU"],
            "verdict": "accept",
        },
    ]
    lines = format_table(rows).splitlines()
    assert "b.fits" in lines[1] and "accepted" in lines[1] and lines[1].endswith("level: +3 ADU")
    assert lines[-1] == "2 images, 0 unreadable files, 1 flagged"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_lines_without_a_terminal_every_tenth_and_at_the_end() -> None:
    out, clock = io.StringIO(), Clock()
    with ProgressBars(out, clock=clock) as progress:
        for done in range(1, 201):
            clock.now += 0.25
            progress("describe", done, 200)
    lines = out.getvalue().splitlines()
    assert lines[0] == "describe: 1 of 200 images (0 %)"
    assert 9 <= len(lines) <= 12  # a line per tenth, not per image
    assert re.fullmatch(r"describe: 2[12] of 200 images \(1[01] %\), 4 images/s, about 4\d s left", lines[1])
    assert lines[-1] == "describe: 200 images done in 50 s (4 images/s)"


def test_progress_lines_every_ten_seconds_on_slow_work_and_when_stopped() -> None:
    out, clock = io.StringIO(), Clock()
    with ProgressBars(out, clock=clock) as progress:
        progress("score", 0, 1000)
        for done in range(1, 31):
            clock.now += 2.0
            progress("score", done, 1000)
    lines = out.getvalue().splitlines()
    assert lines[1] == "score: 5 of 1,000 nights (0 %), 2 s per night, about 33 min 10 s left"
    assert len(lines) == 1 + 6 + 1  # start, every 10 s of 60 s, stopped
    assert lines[-1] == "score: stopped at 30 of 1,000 nights"


def test_a_terminal_gets_bars_not_lines() -> None:
    out = io.StringIO()
    with ProgressBars(out, terminal=True) as progress:
        progress("describe", 5, 10)
    assert "describe:" in out.getvalue() and "5/10" in out.getvalue() and "of 10 images" not in out.getvalue()


def test_simulate_through_a_pipe_says_how_far_it_is(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "core", "simulate", str(tmp_path / "sim"), "--nights", "2", "--scale", "0.02"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env={**os.environ})
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("simulate: ")]
    assert lines[0].startswith("simulate: 1 of ") and lines[-1].startswith("simulate: ") and " done in " in lines[-1]
