"""Fixtures shared by the test modules.

``filled_home`` is a small, deterministic calspot home written straight through the
store's API (no FITS files, no network): two nights of UVES-like bias and flat
frames, one flagged frame with reasons and deviations, one unreadable file. The
constants below say what it holds, so that tests can assert on it by name.
"""

from __future__ import annotations

import io
import ipaddress
import socket
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from core.config import load_settings
from core.store import NewFile, NewImage, NewScore, Store
from tests.postgres_server import PostgresServer, postgres_bin

pytest_plugins = ("tests.pipeline_fixtures",)

FILLED_EARLIER_NIGHT = "2024-03-01"
FILLED_NIGHT = "2024-03-02"
FILLED_FINGERPRINT = "test"
FILLED_QC_VERSION = "test"
FILLED_MODEL_VERSION = "frame-detector-1|test|resnet50/random-seed0/in224/test"
FILLED_FLAGGED_FILE = "UVES.2024-03-02T20:01:00.000.fits"
FILLED_REASONS = [
    "bias level, amplifier 1: +14.2 ADU, 9.8 sigma above the last 1 night",
    "read-out noise, amplifier 1: +0.91 ADU, 4.1 sigma above the last 1 night",
]
FILLED_UNREADABLE_FILE = "UVES.2024-03-02T21:00:00.000.fits.Z"
FILLED_UNREADABLE_ERROR = "truncated: the data unit ends after 1000 of 2880 bytes"

# (night, file name, category, image type, score, flagged); thresholds are 3.0.
_FRAMES = [
    (FILLED_EARLIER_NIGHT, "UVES.2024-03-01T20:00:00.000.fits", "bias", "UVES_BLUE_BIAS_ext0", 0.8, False),
    (FILLED_EARLIER_NIGHT, "UVES.2024-03-01T20:10:00.000.fits", "flat", "UVES_BLUE_FLAT_ext0", 1.0, False),
    (FILLED_NIGHT, "UVES.2024-03-02T20:00:00.000.fits", "bias", "UVES_BLUE_BIAS_ext0", 1.1, False),
    (FILLED_NIGHT, FILLED_FLAGGED_FILE, "bias", "UVES_BLUE_BIAS_ext0", 7.5, True),
    (FILLED_NIGHT, "UVES.2024-03-02T20:10:00.000.fits", "flat", "UVES_BLUE_FLAT_ext0", 0.9, False),
    (FILLED_NIGHT, "UVES.2024-03-02T20:11:00.000.fits", "flat", "UVES_BLUE_FLAT_ext0", 2.0, False),
]


@pytest.fixture(scope="session", autouse=True)
def no_downloads():
    """Refuse every connection beyond this machine, so that no test can download anything.

    ImageNet weights, a DNS lookup or any other fetch fails at once and loudly; the
    dashboard server and Chromium on loopback, and Unix sockets, work as usual.
    """
    connect = socket.socket.connect

    def loopback(host: str) -> bool:
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return host == "localhost"

    def local_only(sock: socket.socket, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not loopback(address[0]):
            raise ConnectionRefusedError(f"tests must not use the network (connection to {address[0]} refused)")
        return connect(sock, address)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", local_only)
        yield


@pytest.fixture(autouse=True)
def main_module_kept():
    """Give ``__main__`` back after each test: an AppTest run leaves its own script there.

    Streamlit's script runner installs the page's script as ``sys.modules["__main__"]``
    and leaves it; a later test in the same worker that starts a process pool would then
    have every spawned child re-run that script, and the pool breaks.
    """
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture(scope="session", autouse=True)
def no_maps_unless_asked():
    """Ingests in tests (CLI subprocesses included) compute no maps unless a test asks for them.

    A UMAP and a t-SNE of a night take tens of seconds on two cores; tests/test_maps.py
    and the dashboard tests that need maps choose ``map_methods`` themselves.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CALSPOT_MAP_METHODS", "none")
        yield


@pytest.fixture(scope="session")
def postgres() -> PostgresServer:
    """A real PostgreSQL server for this test process (Debian's ``postgresql``, which ``make test`` installs)."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.fail("PostgreSQL's server is not installed: run `make test`, which installs Debian's postgresql package")
    server = PostgresServer(bin_dir).start()
    yield server
    server.remove()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a new, empty store: a SQLite file, then a database on the test PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'calspot.sqlite'}"
    return request.getfixturevalue("postgres").create_database()


def _thumbnail(seed: int) -> bytes:
    """A small deterministic PNG (a gradient), different for each frame."""
    ramp = (np.add.outer(np.arange(16), np.arange(16)) * (4 + seed)) % 256
    buffer = io.BytesIO()
    PILImage.fromarray(ramp.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _image(night: str, name: str, category: str, image_type: str, seed: int) -> NewImage:
    return NewImage(
        ext=0,
        extname="",
        shape=(16, 16),
        instrument="UVES",
        arm="BLUE",
        category=category,
        label=category.upper(),
        mode="1x1",
        image_type=image_type,
        night=night,
        date_obs=datetime.fromisoformat(name.split(".", 1)[1][:19]),
        exptime=0.0 if category == "bias" else 5.0,
        header={"INSTRUME": "UVES"},
        problems=[],
        thumbnail=_thumbnail(seed),
        metrics={"bias_level_1": 170.0 + seed},
        profiles={},
        descriptor=np.full(8, seed, np.float32),
    )


def _flagged_details(reference: dict) -> dict:
    return {
        "deviations": [
            {
                "metric": "bias_level_1",
                "label": "bias level, amplifier 1",
                "unit": "ADU",
                "value": 184.2,
                "reference": 170.0,
                "scatter": 1.45,
                "z": 9.8,
            },
            {
                "metric": "ron_1",
                "label": "read-out noise, amplifier 1",
                "unit": "ADU",
                "value": 4.21,
                "reference": 3.3,
                "scatter": 0.22,
                "z": 4.1,
            },
        ],
        "neighbours": [
            {"image_id": reference["image_id"], "path": reference["path"], "ext": 0, "distance": 0.042},
        ],
        "reference": {"kind": "history", "frames": 1, "nights": 1, "first_night": FILLED_EARLIER_NIGHT, "last_night": FILLED_EARLIER_NIGHT},
        "threshold": 3.0,
    }


def fill_store(store: Store, raw: Path) -> None:
    """Write the frames of ``_FRAMES`` (files under ``raw``), their scores and one unreadable file."""
    run_id = store.start_run("test", {})
    files = [
        NewFile(
            path=str(raw / night / name),
            content_hash=f"hash{seed}",
            size=5760,
            night=night,
            error=None,
            images=[_image(night, name, category, image_type, seed)],
        )
        for seed, (night, name, category, image_type, _, _) in enumerate(_FRAMES)
    ]
    files.append(
        NewFile(
            path=str(raw / FILLED_NIGHT / FILLED_UNREADABLE_FILE),
            content_hash="hash-broken",
            size=1000,
            night=FILLED_NIGHT,
            error=FILLED_UNREADABLE_ERROR,
        )
    )
    store.save_files(files, run_id, fingerprint=FILLED_FINGERPRINT, qc_version=FILLED_QC_VERSION)
    stored = {Path(image.path).name: image for image in store.images(FILLED_FINGERPRINT, FILLED_QC_VERSION)}
    earlier_bias = stored[_FRAMES[0][1]]
    reference = {"image_id": earlier_bias.image_id, "path": earlier_bias.path}
    scores = []
    for _, name, _, _, score, flagged in _FRAMES:
        scores.append(
            NewScore(
                image_id=stored[name].image_id,
                score=score,
                threshold=3.0,
                flagged=flagged,
                reference="history",
                reasons=list(FILLED_REASONS) if flagged else [],
                details=_flagged_details(reference) if flagged else {"threshold": 3.0},
            )
        )
    store.add_scores(scores, run_id, FILLED_MODEL_VERSION)
    store.finish_run(run_id, "done", {"files": len(files)})


@pytest.fixture
def filled_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A calspot home with two scored nights, set as ``$CALSPOT_HOME``; returns the home."""
    home = tmp_path / "home"
    monkeypatch.setenv("CALSPOT_HOME", str(home))
    monkeypatch.delenv("CALSPOT_DATABASE_URL", raising=False)
    fill_store(Store.open(load_settings(home)), tmp_path / "raw")
    return home
