"""The ingest's summary lists every file with a problem, and an undated file joins the night of the files it came with."""

from __future__ import annotations

import shutil
from pathlib import Path

from astropy.io import fits

from core.cli import main
from core.pipeline import ingest
from core.report import night_report
from core.store import Store
from tests.pipeline_fixtures import make_settings


def undated_copy(source: Path, target: Path) -> Path:
    """A readable copy of a raw file whose headers say nothing of when it was taken."""
    with fits.open(source) as hdus:
        for hdu in hdus:
            for key in ("DATE-OBS", "MJD-OBS", "DATE", "UTC", "LST", "DATE-BEG"):
                hdu.header.remove(key, ignore_missing=True, remove_all=True)
        hdus.writeto(target)
    return target


def night_batch(simulated_nights: Path, folder: Path, night_index: int = 2, count: int = 4) -> list[Path]:
    """A few files of one simulated night copied into a folder whose name says no date, under names that say none."""
    night = sorted(p for p in simulated_nights.iterdir() if p.is_dir())[night_index]
    folder.mkdir(parents=True)
    copies = []
    for k, source in enumerate(sorted(night.glob("*.fits"))[:count]):
        copies.append(folder / f"frame{k}.fits")
        shutil.copy(source, copies[-1])
    return copies


def test_an_undated_file_joins_the_night_of_the_dated_files_of_its_folder(simulated_nights, tmp_path, embedder):
    batch = night_batch(simulated_nights, tmp_path / "raw" / "run-a")
    undated = undated_copy(batch[0], tmp_path / "raw" / "run-a" / "nodate.fits")
    settings = make_settings(tmp_path / "home")
    result = ingest([tmp_path / "raw"], settings, embedder=embedder)
    dated_night = sorted(p.name for p in simulated_nights.iterdir() if p.is_dir())[2]
    assert result.nights == [dated_night]
    [(path, why)] = result.undated
    assert path == str(undated)
    assert why == f"its header gives no usable observation date: put on {dated_night}, the night of the dated files of its folder"
    rows = night_report(Store.open(settings), dated_night)
    assert any(r["path"] == str(undated) for r in rows)


def test_the_summary_names_undated_duplicate_and_unreadable_files(simulated_nights, tmp_path, capsys, monkeypatch):
    batch = night_batch(simulated_nights, tmp_path / "raw" / "run-b", count=3)
    undated_copy(batch[0], tmp_path / "raw" / "run-b" / "nodate.fits")
    shutil.copy(batch[1], tmp_path / "raw" / "run-b" / "copy-of-frame1.fits")
    (tmp_path / "raw" / "run-b" / "broken.fits").write_bytes(b"SIMPLE  =                    T" + b" " * 50)
    for name, value in {"WEIGHTS": "random", "INPUT_SIZE": "64", "WORKERS": "1", "MAP_METHODS": "none"}.items():
        monkeypatch.setenv(f"CALSPOT_{name}", value)
    assert main(["--home", str(tmp_path / "home"), "ingest", str(tmp_path / "raw")]) == 0
    captured = capsys.readouterr()
    problems = sorted(line.split(":", 1)[0] + " " + Path(line.split(": ")[1]).name for line in captured.err.splitlines() if ": /" in line)
    assert problems == ["duplicate frame1.fits", "undated nodate.fits", "unreadable broken.fits"]  # copy-of-... came first
    assert f"the same content as {tmp_path / 'raw' / 'run-b' / 'copy-of-frame1.fits'}" in captured.err
    assert "1 unreadable, 1 undated, 1 duplicates;" in captured.out
