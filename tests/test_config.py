"""Settings come from the home's file, the environment and the caller, in that order of strength."""

from __future__ import annotations

import pytest

from core.config import load_settings


def test_file_then_environment_then_overrides(tmp_path, monkeypatch):
    (tmp_path / "calspot.toml").write_text(
        '[calspot]\nnight_offset_hours = 10\nweights = "/models/resnet50_notop.weights.h5"\nbatch_size = 4\n'
    )
    monkeypatch.setenv("CALSPOT_BATCH_SIZE", "8")
    settings = load_settings(tmp_path, weights="random")
    assert settings.night_offset_hours == 10.0
    assert settings.batch_size == 8
    assert settings.weights == "random"
    assert settings.store_url == f"sqlite:///{tmp_path.resolve() / 'calspot.sqlite'}"


def test_database_url_and_home_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CALSPOT_HOME", str(tmp_path))
    monkeypatch.setenv("CALSPOT_DATABASE_URL", "postgresql://calspot@db/calspot")
    settings = load_settings()
    assert settings.home == tmp_path.resolve()
    assert settings.store_url == "postgresql://calspot@db/calspot"


def test_unknown_setting_is_a_clear_error(tmp_path):
    (tmp_path / "calspot.toml").write_text("[calspot]\nbatchsize = 4\n")
    with pytest.raises(ValueError, match="unknown setting 'batchsize'"):
        load_settings(tmp_path)
