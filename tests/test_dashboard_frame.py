"""The dashboard's Frame page, run headless through Streamlit's AppTest.

Two homes: simulated nights ingested by the real pipeline (raw files on disk, quality
numbers, profiles, difference images), and ``filled_home``, whose frames have no file
on disk (the file gone) or get an unreadable one written in their place.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from streamlit.testing.v1 import AppTest

from core.config import load_settings
from core.pipeline import ingest
from core.store import Store
from tests.conftest import FILLED_FLAGGED_FILE, FILLED_NIGHT, FILLED_REASONS
from tests.pipeline_fixtures import TEST_INPUT_SIZE, make_settings

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
TIMEOUT_S = 60


def frame_page() -> None:
    """The Frame page alone (AppTest runs this function's body as the script)."""
    from dashboard import frame

    frame.page()


def open_page(image_id: int | str | None = None) -> AppTest:
    at = AppTest.from_function(frame_page, default_timeout=TIMEOUT_S)
    if image_id is not None:
        at.query_params["image"] = str(image_id)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def figures(at: AppTest) -> dict[str, dict]:
    """The page's plotly figures by element key, as the browser gets them."""
    return {chart.proto.id.rsplit("-", 1)[-1]: json.loads(chart.proto.spec) for chart in at.get("plotly_chart")}


def url_image(at: AppTest) -> str:
    """The ``image`` query parameter of the page's URL."""
    value = at.query_params["image"]
    return value[-1] if isinstance(value, list) else value


def table_with(at: AppTest, column: str):
    """The first table of the page that has this column."""
    return next(frame.value for frame in at.dataframe if column in frame.value.columns)


def charts(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def text(at: AppTest) -> str:
    return "\n".join([m.value for m in at.markdown] + [c.value for c in at.caption])


@pytest.fixture(scope="module")
def ingested_home(simulated_nights: Path, embedder, tmp_path_factory) -> Path:
    """The simulated nights ingested (no maps: the Frame page does not draw them)."""
    home = tmp_path_factory.mktemp("frame") / "home"
    ingest([simulated_nights], make_settings(home, map_methods="none"), embedder=embedder)
    return home


@pytest.fixture
def frame_home(ingested_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in {"HOME": ingested_home, "WEIGHTS": "random", "INPUT_SIZE": TEST_INPUT_SIZE, "MAP_METHODS": "none"}.items():
        monkeypatch.setenv(f"CALSPOT_{name}", str(value))
    monkeypatch.delenv("CALSPOT_DATABASE_URL", raising=False)
    return ingested_home


def flagged_flat(home: Path) -> dict:
    """A flagged flat of the last night with nearest reference frames and a difference image."""
    store = Store.open(load_settings(home))
    night = store.nights()[-1]
    return next(
        r
        for r in store.night_rows(night)
        if r["flagged"] and r["category"] == "flat" and r["difference"] and r["details"].get("deviations")
    )


def test_a_flagged_frame_in_full(frame_home: Path) -> None:
    row = flagged_flat(frame_home)
    at = open_page(row["image_id"])
    assert at.title[0].value == "Frame"
    assert at.selectbox(key="frame_page_image").value == row["image_id"]
    assert url_image(at) == str(row["image_id"])
    shown = figures(at)
    heatmap = shown["frame_image"]["data"][0]
    assert heatmap["type"] == "heatmap" and shown["frame_image"]["layout"]["yaxis"]["scaleanchor"] == "x"
    assert shown["frame_histogram"]["layout"]["yaxis"]["type"] == "log"
    for axis in ("rows", "cols"):
        names = [trace["name"] for trace in shown[f"frame_profile_{axis}"]["data"]]
        assert names[1] == "this frame" and names[0].startswith("median of ") and "reference frames" in names[0]
    metric_charts = [key for key in shown if key.startswith("frame_metric_")]
    assert metric_charts, "a flagged flat has a deviating quality number to chart"
    assert all(reason in text(at) for reason in row["reasons"])
    assert "score " in text(at) and "threshold" in text(at)
    header = table_with(at, "keyword")
    assert {"INSTRUME", "DATE-OBS"} <= set(header["keyword"])
    assert at.get("download_button")[0].proto.label == "Download the original file"
    assert [b.label for b in at.button if b.key and b.key.startswith("open_neighbour_")] == ["Open"] * len(row["details"]["neighbours"])


def test_stretch_changes_the_grey_scale(frame_home: Path) -> None:
    at = open_page(flagged_flat(frame_home)["image_id"])
    zscale = figures(at)["frame_image"]["data"][0]["colorbar"]
    assert zscale["tickvals"] == pytest.approx([0.0, 63.75, 127.5, 191.25, 255.0])  # linear between the zscale limits
    at.button_group(key="frame_stretch").set_value("asinh").run()
    assert not at.exception
    asinh = figures(at)["frame_image"]["data"][0]["colorbar"]
    assert asinh["tickvals"][1] > 0.4 * 255  # the faint end lifted


def test_verdict_on_the_frame_page_is_stored(frame_home: Path) -> None:
    row = flagged_flat(frame_home)
    at = open_page(row["image_id"])
    at.text_input(key="reviewer").input("Ana")
    at.text_area(key="verdict_note").input("lamp flickered")
    at.button(key="verdict_accept").click().run()
    assert not at.exception
    assert "recorded for Ana" in at.success[0].value
    label = Store.open(load_settings(frame_home)).labels(row["image_id"])[-1]
    assert (label.verdict, label.reviewer, label.note) == ("accept", "Ana", "lamp flickered")
    assert at.selectbox(key="frame_page_image").value == row["image_id"]  # the Frame page stays on its frame


def test_without_a_frame_asked_for_the_first_flag_of_the_latest_night(frame_home: Path) -> None:
    store = Store.open(load_settings(frame_home))
    at = open_page()
    chosen = at.selectbox(key="frame_page_image").value
    [image] = store.image_rows([chosen])
    assert image.night == store.nights()[-1] and image.flagged
    assert url_image(at) == str(chosen)
    earlier = store.nights()[0]
    at.selectbox(key="night").select(earlier).run()
    assert not at.exception
    [image] = store.image_rows([at.selectbox(key="frame_page_image").value])
    assert image.night == earlier


def test_another_frame_is_picked_and_shared_in_the_url(frame_home: Path) -> None:
    at = open_page()
    first = at.selectbox(key="frame_page_image").value
    at.selectbox(key="frame_page_image").select_index(2).run()
    assert not at.exception
    chosen = at.selectbox(key="frame_page_image").value
    assert chosen != first
    assert url_image(at) == str(chosen) and at.session_state["frame_image_id"] == chosen


def test_a_frame_that_is_not_in_the_store(frame_home: Path) -> None:
    at = open_page(999_999)
    assert "no image 999999" in at.warning[0].value
    assert at.selectbox(key="frame_page_image").value is not None
    at = open_page("abc")
    assert "not an image number" in at.warning[0].value


def flagged_id(home: Path) -> int:
    store = Store.open(load_settings(home))
    return next(r["image_id"] for r in store.night_rows(FILLED_NIGHT) if r["path"].endswith(FILLED_FLAGGED_FILE))


def test_a_frame_whose_file_is_gone_shows_what_the_store_keeps(filled_home: Path) -> None:
    at = open_page(flagged_id(filled_home))
    assert "no longer at" in at.warning[0].value
    assert not charts(at) or all(c["data"][0]["type"] != "heatmap" for c in charts(at))
    assert all(reason in text(at) for reason in FILLED_REASONS)
    assert "nothing to download" in text(at) and not at.get("download_button")
    identity = dict(table_with(at, "what").values.tolist())
    assert identity["instrument"] == "UVES" and identity["size"] == "16 x 16 pixels"
    kept = table_with(at, "keyword")
    assert kept["keyword"].tolist() == ["INSTRUME"] and kept["value"].tolist() == ["UVES"]
    at.text_input(key="reviewer").input("Ana")
    at.button(key="verdict_reject").click().run()
    assert "recorded for Ana" in at.success[0].value


def test_an_unreadable_file_is_said_so(filled_home: Path, tmp_path: Path) -> None:
    image_id = flagged_id(filled_home)
    [image] = Store.open(load_settings(filled_home)).image_rows([image_id])
    Path(image.path).parent.mkdir(parents=True, exist_ok=True)
    Path(image.path).write_bytes(b"SIMPLE  =                    T" + b"\0" * 100)
    at = open_page(image_id)
    assert "cannot be read now" in at.warning[0].value
    assert all(reason in text(at) for reason in FILLED_REASONS)
    assert at.get("download_button")  # the file is there: it can still be fetched


def test_the_original_is_offered_only_from_the_data_roots(filled_home: Path, tmp_path: Path) -> None:
    image_id = flagged_id(filled_home)
    [image] = Store.open(load_settings(filled_home)).image_rows([image_id])
    Path(image.path).parent.mkdir(parents=True, exist_ok=True)
    Path(image.path).write_bytes(b"SIMPLE  =                    T" + b"\0" * 100)
    (filled_home / "calspot.toml").write_text(f'data_roots = ["{tmp_path / "elsewhere"}"]\n')
    at = open_page(image_id)
    assert not at.get("download_button") and "outside the folders this dashboard serves (data_roots)" in text(at)
    (filled_home / "calspot.toml").write_text(f'data_roots = ["{Path(image.path).parent.parent}"]\n')
    assert open_page(image_id).get("download_button")


def test_a_readable_file_written_in_place_is_drawn(filled_home: Path) -> None:
    image_id = flagged_id(filled_home)
    [image] = Store.open(load_settings(filled_home)).image_rows([image_id])
    Path(image.path).parent.mkdir(parents=True, exist_ok=True)
    pixels = np.add.outer(np.arange(40), np.arange(30)).astype(np.float32)
    fits.PrimaryHDU(pixels, fits.Header({"INSTRUME": "UVES", "OBJECT": "BIAS"})).writeto(image.path)
    at = open_page(image_id)
    heatmap = figures(at)["frame_image"]["data"][0]
    assert heatmap["type"] == "heatmap"
    assert "OBJECT" in set(table_with(at, "keyword")["keyword"])


def test_empty_home_says_how_to_fill_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALSPOT_HOME", str(tmp_path / "empty"))
    monkeypatch.delenv("CALSPOT_DATABASE_URL", raising=False)
    at = open_page()
    assert "calspot ingest PATH" in at.info[0].value
    assert not at.selectbox


def test_the_night_report_opens_its_frame_on_the_frame_page(filled_home: Path) -> None:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S).run()
    at.button(key="open_frame").click().run()
    assert not at.exception
    assert at.title[0].value == "Frame"
    assert url_image(at) == str(flagged_id(filled_home))
    assert at.session_state["frame_image_id"] == flagged_id(filled_home)
