"""``auto`` weights without ImageNet's file: seeded random weights, a loud line from the CLI, a dashboard banner.

Nothing is downloaded: the Keras cache is an empty temporary folder, and the session's
``no_downloads`` fixture refuses the connection that a download would open.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.cli import main
from core.embed.resnet50 import IMAGENET_NOTOP_FILE
from tests.broken_files import write_good_files
from tests.pipeline_fixtures import TEST_INPUT_SIZE

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
TIMEOUT_S = 30


@pytest.fixture(scope="module")
def auto_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A home ingested by ``calspot ingest --weights auto`` with an empty Keras cache.

    Returns the home, the Keras cache and the command's standard error.
    """
    root = tmp_path_factory.mktemp("auto")
    home, cache, folder = root / "home", root / "keras", root / "night"
    write_good_files(folder, 4)
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(root / "user"))
        patch.setenv("KERAS_HOME", str(cache))
        if "keras" in sys.modules:
            # Keras reads KERAS_HOME once, at import: a Keras imported earlier in this run must look here too.
            from keras.src.backend import config as keras_config

            patch.setattr(keras_config, "_KERAS_DIR", str(cache))
        for name in ("CALSPOT_WEIGHTS", "CALSPOT_DATABASE_URL"):
            patch.delenv(name, raising=False)
        patch.setenv("CALSPOT_INPUT_SIZE", str(TEST_INPUT_SIZE))
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(["--home", str(home), "ingest", str(folder), "--weights", "auto", "--workers", "1"])
    assert status == 0, err.getvalue()
    assert "4 files found: 4 new" in out.getvalue()
    return home, cache, err.getvalue()


def test_ingest_falls_back_to_random_weights_with_a_warning_line(auto_home, capsys):
    home, cache, err = auto_home
    warnings = [line for line in err.splitlines() if line.startswith("WARNING: ")]
    assert len(warnings) == 1
    assert "SEEDED RANDOM weights" in warnings[0] and IMAGENET_NOTOP_FILE in warnings[0]
    assert str(cache / "models") in warnings[0]
    assert not list(cache.rglob(IMAGENET_NOTOP_FILE))
    assert main(["--home", str(home), "report", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 4
    assert {row["model_version"].split("|")[2].split("/")[1] for row in rows} == {"random-seed0-v2"}


def test_dashboard_shows_the_random_weights_banner(auto_home, monkeypatch):
    monkeypatch.setenv("CALSPOT_HOME", str(auto_home[0]))
    monkeypatch.delenv("CALSPOT_DATABASE_URL", raising=False)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S).run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.dataframe(key="night_table").value) == 4
    assert [w.value for w in at.warning if "random ResNet-50 weights" in w.value]
