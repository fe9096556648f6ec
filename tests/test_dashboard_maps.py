"""The Maps page, run headless through Streamlit's AppTest on small homes written through the store's API.

The map is PCA (computed in a blink); selections are set as the chart's callback sets
them (``map_selection``), since AppTest cannot drag a box (the browser test does).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import load_settings
from core.store import Store
from tests.analytics_home import (  # noqa: F401 (fixture)
    BIAS,
    BIASES_PER_NIGHT,
    FLAGGED_FILE,
    FLATS_PER_NIGHT,
    LAST_NIGHT,
    NIGHTS,
    QUIET_NIGHT,
    analytics_home,
    chart_traces,
    make_home,
    open_page,
)

FRAMES_TONIGHT = BIASES_PER_NIGHT + FLATS_PER_NIGHT + 1


def computed_map(**state):
    """The Maps page with the PCA map computed through its button."""
    at = open_page("maps", map_method="pca", **state)
    assert "not stored yet" in at.info[0].value
    at.button(key="map_compute").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def store_of(home: Path) -> Store:
    return Store.open(load_settings(home))


def test_map_is_computed_on_demand_and_stored(analytics_home: Path) -> None:
    at = computed_map()
    traces = chart_traces(at)
    assert {t["type"] for t in traces} == {"scattergl"}
    ids = [i for t in traces for i in t["customdata"]]
    assert len(ids) == len(set(ids)) == len(NIGHTS) * (BIASES_PER_NIGHT + FLATS_PER_NIGHT) + 1
    tonight = [i for t in traces if t["name"].endswith("(this night)") for i in t["customdata"]]
    assert {r.night for r in store_of(analytics_home).image_rows(tonight)} == {LAST_NIGHT}
    assert len(tonight) == FRAMES_TONIGHT
    assert [t["name"] for t in traces][-1].endswith("(this night)")  # drawn last, on top
    assert f"PCA of {LAST_NIGHT}: {FRAMES_TONIGHT} frames of the night" in at.caption[0].value
    # A new session finds it stored: no button, the map at once.
    again = open_page("maps", map_method="pca")
    assert not again.button and chart_traces(again)


@pytest.mark.parametrize("colour", ["score", "flag", "verdict", "night", "cluster"])
def test_every_colouring_draws(analytics_home: Path, colour: str) -> None:
    at = computed_map(map_colour=colour)
    names = {t["name"] for t in chart_traces(at)}
    if colour == "flag":
        assert {"flagged (this night)", "not flagged"} <= names
    if colour == "cluster":
        assert any(name.startswith("cluster ") and BIAS in name for name in names)


def test_a_night_without_flags(analytics_home: Path) -> None:
    at = computed_map(night=QUIET_NIGHT, map_colour="flag")
    names = {t["name"] for t in chart_traces(at)}
    assert "flagged" not in names and "flagged (this night)" not in names
    assert "not flagged (this night)" in names


def test_a_box_selection_is_listed_and_rejected_with_one_note(analytics_home: Path) -> None:
    store = store_of(analytics_home)
    biases = [r for r in store.image_rows(night=LAST_NIGHT, image_type=BIAS)]
    at = computed_map()
    at.session_state["map_selection"] = [r.image_id for r in biases]
    at.run()
    assert at.subheader[0].value == f"{BIASES_PER_NIGHT} frames selected"
    table = at.dataframe(key="map_selected_table").value
    assert sorted(table["file"]) == sorted(Path(r.path).name for r in biases)
    assert all(str(uri).startswith("data:image/png;base64,") for uri in table["thumbnail"])
    at.text_input(key="map_verdict_reviewer").input("Ana")
    at.text_area(key="map_verdict_note").input("all three after the CCD warm-up")
    at.button(key="map_verdict_reject").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert f"Rejected: {BIASES_PER_NIGHT} frames, recorded for Ana." == at.success[0].value
    labels = store.labels()
    assert sorted(label.image_id for label in labels) == sorted(r.image_id for r in biases)
    assert {(label.verdict, label.reviewer, label.note) for label in labels} == {("reject", "Ana", "all three after the CCD warm-up")}
    assert set(at.dataframe(key="map_selected_table").value["verdict"]) == {"rejected"}
    assert at.session_state["reviewer_name"] == "Ana"


def test_a_batch_verdict_needs_a_reviewer(analytics_home: Path) -> None:
    flagged = [r.image_id for r in store_of(analytics_home).image_rows(night=LAST_NIGHT) if r.path.endswith(FLAGGED_FILE)]
    at = computed_map(map_selection=flagged)
    assert at.subheader[0].value == "1 frame selected"
    at.button(key="map_verdict_accept").click().run()
    assert "reviewer's name" in at.error[0].value
    assert store_of(analytics_home).labels() == []


def test_frames_on_the_historic_map(analytics_home: Path) -> None:
    at = open_page("maps", map_method="pca", map_kind="placed")
    assert at.selectbox(key="map_instrument").value == "UVES"
    at.button(key="map_compute").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "placed on it" in at.caption[0].value
    tonight = [i for t in chart_traces(at) if t["name"].endswith("(this night)") for i in t["customdata"]]
    assert len(tonight) == FRAMES_TONIGHT


def test_the_first_night_has_no_history_to_be_placed_on(analytics_home: Path) -> None:
    at = open_page("maps", map_method="pca", map_kind="placed", night=NIGHTS[0])
    at.button(key="map_compute").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "no historic map" in at.info[-1].value


def test_a_night_without_descriptors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_home(tmp_path, monkeypatch, described=False)
    at = open_page("maps")
    assert "descriptor" in at.info[0].value and "calspot ingest" in at.info[0].value
    assert not at.button and not at.get("plotly_chart")


def test_an_empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALSPOT_HOME", str(tmp_path / "empty"))
    monkeypatch.delenv("CALSPOT_DATABASE_URL", raising=False)
    at = open_page("maps")
    assert "calspot ingest PATH" in at.info[0].value
