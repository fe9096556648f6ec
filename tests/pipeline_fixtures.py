"""Fixtures for tests that run the real pipeline: small simulated nights and one shared network.

The network is a real ResNet-50 forward pass with seeded random weights (nothing is
downloaded) on a small input, built once per test session because building it takes
seconds.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.config import Settings, load_settings
from core.embed.resnet50 import ResNet50Embedder
from core.synthetic import simulate_nights

TEST_INPUT_SIZE = 64
SIM_SCALE = 0.05


@pytest.fixture(scope="session")
def embedder() -> ResNet50Embedder:
    """ResNet-50 with seeded random weights on 64x64 inputs."""
    return ResNet50Embedder(weights="random", input_size=TEST_INPUT_SIZE, seed=0)


def make_settings(home: Path, **overrides) -> Settings:
    """Settings for a test home: random weights, small network input, one worker."""
    values = {"weights": "random", "input_size": TEST_INPUT_SIZE, "workers": 1, "batch_size": 8, "map_methods": ()}
    values.update(overrides)
    return load_settings(home, **values)


@pytest.fixture(scope="session")
def simulated_nights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five tiny simulated nights (four of history, one with defects), written once per session."""
    folder = tmp_path_factory.mktemp("sim")
    simulate_nights(folder, nights=5, test_nights=1, scale=SIM_SCALE, seed=3, defect_rate=0.5)
    return folder


@pytest.fixture
def nights_copy(simulated_nights: Path, tmp_path: Path) -> Path:
    """A private copy of the simulated nights, for tests that change or move files."""
    target = tmp_path / "sim"
    shutil.copytree(simulated_nights, target)
    return target
