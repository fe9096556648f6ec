"""The dashboard's night report page, run headless through Streamlit's AppTest."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.config import load_settings
from core.report import night_report
from core.review import uncertainty
from core.store import Store
from tests.conftest import (
    FILLED_EARLIER_NIGHT,
    FILLED_FLAGGED_FILE,
    FILLED_NIGHT,
    FILLED_REASONS,
    FILLED_UNREADABLE_FILE,
)

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
TIMEOUT_S = 30


def run_app() -> AppTest:
    """A fresh session of the dashboard, run once (the home is ``$CALSPOT_HOME``)."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def night_table(at: AppTest):
    return at.dataframe(key="night_table").value


def table_with(at: AppTest, column: str):
    """The first table of the page that has this column (the summary, the deviations, the neighbours)."""
    return next(frame.value for frame in at.dataframe if column in frame.value.columns)


def shown_frame(at: AppTest) -> str:
    return at.selectbox(key="frame").value


def stored_labels(home: Path):
    return Store.open(load_settings(home)).labels()


def test_latest_night_flagged_first_with_reasons(filled_home: Path) -> None:
    at = run_app()
    assert at.title[0].value == "Night report"
    assert at.selectbox(key="night").value == FILLED_NIGHT
    assert metrics(at) == {"Images": "4", "Flagged": "2", "Unreadable files": "1", "Not yet reviewed": "2"}
    table = night_table(at)
    assert list(table["file"][:2]) == [FILLED_FLAGGED_FILE, FILLED_UNREADABLE_FILE]
    assert list(table["flag"]) == ["⚑", "⚑", "", "", ""]
    assert list(table["how far out"][2:]) == sorted(table["how far out"][2:], reverse=True)
    assert table["reasons"][0] == "bias level, amplifier 1: +14.2 ADU (+1 more)"  # the sigma is the bar beside it
    assert table["thumbnail"][0].startswith("data:image/png;base64,")
    assert FILLED_FLAGGED_FILE in at.selectbox(key="frame").value
    shown = markdown(at)
    assert all(reason in shown for reason in FILLED_REASONS)
    assert "random ResNet-50 weights" in at.warning[0].value


def test_detail_panel_shows_deviations_and_neighbours(filled_home: Path) -> None:
    at = run_app()
    deviations, neighbours = table_with(at, "quantity"), table_with(at, "distance")
    assert list(deviations["quantity"]) == ["bias level, amplifier 1 [ADU]", "read-out noise, amplifier 1 [ADU]"]
    assert deviations["z"][0] == pytest.approx(9.8)
    assert list(neighbours["file"]) == ["UVES.2024-03-01T20:00:00.000.fits"]


def test_filters_narrow_the_table(filled_home: Path) -> None:
    at = run_app()
    at.toggle(key="flagged_only").set_value(True).run()
    assert len(night_table(at)) == 2
    at.toggle(key="flagged_only").set_value(False)
    at.multiselect(key="image_types").select("UVES_BLUE_FLAT_ext0").run()
    assert set(night_table(at)["image type"]) == {"UVES_BLUE_FLAT_ext0"}
    at.multiselect(key="image_types").unselect("UVES_BLUE_FLAT_ext0")
    at.text_input(key="search").input("20:11").run()
    assert list(night_table(at)["file"]) == ["UVES.2024-03-02T20:11:00.000.fits"]
    at.text_input(key="search").input("no such frame").run()
    assert not at.exception
    assert "matches the filters" in at.info[0].value


def test_earlier_night_can_be_chosen(filled_home: Path) -> None:
    at = run_app()
    at.selectbox(key="night").select(FILLED_EARLIER_NIGHT).run()
    assert not at.exception
    assert metrics(at) == {"Images": "2", "Flagged": "0", "Unreadable files": "0", "Not yet reviewed": "0"}
    assert len(night_table(at)) == 2


def test_empty_home_explains_how_to_ingest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALSPOT_HOME", str(tmp_path / "empty"))
    monkeypatch.delenv("CALSPOT_DATABASE_URL", raising=False)
    at = run_app()
    message = at.info[0].value
    assert "calspot ingest PATH" in message and "make demo" in message
    assert not at.dataframe


def test_verdict_is_stored_moves_to_the_next_flag_and_survives_a_restart(filled_home: Path) -> None:
    at = run_app()
    at.text_input(key="reviewer").input("Ana")
    at.text_area(key="verdict_note").input("hot column near the amplifier")
    at.button(key="verdict_reject").click().run()
    assert not at.exception
    assert "recorded for Ana" in at.success[0].value and "next flag" in at.success[0].value
    [label] = stored_labels(filled_home)
    assert (label.verdict, label.reviewer, label.note) == ("reject", "Ana", "hot column near the amplifier")
    assert label.model_version and label.score_id is not None
    assert night_table(at)["verdict"][0] == "✗"
    assert metrics(at)["Not yet reviewed"] == "1"
    assert at.text_area(key="verdict_note").value == ""

    assert FILLED_UNREADABLE_FILE in shown_frame(at)  # the panel moved on to the next flag to review
    assert at.session_state["night_table"]["selection"]["rows"] == [1]
    assert at.text_input(key="reviewer").value == "Ana"
    at.button(key="verdict_accept").click().run()
    assert [(lab.verdict, lab.image_id) for lab in stored_labels(filled_home)][-1] == ("accept", None)
    assert FILLED_UNREADABLE_FILE in shown_frame(at)  # nothing left to review: it stays
    assert at.button[0].disabled

    restarted = run_app()
    assert night_table(restarted)["verdict"][0] == "✗"
    restarted.selectbox(key="frame").select_index(0).run()
    assert FILLED_FLAGGED_FILE in shown_frame(restarted)
    assert "rejected by Ana" in markdown(restarted)


def test_summary_per_image_type_and_mode(filled_home: Path) -> None:
    at = run_app()
    summary = table_with(at, "status")
    rows = {r["image type"]: r for r in summary.to_dict("records")}
    assert list(summary["status"][:2]) == ["● flags to review", "● flags to review"]  # what needs a look first
    bias = rows["UVES_BLUE_BIAS_ext0"]
    assert (bias["mode"], bias["frames"], bias["flagged"], bias["reviewed"]) == ("1x1", 2, 1, 0)
    assert bias["threshold"] == "3.0"
    assert rows["UVES_BLUE_FLAT_ext0"]["status"] == "● nothing flagged"
    assert rows["unreadable file"]["frames"] == 1
    at.text_input(key="reviewer").input("Ana")
    at.button(key="verdict_reject").click().run()
    rows = {r["image type"]: r for r in table_with(at, "status").to_dict("records")}
    assert (rows["UVES_BLUE_BIAS_ext0"]["status"], rows["UVES_BLUE_BIAS_ext0"]["reviewed"]) == ("● frames rejected", 1)


def test_the_score_is_shown_bounded_and_in_words(filled_home: Path) -> None:
    at = run_app()
    table = night_table(at)
    level = math.log2(1 + 7.5 / 3.0)  # a score of 7.5 against a threshold of 3
    assert table["how far out"][0] == pytest.approx(100 * level / (1 + level))
    assert all(0 <= v < 100 for v in table["how far out"].dropna())
    shown = markdown(at)
    assert "score 7.5 sigma (threshold 3.0): well past threshold (2.5 times)" in shown
    assert "threshold 3.0" in shown


def test_verdict_without_reviewer_is_refused(filled_home: Path) -> None:
    at = run_app()
    at.button(key="verdict_accept").click().run()
    assert not at.exception
    assert "reviewer's name" in at.error[0].value
    assert stored_labels(filled_home) == []
    assert night_table(at)["verdict"][0] == ""


def test_next_flag_steps_through_the_flags_to_review(filled_home: Path) -> None:
    at = run_app()
    assert FILLED_FLAGGED_FILE in shown_frame(at)
    at.button[0].click().run()
    assert FILLED_UNREADABLE_FILE in at.selectbox(key="frame").value
    assert "unreadable: truncated" in markdown(at)
    at.button[0].click().run()
    assert FILLED_FLAGGED_FILE in at.selectbox(key="frame").value


def test_the_learning_order_shows_the_most_uncertain_frame_first(filled_home: Path) -> None:
    at = run_app()
    at.segmented_control(key="review_order").set_value("most to learn").run()
    assert not at.exception, [e.value for e in at.exception]
    rows = [r for r in night_report(Store.open(load_settings(filled_home)), FILLED_NIGHT) if r["score"] is not None]
    nearest = max(rows, key=lambda r: uncertainty(r["score"], r["threshold"]))
    table = night_table(at)
    assert table["file"][0] == Path(nearest["path"]).name
    assert table["file"].iloc[-1] == FILLED_UNREADABLE_FILE  # nothing to learn from a file that cannot be read
    assert Path(nearest["path"]).name in shown_frame(at)
    assert any(b.label == "Next to review" for b in at.button)
