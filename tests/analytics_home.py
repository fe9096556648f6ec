"""A small calspot home for the Maps, Dendrogram and History pages, written through the store's API.

Four nights of UVES-like frames with descriptors of the home's configured embedder
(seeded random weights), quality numbers, previews and thumbnails, so that maps,
dendrograms and clusters can be computed from it in a second: three biases and two
flats a night, one flagged bias on the last night, no flag on the nights before, and
an arc with a single frame. :func:`fill_analytics_store` can also leave the
descriptors out (a home ingested with another embedder).
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from streamlit.testing.v1 import AppTest

from core.config import load_settings
from core.embed import expected_fingerprint
from core.qc import QC_VERSION
from core.store import NewFile, NewImage, NewScore, Store

NIGHTS = ("2024-05-01", "2024-05-02", "2024-05-03", "2024-05-04")
LAST_NIGHT = NIGHTS[-1]
QUIET_NIGHT = NIGHTS[2]  # nothing flagged
BIAS = "UVES_BLUE_BIAS_ext0"
FLAT = "UVES_BLUE_FLAT_ext0"
ARC = "UVES_RED_WAVE_ext1"  # one frame only, on the last night
BIASES_PER_NIGHT = 3
FLATS_PER_NIGHT = 2
FLAGGED_FILE = "UVES.2024-05-04T20:01:00.fits"
FLAGGED_REASON = "level, amplifier 1: +40.0 ADU, 20.0 sigma above the last 3 nights"
DIMENSION = 32
SIDE = 16


@dataclass(frozen=True)
class Frame:
    night: str
    name: str
    image_type: str
    category: str
    mode: str
    ext: int
    level: float
    flagged: bool


def frames() -> list[Frame]:
    """The frames of the home, in the order they are written."""
    out = []
    for night in NIGHTS:
        day = datetime.fromisoformat(night)
        for k in range(BIASES_PER_NIGHT):
            name = f"UVES.{day + timedelta(hours=20, minutes=k):%Y-%m-%dT%H:%M:%S}.fits"
            flagged = name == FLAGGED_FILE
            out.append(Frame(night, name, BIAS, "bias", "1x1", 0, 210.0 if flagged else 170.0 + 0.2 * k, flagged))
        for k in range(FLATS_PER_NIGHT):
            name = f"UVES.{day + timedelta(hours=20, minutes=10 + k):%Y-%m-%dT%H:%M:%S}.fits"
            out.append(Frame(night, name, FLAT, "flat", "1x1", 0, 20000.0 + 50 * k, False))
    day = datetime.fromisoformat(LAST_NIGHT)
    out.append(Frame(LAST_NIGHT, f"UVES.{day + timedelta(hours=21):%Y-%m-%dT%H:%M:%S}.fits", ARC, "arc", "580", 1, 900.0, False))
    return out


def _thumbnail(seed: int) -> bytes:
    ramp = (np.add.outer(np.arange(SIDE), np.arange(SIDE)) * (3 + seed)) % 256
    buffer = io.BytesIO()
    PILImage.fromarray(ramp.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _descriptor(frame: Frame, generator: np.random.Generator) -> np.ndarray:
    """A direction per image type, the flagged frame turned away from its type's."""
    base = np.zeros(DIMENSION, np.float32)
    base[{"bias": 0, "flat": 1, "arc": 2}[frame.category]] = 1.0
    if frame.flagged:
        base[3] = 0.8
    return base + 0.05 * generator.standard_normal(DIMENSION).astype(np.float32)


def _preview(frame: Frame, generator: np.random.Generator) -> np.ndarray:
    picture = frame.level + 3.0 * generator.standard_normal((SIDE, SIDE))
    if frame.category == "flat":
        picture += 5000.0 * np.sin(np.arange(SIDE) / 2.0)[None, :] ** 2
    if frame.category == "arc":
        picture[:, ::5] += 20000.0
    return picture.astype(np.float32)


def _metrics(frame: Frame, preview: np.ndarray) -> dict[str, float]:
    quantiles = np.percentile(preview, [1, 5, 50, 95, 99])
    numbers = dict(zip(("p01", "p05", "p50", "p95", "p99"), map(float, quantiles), strict=True))
    numbers.update({"amp1.level": frame.level, "amp1.read_noise": 3.0, "amp1.noise": 3.0})
    return numbers


def fill_analytics_store(store: Store, raw: Path, fingerprint: str, *, described: bool = True) -> None:
    """Write the frames of :func:`frames` under ``raw``, their numbers, previews and scores."""
    generator = np.random.default_rng(7)
    run_id = store.start_run("test", {})
    files = []
    for seed, frame in enumerate(frames()):
        preview = _preview(frame, generator)
        descriptor = _descriptor(frame, generator)
        image = NewImage(
            ext=frame.ext,
            extname="",
            shape=(SIDE, SIDE),
            instrument="UVES",
            arm="BLUE" if frame.ext == 0 else "RED",
            category=frame.category,
            label=frame.category.upper(),
            mode=frame.mode,
            image_type=frame.image_type,
            night=frame.night,
            date_obs=datetime.fromisoformat(frame.name[5:24]),
            exptime=5.0,
            header={"INSTRUME": "UVES"},
            problems=[],
            thumbnail=_thumbnail(seed),
            metrics=_metrics(frame, preview),
            profiles={},
            descriptor=descriptor if described else None,
            preview=preview,
        )
        files.append(
            NewFile(
                path=str(raw / frame.night / frame.name),
                content_hash=f"analytics{seed}",
                size=5760,
                night=frame.night,
                error=None,
                images=[image],
            )
        )
    store.save_files(files, run_id, fingerprint=fingerprint, qc_version=QC_VERSION)
    rows = {Path(r.path).name: r for r in store.image_rows()}
    scores = [
        NewScore(
            image_id=rows[frame.name].image_id,
            score=20.0 if frame.flagged else 1.0 + 0.1 * seed,
            threshold=6.0,
            flagged=frame.flagged,
            reference="history",
            reasons=[FLAGGED_REASON] if frame.flagged else [],
            details={"threshold": 6.0},
        )
        for seed, frame in enumerate(frames())
    ]
    store.add_scores(scores, run_id, "test-model")
    store.finish_run(run_id, "done", {"files": len(files)})


def make_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, described: bool = True) -> Path:
    """A home with the analytics frames, set as ``$CALSPOT_HOME``; returns the home."""
    home = tmp_path / "home"
    monkeypatch.setenv("CALSPOT_HOME", str(home))
    monkeypatch.setenv("CALSPOT_WEIGHTS", "random")
    monkeypatch.setenv("CALSPOT_MAP_METHODS", "none")
    monkeypatch.delenv("CALSPOT_DATABASE_URL", raising=False)
    settings = load_settings(home)
    fill_analytics_store(Store.open(settings), tmp_path / "raw", expected_fingerprint(settings), described=described)
    return home


@pytest.fixture
def analytics_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The analytics home (:func:`make_home`)."""
    return make_home(tmp_path, monkeypatch)


def dashboard_on(url_path: str) -> None:
    """The dashboard's pages with another one first, as a script for ``AppTest.from_function``."""
    import streamlit as st

    from dashboard import dendrogram, frame, history, maps, night

    pages = {"night": night, "frame": frame, "maps": maps, "dendrogram": dendrogram, "history": history}
    st.navigation([st.Page(m.page, title=m.TITLE, url_path=path, default=path == url_path) for path, m in pages.items()]).run()


PAGE_TIMEOUT_S = 60


def open_page(url_path: str, **state) -> AppTest:
    """A fresh session of the dashboard on one page, with some session state set first, run once."""
    at = AppTest.from_function(dashboard_on, args=(url_path,), default_timeout=PAGE_TIMEOUT_S)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _decoded(value):
    """Plotly's binary arrays (``{"dtype": ..., "bdata": ...}``) as lists; anything else as it is."""
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).tolist()
    return value


def chart_traces(at: AppTest, index: int = 0) -> list[dict]:
    """The traces of a page's plotly chart as the browser gets them, arrays decoded."""
    spec = json.loads(at.get("plotly_chart")[index].proto.spec)
    return [{k: _decoded(v) for k, v in trace.items()} for trace in spec["data"]]
