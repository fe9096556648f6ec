"""``calspot export labels`` and ``calspot import labels``: every verdict, keyed by file content, restored once."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.cli import main
from core.config import load_settings
from core.store import Store
from core.verdict_files import read_verdicts
from tests.conftest import FILLED_FLAGGED_FILE, FILLED_UNREADABLE_FILE, fill_store


def path_of(store: Store, name: str) -> str:
    return next(r["path"] for night in store.nights() for r in store.night_rows(night) if r["path"].endswith(name))


@pytest.fixture
def judged(filled_home: Path) -> Store:
    """The filled home with three verdicts: a frame rejected then accepted, an unreadable file rejected."""
    store = Store.open(load_settings(filled_home))
    store.add_label(path_of(store, FILLED_FLAGGED_FILE), 0, "reject", "ana", "bias jump, 14 ADU")
    store.add_label(path_of(store, FILLED_FLAGGED_FILE), 0, "accept", "ben", 'new controller; "expected", see log')
    store.add_label(path_of(store, FILLED_UNREADABLE_FILE), None, "reject", "ana", "truncated transfer")
    return store


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_verdicts_move_to_a_store_whose_raw_files_live_elsewhere(judged, store_url, tmp_path, capsys, fmt):
    exported = tmp_path / f"verdicts.{fmt}"
    assert main(["export", "labels", "--format", fmt, "--out", str(exported)]) == 0
    assert capsys.readouterr().out == f"3 verdicts written to {exported}\n"
    records = read_verdicts(exported)
    assert [(r["verdict"], r["reviewer"]) for r in records] == [("reject", "ana"), ("accept", "ben"), ("reject", "ana")]
    assert records[1]["note"] == 'new controller; "expected", see log' and str(records[2]["ext"]) in ("", "None")

    moved = Store(store_url)
    fill_store(moved, tmp_path / "moved-raw")  # the same files' contents, at other paths
    home = tmp_path / "moved-home"
    home.mkdir()
    (home / "calspot.toml").write_text(f'database_url = "{store_url}"\n')
    assert main(["--home", str(home), "import", "labels", str(exported)]) == 0
    assert capsys.readouterr().out.startswith("3 verdicts added, 0 already there, 0 without their frame here")
    assert main(["--home", str(home), "import", "labels", str(exported)]) == 0  # again: nothing doubled
    assert capsys.readouterr().out.startswith("0 verdicts added, 3 already there")
    labels = moved.labels()
    assert [(label.verdict, label.reviewer, label.note) for label in labels] == [(r["verdict"], r["reviewer"], r["note"]) for r in records]
    flagged = next(r for r in moved.night_rows(moved.nights()[-1]) if r["path"].endswith(FILLED_FLAGGED_FILE))
    assert flagged["path"].startswith(str(tmp_path / "moved-raw")) and flagged["verdict"] == "accept"  # the newest counts


def test_an_import_never_puts_an_older_verdict_after_a_newer_one(judged, tmp_path, capsys):
    exported = tmp_path / "verdicts.json"
    main(["export", "labels", "--format", "json", "--out", str(exported)])
    records = json.loads(exported.read_text())
    records[0]["created_at"] = (datetime.now(UTC) - timedelta(days=30)).isoformat()  # an old verdict not in this store
    records.append(dict(records[0], content_hash="not-in-this-store", path="/elsewhere/UVES.fits"))
    exported.write_text(json.dumps(records))
    capsys.readouterr()
    assert main(["import", "labels", str(exported)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("0 verdicts added, 2 already there, 1 without their frame here, 1 older than a verdict here")
    assert "has a newer verdict in this store" in captured.err and "/elsewhere/UVES.fits" in captured.err
    assert [label.verdict for label in judged.labels()][-2:] == ["accept", "reject"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("path,verdict\n/x.fits,reject\n", "no content_hash column"),
        ('[{"content_hash": "h", "verdict": "maybe", "reviewer": "a", "created_at": "2025-01-01T00:00:00+00:00"}]', "verdict must be"),
        ('[{"content_hash": "h", "verdict": "reject", "reviewer": "", "created_at": "2025-01-01"}]', "no reviewer"),
        ("[1, 2]", "not of verdict records"),
    ],
)
def test_a_file_that_is_not_one_of_verdicts_is_refused_in_one_line(filled_home, tmp_path, capsys, content, message):
    bad = tmp_path / "bad.txt"
    bad.write_text(content)
    assert main(["import", "labels", str(bad)]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_the_csv_export_has_one_column_per_field_and_one_row_per_verdict(judged, capsys):
    assert main(["export", "labels"]) == 0
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert len(rows) == 3 and rows[0]["content_hash"] and rows[0]["ext"] == "0" and rows[2]["ext"] == ""
    assert rows[0]["image_type"] == "UVES_BLUE_BIAS_ext0" and rows[0]["created_at"].endswith("+00:00")
