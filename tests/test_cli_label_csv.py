"""``calspot label --from CSV``: many verdicts in one call, each refused row named by its line."""

from __future__ import annotations

import csv
from pathlib import Path

from core.config import load_settings
from core.store import Store
from tests.conftest import FILLED_FLAGGED_FILE, FILLED_UNREADABLE_FILE
from tests.test_cli_mutants import run


def write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def stored_paths(home: Path) -> dict[str, str]:
    store = Store.open(load_settings(home))
    return {Path(r["path"]).name: r["path"] for night in store.nights() for r in store.night_rows(night)}


def test_many_verdicts_from_a_csv_file_are_stored_and_bad_rows_named(filled_home, tmp_path, capsys):
    paths = stored_paths(filled_home)
    rows = [
        {"path": paths[FILLED_FLAGGED_FILE], "ext": "0", "verdict": "reject", "reviewer": "ana", "note": "bias jump"},
        {"path": paths[FILLED_UNREADABLE_FILE], "ext": "", "verdict": "reject", "reviewer": "", "note": "truncated"},
        {"path": "/nowhere/UVES.fits", "ext": "0", "verdict": "accept", "reviewer": "ana", "note": ""},
        {"path": paths[FILLED_FLAGGED_FILE], "ext": "0", "verdict": "maybe", "reviewer": "ana", "note": ""},
    ]
    status, out, err = run(capsys, "label", "--from", str(write_csv(tmp_path / "verdicts.csv", rows)), "--by", "ben")
    assert status == 1 and out == "2 verdicts stored, 2 refused\n"
    assert "verdicts.csv, line 4: not stored: /nowhere/UVES.fits is not in the store" in err
    assert "verdicts.csv, line 5: not stored: verdict must be one of accept, reject" in err
    labels = [(label.verdict, label.reviewer, label.note) for label in Store.open(load_settings(filled_home)).labels()]
    assert labels == [("reject", "ana", "bias jump"), ("reject", "ben", "truncated")]


def test_a_csv_without_the_needed_columns_or_with_a_bad_extension_stores_nothing(filled_home, tmp_path, capsys):
    status, _, err = run(capsys, "label", "--from", str(write_csv(tmp_path / "a.csv", [{"file": "x", "verdict": "reject"}])))
    assert status == 1 and "lacks path" in err
    paths = stored_paths(filled_home)
    bad = [{"path": paths[FILLED_FLAGGED_FILE], "ext": "zero", "verdict": "reject", "reviewer": "ana"}]
    status, _, err = run(capsys, "label", "--from", str(write_csv(tmp_path / "b.csv", bad)))
    assert status == 1 and "line 2: ext 'zero' is not an extension number; nothing stored" in err
    assert not Store.open(load_settings(filled_home)).labels()


def test_a_single_verdict_still_needs_its_path_verdict_and_reviewer(filled_home, capsys):
    status, _, err = run(capsys, "label", "--verdict", "accept", "--by", "ana")
    assert status == 1 and "label needs PATH, --verdict and --by (or --from CSV)" in err
