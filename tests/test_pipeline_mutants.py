"""What an ingest does with files that carry no date, and what ``rescore`` reports as it goes, that no other test
looked at.

Each test here fails for a change to ``core/pipeline.py`` that left the rest of the suite green (found by mutation
testing). The files are unreadable ones (the network is the session's ``embedder``), or the store of
``filled_home``.
"""

from __future__ import annotations

from core.config import load_settings
from core.pipeline import ingest, rescore
from core.report import night_report
from core.store import Store
from tests.conftest import FILLED_EARLIER_NIGHT, FILLED_NIGHT
from tests.pipeline_fixtures import make_settings


def test_an_unreadable_file_belongs_to_the_night_its_folder_names(tmp_path, embedder):
    folder = tmp_path / "raw" / "2024-03-05"
    folder.mkdir(parents=True)
    (folder / "empty.fits").write_bytes(b"")
    (folder / "truncated.fits").write_bytes(b"SIMPLE  =                    T" + b" " * 50)
    settings = make_settings(tmp_path / "home")
    result = ingest([tmp_path / "raw"], settings, embedder=embedder)
    assert result.nights == ["2024-03-05"]
    assert sorted(path.rsplit("/", 1)[1] for path, _ in result.unreadable) == ["empty.fits", "truncated.fits"]
    rows = night_report(Store.open(settings), "2024-03-05")
    assert len(rows) == 2 and all(r["flagged"] and r["reasons"][0].startswith("unreadable") for r in rows)


def test_rescore_counts_the_nights_it_scored_as_it_goes(filled_home):
    seen = []
    flagged = rescore(load_settings(filled_home, weights="random"), progress=lambda *step: seen.append(step))
    assert list(flagged) == [FILLED_EARLIER_NIGHT, FILLED_NIGHT]
    assert seen == [("score", 1, 2), ("score", 2, 2)]
