"""What the command line tells and keeps that no other test looked at: the confirmation of a verdict, its note,
a report written into a folder that does not exist yet, an internal error in one line, and the log lines of ``-v``.

Each test here fails for a change to ``core/cli.py`` that left the rest of the suite green (found by mutation
testing). The home is ``filled_home`` (no FITS files, no network) except for the ``-v`` test, which runs
``calspot`` in a fresh process as cron does, on one unreadable file.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli import main
from core.config import load_settings
from core.store import NewFile, Store
from tests.conftest import FILLED_EARLIER_NIGHT, FILLED_FLAGGED_FILE, FILLED_NIGHT, FILLED_UNREADABLE_FILE


def run(capsys, *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def flagged_frame(home: Path) -> Path:
    """The path of the flagged bias of ``filled_home`` as it is stored."""
    store = Store.open(load_settings(home))
    return Path(next(i.path for i in store.images("test", "test", night=FILLED_NIGHT) if i.path.endswith(FILLED_FLAGGED_FILE)))


def fresh_environment() -> dict[str, str]:
    """The environment of a new shell: none of the variables that calspot or TensorFlow set for themselves."""
    return {k: v for k, v in os.environ.items() if k not in {"TF_CPP_MIN_LOG_LEVEL", "CALSPOT_DATABASE_URL"}}


def test_a_verdict_is_confirmed_with_its_file_extension_and_reviewer(filled_home, capsys):
    frame = flagged_frame(filled_home)
    status, out, err = run(capsys, "label", str(frame), "--ext", "0", "--verdict", "accept", "--by", "ana")
    assert status == 0, err
    assert out.startswith("label ") and out.rstrip().endswith(f": accept {frame} ext 0 by ana")


def test_a_verdict_on_an_unreadable_file_is_confirmed_without_an_extension(filled_home, capsys, tmp_path):
    broken = tmp_path / "raw" / FILLED_NIGHT / FILLED_UNREADABLE_FILE
    status, out, err = run(capsys, "label", str(broken), "--verdict", "reject", "--by", "ana")
    assert status == 0, err
    assert out.rstrip().endswith(f": reject {broken} by ana")


def test_the_note_of_a_verdict_is_kept_with_it(filled_home, capsys):
    frame = flagged_frame(filled_home)
    note = "bias level jump understood: the CCD was warming up"
    status, _, err = run(capsys, "label", str(frame), "--ext", "0", "--verdict", "accept", "--by", "ana", "--note", note)
    assert status == 0, err
    labels = Store.open(load_settings(filled_home)).labels()
    assert [(label.verdict, label.reviewer, label.note) for label in labels] == [("accept", "ana", note)]


def test_the_table_header_names_its_columns(filled_home, capsys):
    status, out, err = run(capsys, "report", "--night", FILLED_NIGHT)
    assert status == 0, err
    words = out.splitlines()[0].split()
    assert words[:7] == ["flag", "score", "thr", "image", "type", "file", "ext"] and words[-1] == "reason"


@pytest.mark.parametrize("form", ["csv", "table"])
def test_a_report_is_written_into_folders_that_do_not_exist_yet(filled_home, capsys, tmp_path, form):
    target = tmp_path / "reports" / FILLED_NIGHT / f"report.{form}"
    status, out, err = run(capsys, "report", "--night", FILLED_NIGHT, "--format", form, "--out", str(target))
    assert status == 0, err
    assert out == "" and target.is_file()
    if form == "csv":
        rows = list(csv.DictReader(io.StringIO(target.read_text())))
        assert len(rows) == 5 and {r["night"] for r in rows} == {FILLED_NIGHT}
    else:
        assert FILLED_FLAGGED_FILE in target.read_text().splitlines()[1]


def test_the_csv_report_ends_each_line_with_a_newline_only(filled_home, capsys):
    status, out, err = run(capsys, "report", "--night", FILLED_NIGHT, "--format", "csv")
    assert status == 0, err
    assert "\r" not in out and len(out.splitlines()) == 6 and out.endswith("\n")


def test_a_night_without_files_is_told_with_the_first_and_last_nights_stored(filled_home, capsys, tmp_path):
    store = Store.open(load_settings(filled_home))
    late = "2024-03-04"
    broken = NewFile(path=str(tmp_path / "raw" / late / "late.fits"), content_hash="late", size=10, night=late, error="empty file")
    store.save_files([broken], store.start_run("test", {}), fingerprint="test", qc_version="test")
    status, _, err = run(capsys, "report", "--night", "2024-03-03", "--format", "csv")
    assert status == 0
    assert err == f"no images for night 2024-03-03; nights in the store: {FILLED_EARLIER_NIGHT} to {late}\n"


def test_an_internal_error_is_one_line_that_names_it_and_says_how_to_see_more(filled_home, capsys, monkeypatch):
    def broken_report(store, night):
        raise RuntimeError("report rows lost")

    monkeypatch.setattr("core.report.night_report", broken_report)
    status, out, err = run(capsys, "report")
    assert status == 1 and out == ""
    assert err == "calspot report: internal error (RuntimeError: report rows lost); run with -v for the details\n"


def test_a_command_runs_in_a_fresh_shell(filled_home):
    done = subprocess.run([sys.executable, "-m", "core", "nights"], capture_output=True, text=True, env=fresh_environment(), timeout=300)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert done.stdout.startswith(f"{FILLED_NIGHT}  ")


def test_verbose_logs_one_plain_line_per_message(tmp_path):
    night = tmp_path / "raw" / "2024-03-05"
    night.mkdir(parents=True)
    (night / "empty.fits").write_bytes(b"")
    environment = {**fresh_environment(), "CALSPOT_WEIGHTS": "random", "CALSPOT_INPUT_SIZE": "64", "CALSPOT_WORKERS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "core", "--home", str(tmp_path / "home"), "-v", "ingest", str(night)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    logged = [line for line in done.stderr.splitlines() if line.startswith("INFO core.pipeline: ")]
    assert any(line.startswith("INFO core.pipeline: described 0 images of 1 files") for line in logged), done.stderr
    assert "Logging error" not in done.stderr and "Traceback" not in done.stderr
