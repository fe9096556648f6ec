"""``calspot reviewers`` and the accounts the command line checks when a home has ``auth = "password"``."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest

from core.cli import main
from tests.test_cli_mutants import flagged_frame, run

PASSWORD = "correct horse battery"


def add(capsys, monkeypatch, name: str, role: str, password: str = PASSWORD, *options: str) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    return run(capsys, "reviewers", "add", name, "--role", role, *options)


@pytest.fixture
def accounts_home(filled_home: Path, capsys, monkeypatch) -> Path:
    """The filled home with ``auth = "password"``, a scientist Ana and a reviewer Ben."""
    (filled_home / "calspot.toml").write_text('auth = "password"\n')
    assert add(capsys, monkeypatch, "Ana", "scientist")[0] == 0
    assert add(capsys, monkeypatch, "Ben", "reviewer")[0] == 0
    return filled_home


def test_an_account_keeps_only_the_hash_of_its_password(filled_home, capsys, monkeypatch):
    status, out, _ = add(capsys, monkeypatch, "Ana", "scientist")
    assert status == 0 and out.split() == ["added", "Ana", "scientist", "active", "password"]
    [(stored,)] = sqlite3.connect(filled_home / "calspot.sqlite").execute("SELECT password_hash FROM reviewers").fetchall()
    assert stored.startswith("scrypt$") and PASSWORD not in stored
    status, _, err = add(capsys, monkeypatch, "Carla", "reviewer", "short")
    assert status == 1 and "at least 8 characters" in err
    status, _, err = add(capsys, monkeypatch, "ana", "admin")
    assert status == 1 and "already a reviewer called 'ana'" in err


def test_accounts_are_listed_disabled_and_enabled(accounts_home, capsys):
    status, out, _ = run(capsys, "reviewers", "list")
    assert status == 0
    assert [line.split()[:3] for line in out.splitlines()] == [["Ana", "scientist", "active"], ["Ben", "reviewer", "active"]]
    assert run(capsys, "reviewers", "disable", "ben")[1].startswith("disabled Ben")
    assert "disabled" in run(capsys, "reviewers", "list")[1].splitlines()[1]
    assert run(capsys, "reviewers", "enable", "Ben")[1].startswith("enabled Ben")
    status, _, err = run(capsys, "reviewers", "disable", "zed")
    assert status == 1 and "no reviewer called 'zed'" in err


def test_a_verdict_from_the_command_line_names_an_account(accounts_home, capsys):
    frame = str(flagged_frame(accounts_home))
    status, _, err = run(capsys, "label", frame, "--ext", "0", "--verdict", "reject", "--by", "zed")
    assert status == 1 and "'zed' is no reviewer account" in err
    status, out, _ = run(capsys, "label", frame, "--ext", "0", "--verdict", "reject", "--by", "ben")
    assert status == 0 and out.rstrip().endswith("by Ben")
    run(capsys, "reviewers", "disable", "Ben")
    status, _, err = run(capsys, "label", frame, "--ext", "0", "--verdict", "accept", "--by", "Ben")
    assert status == 1 and "disabled" in err


@pytest.mark.parametrize(
    "command",
    [
        ("train", "--by", "Ben", "--no-rescore"),
        ("certify", "--type", "UVES_BLUE_BIAS_ext0", "--night", "2024-03-02", "--by", "Ben"),
        ("models", "--activate", "bad-frames-1", "--by", "Ben"),
    ],
)
def test_training_certifying_and_activating_need_the_scientist_role(accounts_home, capsys, command):
    status, _, err = run(capsys, *command)
    assert status == 1 and f"{command[0].replace('models', 'activate')} needs the scientist role; Ben is a reviewer" in err


def test_without_accounts_any_name_may_be_typed(filled_home, capsys):
    frame = str(flagged_frame(filled_home))
    assert main(["label", frame, "--ext", "0", "--verdict", "reject", "--by", "whoever"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("by whoever")
