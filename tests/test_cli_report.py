"""What ``calspot report`` and ``calspot nights`` show of a night: which rows, in which order, how many.

The home is ``filled_home``: its latest night has a flagged bias whose file name sorts
after an unflagged one, an unreadable file last, and three unflagged frames, so that
an order by file name alone cannot pass for "flagged rows first".
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from core.cli import main
from core.cli_format import format_table
from tests.conftest import FILLED_EARLIER_NIGHT, FILLED_FLAGGED_FILE, FILLED_NIGHT, FILLED_UNREADABLE_FILE

NIGHTS_LINE = re.compile(r"^(\d{4}-\d{2}-\d{2})\s+(\d+) images\s+(\d+) flagged\s+(\d+) unreadable$")
FLAGGED_FILES = {FILLED_FLAGGED_FILE, FILLED_UNREADABLE_FILE}


def run(capsys, *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def report_csv(capsys, *args: str) -> list[dict[str, str]]:
    status, out, err = run(capsys, "report", "--format", "csv", *args)
    assert status == 0, err
    return list(csv.DictReader(io.StringIO(out)))


def table_lines(capsys, *args: str) -> tuple[list[str], str]:
    """The table's data lines (without the header) and its closing summary line."""
    status, out, err = run(capsys, "report", *args)
    assert status == 0, err
    lines = out.splitlines()
    return lines[1:-1], lines[-1]


def file_of(line: str) -> str:
    return next(word for word in line.split() if word.startswith("UVES."))


def test_nights_counts_equal_the_report_of_each_night(filled_home, capsys):
    status, out, err = run(capsys, "nights")
    assert status == 0, err
    listed = [NIGHTS_LINE.match(line).groups() for line in out.splitlines()]
    assert [night for night, *_ in listed] == [FILLED_NIGHT, FILLED_EARLIER_NIGHT]
    for night, images, flagged, unreadable in listed:
        rows = report_csv(capsys, "--night", night)
        assert int(images) == sum(r["ext"] != "" for r in rows), night
        assert int(flagged) == sum(r["flagged"] == "true" for r in rows), night
        assert int(unreadable) == sum(r["ext"] == "" for r in rows), night
    assert listed[0][1:] == ("4", "2", "1")


@pytest.mark.parametrize("form", ["csv", "json", "table"])
def test_report_flagged_gives_only_the_flagged_rows(filled_home, capsys, form):
    everything = report_csv(capsys)
    assert len(everything) == 5 and {r["flagged"] for r in everything} == {"true", "false"}
    status, out, err = run(capsys, "report", "--flagged", "--format", form)
    assert status == 0, err
    if form == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        assert {Path(r["path"]).name for r in rows} == FLAGGED_FILES and {r["flagged"] for r in rows} == {"true"}
    elif form == "json":
        rows = json.loads(out)
        assert {Path(r["path"]).name for r in rows} == FLAGGED_FILES and all(r["flagged"] is True for r in rows)
    else:
        lines, summary = table_lines(capsys, "--flagged")
        assert {file_of(line) for line in lines} == FLAGGED_FILES and all(line.startswith("FLAG") for line in lines)
        assert summary == "1 image, 1 unreadable file, 2 flagged"


def test_report_table_lists_flagged_rows_first(filled_home, capsys):
    lines, summary = table_lines(capsys, "--night", FILLED_NIGHT)
    flags = [line.startswith("FLAG") for line in lines]
    assert flags == [True, True, False, False, False]
    assert {file_of(line) for line in lines[:2]} == FLAGGED_FILES
    assert summary == "4 images, 1 unreadable file, 2 flagged"


def test_format_table_puts_a_flag_first_whatever_the_order_of_the_rows():
    def row(name: str, flagged: bool) -> dict:
        return {
            "path": f"/raw/{name}",
            "ext": 0,
            "flagged": flagged,
            "score": 1.0,
            "threshold": 3.0,
            "image_type": "UVES_BLUE_BIAS_ext0",
            "reasons": ["bias level high"] if flagged else [],
        }

    rows = [row("UVES.a.fits", False), row("UVES.b.fits", False), row("UVES.z.fits", True)]
    lines = format_table(rows).splitlines()[1:-1]
    assert [file_of(line) for line in lines] == ["UVES.z.fits", "UVES.a.fits", "UVES.b.fits"]
    assert lines[0].startswith("FLAG") and lines[0].endswith("bias level high")
