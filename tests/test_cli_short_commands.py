"""``nights``, ``report`` and ``label``, the commands scripts call once per frame, start without SQLAlchemy or numpy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.store import Store
from tests.conftest import FILLED_FLAGGED_FILE, FILLED_NIGHT, fill_store

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("sqlalchemy", "numpy", "pandas", "scipy", "astropy", "tensorflow", "psycopg")
# Runs the command line, then says which heavy modules it imported.
PROBE = (
    "import sys; from core.cli import main; status = main(sys.argv[1:]); "
    "print('imported:', *sorted(m for m in {heavy} if m in sys.modules)); sys.exit(status)"
)


def run_probe(home: Path, *args: str, database_url: str = "") -> tuple[int, str, str]:
    env = dict(os.environ, CALSPOT_HOME=str(home))
    env.pop("CALSPOT_DATABASE_URL", None)
    if database_url:
        env["CALSPOT_DATABASE_URL"] = database_url
    code = PROBE.format(heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_the_short_commands_answer_without_the_heavy_modules(database: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    home = tmp_path / "home"
    url = request.getfixturevalue("postgres").create_database() if database == "postgresql" else ""
    fill_store(Store(url or f"sqlite:///{home / 'calspot.sqlite'}"), tmp_path / "raw")
    driver = ["psycopg"] if database == "postgresql" else []
    path = tmp_path / "raw" / FILLED_NIGHT / FILLED_FLAGGED_FILE

    status, out, err = run_probe(home, "nights", database_url=url)
    assert status == 0, err
    assert out.splitlines()[0].startswith(FILLED_NIGHT) and out.splitlines()[-1].split()[1:] == driver

    status, out, err = run_probe(home, "label", str(path), "--ext", "0", "--verdict", "reject", "--by", "ana", database_url=url)
    assert status == 0 and "reject" in out, err
    assert out.splitlines()[-1].split()[1:] == driver

    status, out, err = run_probe(home, "report", "--format", "csv", database_url=url)
    assert status == 0, err
    flagged = next(line for line in out.splitlines() if FILLED_FLAGGED_FILE in line)
    assert flagged.endswith(",reject") and out.splitlines()[-1].split()[1:] == driver


def test_a_new_home_is_created_by_the_short_commands_all_the_same(tmp_path: Path) -> None:
    status, out, err = run_probe(tmp_path / "new", "nights")
    assert status == 0 and (tmp_path / "new" / "calspot.sqlite").is_file(), err
    assert "sqlalchemy" in out.splitlines()[-1]


def test_a_stopped_server_is_one_line_for_the_short_commands(tmp_path: Path) -> None:
    status, _, err = run_probe(tmp_path / "home", "report", database_url="postgresql://calspot@127.0.0.1:9/calspot")
    assert status == 1 and len(err.strip().splitlines()) == 1 and "the store stopped answering" in err and "Traceback" not in err
