"""The History page, run headless through Streamlit's AppTest on small homes written through the store's API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.config import load_settings
from core.report import night_report
from core.store import Store
from dashboard.history import METRICS_SHOWN
from tests.analytics_home import (  # noqa: F401 (fixture)
    ARC,
    BIAS,
    BIASES_PER_NIGHT,
    FLAGGED_FILE,
    NIGHTS,
    analytics_home,
    chart_traces,
    make_home,
    open_page,
)
from tests.conftest import FILLED_FLAGGED_FILE

BIAS_GROUP = ("UVES", BIAS, "1x1")
ARC_GROUP = ("UVES", ARC, "580")


def chart_title(at, index: int) -> str:
    return json.loads(at.get("plotly_chart")[index].proto.spec)["layout"]["title"]["text"]


def frames_of(traces) -> list[int]:
    return [i for t in traces if t.get("mode") == "markers" for i in t["customdata"]]


def test_score_and_quality_numbers_over_nights(analytics_home: Path) -> None:
    at = open_page("history")
    assert at.selectbox(key="history_group").value == BIAS_GROUP
    assert f"{BIASES_PER_NIGHT * len(NIGHTS)} frames, {len(NIGHTS)} nights" in at.selectbox(key="history_group").options[0]
    chosen = at.multiselect(key=f"history_metrics:{BIAS_GROUP}")
    # The levels jumped on the flagged frame: they are offered first; the steady noise is not shown at first.
    assert "amp1.level" in chosen.value and "amp1.read_noise" not in chosen.value
    assert "level, amplifier 1 [ADU]" in chosen.options
    charts = at.get("plotly_chart")
    assert len(charts) == 1 + min(METRICS_SHOWN, len(chosen.options))
    score = chart_traces(at, 0)
    assert {"threshold", "flagged, no verdict", "frame"} <= {t.get("name") for t in score}
    assert len(frames_of(score)) == BIASES_PER_NIGHT * len(NIGHTS)
    level = chart_traces(at, 1)
    assert {"reference band", "reference median"} <= {t.get("name") for t in level}
    assert list(at.dataframe(key="history_marked_table").value["file"]) == [FLAGGED_FILE]


def test_choosing_the_quality_numbers(analytics_home: Path) -> None:
    at = open_page("history")
    at.multiselect(key=f"history_metrics:{BIAS_GROUP}").set_value(["amp1.read_noise"]).run()
    assert len(at.get("plotly_chart")) == 2
    assert "read-out noise, amplifier 1" in chart_title(at, 1)
    at.multiselect(key=f"history_metrics:{BIAS_GROUP}").set_value([]).run()
    assert len(at.get("plotly_chart")) == 1


def test_a_type_with_one_frame(analytics_home: Path) -> None:
    at = open_page("history", history_group=ARC_GROUP)
    assert "one frame so far" in at.info[0].value
    assert not at.get("plotly_chart")


def test_a_type_without_flags_or_verdicts(filled_home: Path) -> None:
    at = open_page("history", history_group=("UVES", "UVES_BLUE_FLAT_ext0", "1x1"))
    assert not at.exception
    assert "None: no frame of this type has been flagged or reviewed." in [c.value for c in at.caption]
    at = open_page("history")
    assert list(at.dataframe(key="history_marked_table").value["file"]) == [FILLED_FLAGGED_FILE]


def test_frames_without_quality_numbers_show_their_scores(filled_home: Path) -> None:
    # The filled home's numbers are of another QC version than this calspot's.
    at = open_page("history")
    assert "only their scores" in at.info[0].value
    assert len(at.get("plotly_chart")) == 1


def test_an_empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALSPOT_HOME", str(tmp_path / "empty"))
    monkeypatch.delenv("CALSPOT_DATABASE_URL", raising=False)
    at = open_page("history")
    assert "calspot ingest PATH" in at.info[0].value


def test_a_change_is_certified_from_the_page_drawn_and_rescored(analytics_home: Path) -> None:
    at = open_page("history")
    assert any("None: the reference of this type and mode" in c.value for c in at.caption)
    night = NIGHTS[3]
    at.selectbox(key="history_certify_night").set_value(night)
    at.text_input(key="history_certify_reviewer").input("ana")
    at.text_input(key="history_certify_note").input("new CCD controller")
    next(b for b in at.button if b.label == "Certify and rescore").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(f"new normal from {night} on" in s.value for s in at.success)
    assert any(f"from {night}" in m.value and "ana" in m.value and "new CCD controller" in m.value for m in at.markdown)
    store = Store.open(load_settings(analytics_home))
    [change] = store.certifications(BIAS, "1x1")
    assert (change.night, change.reviewer, change.note) == (night, "ana", "new CCD controller")
    rescored = [r for r in night_report(store, NIGHTS[-1]) if r["image_type"] == BIAS]
    assert rescored and all(r["details"]["reference"]["certified_since"] == night for r in rescored)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert [shape["type"] for shape in spec["layout"]["shapes"]] == ["line"]  # the change, on the score chart


def test_a_certification_needs_a_reviewer(analytics_home: Path) -> None:
    at = open_page("history")
    next(b for b in at.button if b.label == "Certify and rescore").click().run()
    assert "Say who certifies the change" in at.error[0].value
    assert Store.open(load_settings(analytics_home)).certifications() == []
