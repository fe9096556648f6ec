"""The command line as scripts and cron jobs use it: exit status, CSV/JSON columns, one-line errors."""

from __future__ import annotations

import csv
import gc
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import update

from core.cli import main
from core.cli_format import CSV_COLUMNS
from core.config import load_settings
from core.store import Store
from core.store.schema import SchemaInfo
from tests.broken_files import write_broken_corpus, write_good_files

CONTRACT_COLUMNS = ["path", "ext", "image_type", "night", "score", "threshold", "flagged", "reasons"]


def calspot(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the installed command line in a fresh process, as cron would."""
    environment = {**os.environ, "CALSPOT_WEIGHTS": "random", "CALSPOT_INPUT_SIZE": "64", **(env or {})}
    return subprocess.run([sys.executable, "-m", "core", *args], capture_output=True, text=True, env=environment, timeout=600)


@pytest.fixture(scope="module")
def cli_home(tmp_path_factory) -> tuple[Path, Path, dict]:
    """A home filled by a real ``calspot ingest`` of broken files beside good ones."""
    root = tmp_path_factory.mktemp("cli")
    folder = root / "night"
    corpus = write_broken_corpus(folder)
    write_good_files(folder / "good", 4)
    done = calspot("--home", str(root / "home"), "ingest", str(folder), "--workers", "2")
    assert done.returncode == 0, done.stderr
    return root / "home", folder, {"corpus": corpus, "stdout": done.stdout, "stderr": done.stderr}


def run(capsys, *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_ingest_reports_unreadable_files_and_exits_zero(cli_home):
    _, folder, info = cli_home
    for name, broken in info["corpus"].items():
        if broken.unreadable:
            assert f"unreadable: {folder / name}" in info["stderr"]
    assert "20 files found" in info["stdout"]
    assert "random weights" not in info["stderr"].lower()
    assert "dubious" not in info["stderr"].lower() and "Traceback" not in info["stderr"]


def test_report_csv_has_the_contract_columns(cli_home, capsys):
    home, _folder, info = cli_home
    status, out, _ = run(capsys, "--home", str(home), "report", "--format", "csv")
    assert status == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0].keys())[: len(CONTRACT_COLUMNS)] == CONTRACT_COLUMNS
    assert tuple(rows[0].keys()) == CSV_COLUMNS
    by_name = {Path(r["path"]).name: r for r in rows}
    for name, broken in info["corpus"].items():
        row = by_name[name]
        assert Path(row["path"]).is_absolute()
        assert row["flagged"] == "true"
        assert (row["ext"] == "") == broken.unreadable
        if broken.unreadable:
            assert row["reasons"].startswith("unreadable:") and row["score"] == ""
    assert {r["night"] for r in rows} == {"2024-03-01"}
    assert {r["flagged"] for r in rows} <= {"true", "false"}


def test_report_json_carries_explanations(cli_home, capsys, tmp_path):
    home, _, _ = cli_home
    out_file = tmp_path / "report.json"
    status, _, _ = run(capsys, "--home", str(home), "report", "--night", "2024-03-01", "--format", "json", "--out", str(out_file))
    assert status == 0
    rows = json.loads(out_file.read_text())
    scored = [r for r in rows if r["score"] is not None]
    assert scored and all({"deviations", "neighbours", "reference", "threshold"} <= r["explanation"].keys() for r in scored)
    assert all(isinstance(r["flagged"], bool) for r in rows)


def test_report_table_puts_flags_first(cli_home, capsys):
    home, _, _ = cli_home
    status, out, _ = run(capsys, "--home", str(home), "report")
    lines = out.splitlines()
    assert status == 0 and lines[1].startswith("FLAG")
    assert lines[-1].endswith("flagged")


def test_label_is_appended_and_shown_in_the_report(cli_home, capsys):
    home, folder, _ = cli_home
    frame = folder / "good" / "bias_01.fits"
    assert run(capsys, "--home", str(home), "label", str(frame), "--ext", "0", "--verdict", "reject", "--by", "ana")[0] == 0
    assert (
        run(
            capsys, "--home", str(home), "label", str(frame), "--ext", "0", "--verdict", "accept", "--by", "ben", "--note", "fine after all"
        )[0]
        == 0
    )
    labels = [label for label in Store(f"sqlite:///{home / 'calspot.sqlite'}").labels() if label.reviewer in {"ana", "ben"}]
    assert [(label.verdict, label.reviewer) for label in labels] == [("reject", "ana"), ("accept", "ben")]
    assert labels[-1].model_version.startswith("frame-detector")
    _, out, _ = run(capsys, "--home", str(home), "report", "--format", "csv")
    row = next(r for r in csv.DictReader(io.StringIO(out)) if r["path"] == str(frame))
    assert row["verdict"] == "accept"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["label", "/nowhere/x.fits", "--ext", "0", "--verdict", "accept", "--by", "ana"], "not in the store"),
        (["label", "{folder}/good/bias_00.fits", "--ext", "3", "--verdict", "accept", "--by", "ana"], "has no image extension 3"),
        (["ingest", "/no/such/folder"], "none of the given paths exists"),
    ],
)
def test_errors_are_one_line_and_exit_non_zero(cli_home, capsys, args, message):
    home, folder, _ = cli_home
    status, _, err = run(capsys, "--home", str(home), *[a.format(folder=folder) for a in args])
    assert status != 0
    assert message in err and len(err.strip().splitlines()) == 1


def test_report_on_an_empty_home_says_what_to_do(tmp_path, capsys):
    status, _, err = run(capsys, "--home", str(tmp_path / "empty"), "report")
    assert status == 1 and "calspot ingest" in err


def test_a_store_of_another_schema_version_is_refused(tmp_path, capsys):
    home = tmp_path / "old"
    store = Store(f"sqlite:///{home / 'calspot.sqlite'}")
    with store._sessions.begin() as session:
        session.execute(update(SchemaInfo).values(version=999))
    status, _, err = run(capsys, "--home", str(home), "report")
    assert status == 1 and "schema version 999" in err


def test_an_unreadable_file_takes_a_verdict_without_an_extension(cli_home, capsys):
    home, folder, _ = cli_home
    status, _, _ = run(capsys, "--home", str(home), "label", str(folder / "empty.fits"), "--verdict", "reject", "--by", "ana")
    assert status == 0
    _, out, _ = run(capsys, "--home", str(home), "report", "--format", "csv")
    row = next(r for r in csv.DictReader(io.StringIO(out)) if r["path"] == str(folder / "empty.fits"))
    assert row["verdict"] == "reject"
    status, _, err = run(capsys, "--home", str(home), "label", str(folder / "good" / "bias_00.fits"), "--verdict", "reject", "--by", "ana")
    assert status == 1 and "say which image extension" in err


def test_score_command_rescored_every_night(cli_home, capsys, monkeypatch):
    home, _, _ = cli_home
    monkeypatch.setenv("CALSPOT_WEIGHTS", "random")
    monkeypatch.setenv("CALSPOT_INPUT_SIZE", "64")
    status, out, _ = run(capsys, "--home", str(home), "score")
    assert status == 0 and out.startswith("2024-03-01: ")
    status, out, _ = run(capsys, "--home", str(home), "nights")
    assert status == 0 and "2024-03-01" in out and "unreadable" in out


def open_store_files(home: Path) -> list[str]:
    """The files of the home's store that this process holds open."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the descriptor listdir itself used, closed meanwhile
            continue
        if target.startswith(str(home / "calspot.sqlite")):
            found.append(target)
    return found


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to list open files")
def test_a_command_run_in_process_closes_the_store_when_it_ends(cli_home, capsys):
    # A store left open until garbage collection holds the SQLite file's locks; another
    # handle on the file closed in the same process (a copy of the home) drops them, and a
    # later writer can then reset the log under this process's connections.
    home, _, _ = cli_home
    gc.disable()  # the command must close the store itself, not the collector
    try:
        for command in (["nights"], ["report", "--night", "2024-03-01", "--format", "csv"], ["export", "labels", "--format", "csv"]):
            status, _, err = run(capsys, "--home", str(home), *command)
            assert status == 0, err
            assert open_store_files(home) == [], command
    finally:
        gc.enable()


def test_a_command_that_loaded_the_network_leaves_with_everything_said_and_stored(tmp_path):
    # Once TensorFlow is loaded the program leaves without the interpreter's teardown:
    # what it printed to files (block-buffered), logged and stored must all be there.
    folder = tmp_path / "night"
    write_good_files(folder, 3)
    home = tmp_path / "home"
    buffered = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    environment = {**buffered, "CALSPOT_WEIGHTS": "random", "CALSPOT_INPUT_SIZE": "64"}
    with (tmp_path / "out.txt").open("w") as out, (tmp_path / "err.txt").open("w") as err:
        done = subprocess.run(
            [sys.executable, "-m", "core", "-v", "--home", str(home), "ingest", str(folder)],
            stdout=out,
            stderr=err,
            env=environment,
            timeout=600,
        )
    said, logged = (tmp_path / "out.txt").read_text(), (tmp_path / "err.txt").read_text()
    assert done.returncode == 0, logged
    assert "3 files found" in said and said.endswith("\n")
    assert "scored 1 nights" in logged and "Traceback" not in logged
    store = Store.open(load_settings(home))
    try:
        assert len(store.image_rows()) == 3
    finally:
        store.close()
