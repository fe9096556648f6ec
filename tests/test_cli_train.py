"""``label ... ; train ; report``: after ``calspot train`` every report shows the new model's flags.

Three tiny simulated nights ingested through the real pipeline (``tests.test_verdict_loop``):
the expert's verdicts on the middle night come from the simulator's truth file.
"""

from __future__ import annotations

import csv
from pathlib import Path

from core.config import load_settings
from core.models import models_folder
from core.store import Store
from tests.test_verdict_loop import calspot, home, report, scored_home

__all__ = ["home", "scored_home"]  # the fixtures this module uses


def review_middle_night(capsys, home: Path, raw: Path, night: str) -> int:
    """Verdicts from the truth file on every readable frame of a night; how many were rejected."""
    with (raw / "truth.csv").open() as fh:
        defects = {(str((raw / r["path"]).resolve()), int(r["ext"])): r["defect"] for r in csv.DictReader(fh)}
    rejected = 0
    for row in report(capsys, home, night):
        if row["ext"] is None:
            continue
        defect = defects[(row["path"], row["ext"])]
        verdict = "reject" if defect else "accept"
        calspot(capsys, home, "label", row["path"], "--ext", str(row["ext"]), "--verdict", verdict, "--by", "ana", "--note", defect)
        rejected += bool(defect)
    return rejected


def raw_of(scored_home) -> Path:
    source, _ = scored_home
    return source.parent / "raw"


def test_report_after_train_shows_the_new_models_flags(home, scored_home, capsys):
    _, (_, middle, last) = scored_home
    assert review_middle_night(capsys, home, raw_of(scored_home), middle) > 0
    out = calspot(capsys, home, "train", "--by", "ana")
    assert "trained bad-frames-1 (active)" in out and "trained image-types-1 (active)" in out
    assert "rescored 3 nights with the new models" in out
    rows = [r for r in report(capsys, home, last) if r["ext"] is not None]
    assert rows and all(r["model_version"].endswith("|bad-frames-1+image-types-1") for r in rows)
    trained_groups = {(r["image_type"], r["mode"]) for r in report(capsys, home, middle) if r["verdict"]}
    judged = [r for r in rows if (r["image_type"], r["mode"]) in trained_groups and r["score"] is not None]
    assert judged and all(r["explanation"]["threshold_basis"] == "verdicts" for r in judged)
    listed = calspot(capsys, home, "models")
    assert "* bad-frames-1" in listed and "* image-types-1" in listed
    weights = list(models_folder(home).glob("image-types-*.weights.h5"))
    assert len(weights) == 1


def test_activating_an_older_model_rolls_the_reports_back(home, scored_home, capsys):
    _, (_, middle, last) = scored_home
    review_middle_night(capsys, home, raw_of(scored_home), middle)
    calspot(capsys, home, "train", "--by", "ana")
    calspot(capsys, home, "train", "--by", "ben")
    assert all(r["model_version"].endswith("|bad-frames-2+image-types-2") for r in report(capsys, home, last) if r["ext"] is not None)
    out = calspot(capsys, home, "models", "--activate", "bad-frames-1")
    assert out.startswith("bad-frames-1 is now the active bad-frames model") and "rescored 3 nights" in out
    assert "* bad-frames-1" in out and "  bad-frames-2" in out
    assert all(r["model_version"].endswith("|bad-frames-1+image-types-2") for r in report(capsys, home, last) if r["ext"] is not None)


def test_a_network_whose_file_was_changed_is_not_loaded_and_scoring_goes_on(home, scored_home, capsys, caplog):
    _, (_, middle, last) = scored_home
    review_middle_night(capsys, home, raw_of(scored_home), middle)
    calspot(capsys, home, "train", "--by", "ana")
    (weights,) = models_folder(home).glob("*.weights.h5")
    weights.write_bytes(weights.read_bytes() + b"changed")
    out = calspot(capsys, home, "score", "--night", last)
    assert out.startswith(f"{last}: ")
    assert any("is not the file it was trained into (checksum differs): not loaded" in m for m in caplog.messages)
    rows = [r for r in report(capsys, home, last) if r["ext"] is not None]
    assert all(r["model_version"].endswith("|bad-frames-1") for r in rows)


def test_evaluate_prints_the_proof_of_concepts_tables(home, scored_home, capsys):
    _, (_, middle, _) = scored_home
    out = calspot(capsys, home, "evaluate", "verdicts")
    assert out.startswith("bad-frame identification: no verdict")
    review_middle_night(capsys, home, raw_of(scored_home), middle)
    calspot(capsys, home, "train", "--by", "ana")
    out = calspot(capsys, home, "evaluate")
    assert "bad-frame identification on the experts' verdicts" in out
    assert "image-type classification by the fully connected network image-types-1" in out
    assert "image-type identification by hierarchical clustering" in out
    lines = out.splitlines()
    assert any(line.startswith("all types") for line in lines)


def test_train_without_verdicts_trains_the_type_network_and_says_what_is_missing(home, capsys):
    from core.cli import main

    store = Store.open(load_settings(home))
    assert store.models() == []
    status = main(["--home", str(home), "train", "--no-rescore"])
    captured = capsys.readouterr()
    assert status == 0 and "no bad-frame model: no verdict on a scored calibration frame yet" in captured.err
    assert [m.version for m in store.models()] == ["image-types-1"] and "rescored" not in captured.out
