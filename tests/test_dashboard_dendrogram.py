"""The Dendrogram page, run headless through Streamlit's AppTest on small homes written through the store's API."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import load_settings
from core.store import Store
from tests.analytics_home import (  # noqa: F401 (fixture)
    ARC,
    BIAS,
    BIASES_PER_NIGHT,
    FLAGGED_FILE,
    LAST_NIGHT,
    NIGHTS,
    QUIET_NIGHT,
    analytics_home,
    chart_traces,
    make_home,
    open_page,
)

BIAS_GROUP = ("UVES", BIAS, "1x1")
ARC_GROUP = ("UVES", ARC, "580")
BIAS_LEAVES = BIASES_PER_NIGHT * len(NIGHTS)


def leaves(at) -> list[int]:
    return [i for t in chart_traces(at) if t["mode"] == "markers" for i in t["customdata"]]


def test_tonight_among_its_history_with_clusters(analytics_home: Path) -> None:
    at = open_page("dendrogram")
    assert at.selectbox(key="tree_group").value == BIAS_GROUP
    traces = chart_traces(at)
    links = [t for t in traces if t["name"] == "links"]
    assert len(links) == 1 and sum(x != x for x in links[0]["x"]) == BIAS_LEAVES - 1  # NaN gaps
    assert len(leaves(at)) == BIAS_LEAVES
    assert {t["name"] for t in traces if t["mode"] == "markers"} >= {"flagged (this night)", "not flagged"}
    clusters = at.dataframe[0].value
    assert clusters["frames"].sum() == BIAS_LEAVES
    # The flagged bias, turned away from the others, is a cluster of its own, listed first.
    assert at.selectbox(key="tree_cluster").value in set(clusters["cluster"][clusters["flagged"] == 1])
    members = at.dataframe(key="tree_members_table").value
    assert list(members["file"]) == [FLAGGED_FILE]
    assert f"{BIASES_PER_NIGHT} of {LAST_NIGHT}" in at.caption[0].value


def test_the_cut_sets_the_clusters(analytics_home: Path) -> None:
    at = open_page("dendrogram")
    cut = at.slider[0]
    cut.set_value(cut.min).run()
    assert len(at.dataframe[0].value) == BIAS_LEAVES
    at.slider[0].set_value(at.slider[0].max).run()
    assert len(at.dataframe[0].value) == 1


@pytest.mark.parametrize("colour", ["verdict", "night"])
def test_leaves_coloured_by_verdict_or_night(analytics_home: Path, colour: str) -> None:
    at = open_page("dendrogram", tree_colour=colour)
    assert len(leaves(at)) == BIAS_LEAVES


def test_a_cluster_is_rejected_together(analytics_home: Path) -> None:
    at = open_page("dendrogram")
    at.text_input(key="tree_verdict_reviewer").input("Ben")
    at.button(key="tree_verdict_reject").click().run()
    assert not at.exception, [e.value for e in at.exception]
    [label] = Store.open(load_settings(analytics_home)).labels()
    assert (label.verdict, label.reviewer) == ("reject", "Ben")
    assert at.dataframe(key="tree_members_table").value["verdict"][0] == "rejected"


def test_a_smaller_history_sample(analytics_home: Path) -> None:
    at = open_page("dendrogram", tree_history=0)
    assert len(leaves(at)) == BIASES_PER_NIGHT


def test_a_night_without_flags(analytics_home: Path) -> None:
    at = open_page("dendrogram", night=QUIET_NIGHT)
    names = {t["name"] for t in chart_traces(at) if t["mode"] == "markers"}
    assert names == {"not flagged", "not flagged (this night)"}


def test_a_type_with_one_frame(analytics_home: Path) -> None:
    at = open_page("dendrogram", tree_group=ARC_GROUP)
    assert "only one frame" in at.info[0].value
    assert not at.get("plotly_chart")


def test_a_night_without_descriptors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_home(tmp_path, monkeypatch, described=False)
    at = open_page("dendrogram")
    assert "descriptor" in at.info[0].value and "calspot ingest" in at.info[0].value


def test_an_empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALSPOT_HOME", str(tmp_path / "empty"))
    monkeypatch.delenv("CALSPOT_DATABASE_URL", raising=False)
    at = open_page("dendrogram")
    assert "calspot ingest PATH" in at.info[0].value
