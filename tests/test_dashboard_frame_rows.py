"""Frame rows turned into hover texts, colourings and the tables of the analytics pages."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.store.records import ImageRow
from dashboard import frame_rows


def row(
    image_id: int,
    *,
    night: str = "2024-05-04",
    score: float | None = 2.0,
    flagged: bool | None = False,
    verdict: str | None = None,
    image_type: str = "UVES_BLUE_BIAS_ext0",
    reasons=(),
) -> ImageRow:
    return ImageRow(
        image_id=image_id,
        file_id=image_id,
        path=f"/raw/{night}/UVES.{image_id}_a*b.fits",
        ext=1,
        night=night,
        date_obs=None,
        instrument="UVES",
        arm="BLUE",
        image_type=image_type,
        mode="1x1",
        category="bias",
        header_type="BIAS",
        shape=(16, 16),
        score=score,
        threshold=None if score is None else 6.0,
        flagged=flagged,
        verdict=verdict,
        reasons=list(reasons),
        model_version="test",
    )


def test_hover_names_the_frame_its_score_and_first_reason() -> None:
    text = frame_rows.hover_text(
        row(3, score=9.5, flagged=True, verdict="reject", reasons=["level jumped", "noise"]), "cluster 2: UVES_BLUE_BIAS_ext0"
    )
    lines = text.split("\n")
    assert lines[0] == "UVES.3_a*b.fits ext 1"
    assert lines[1] == "UVES_BLUE_BIAS_ext0 · mode 1x1 · night 2024-05-04"
    assert lines[2] == "score 9.50 (threshold 6.00) · flagged · rejected"
    assert lines[3] == "cluster 2: UVES_BLUE_BIAS_ext0"
    assert lines[4] == "level jumped (+1 more)"
    assert "not scored" in frame_rows.hover_text(row(4, score=None, flagged=None))


@pytest.mark.parametrize("by", frame_rows.MAP_COLOURINGS)
def test_every_colouring_gives_one_colour_per_frame(by: str) -> None:
    rows = [row(1), row(2, flagged=True, verdict="accept", night="2024-05-01"), row(3, score=None, flagged=None)]
    colouring = frame_rows.colouring(rows, by, {1: "cluster 1: bias"})
    assert len(colouring.values if colouring.continuous else colouring.labels) == 3


def test_colourings_say_flag_verdict_and_cluster_in_words() -> None:
    rows = [row(1), row(2, flagged=True, verdict="reject"), row(3, score=None, flagged=None)]
    assert frame_rows.colouring(rows, "flag").labels == ("not flagged", "flagged", "not scored")
    assert frame_rows.colouring(rows, "verdict").labels == ("no verdict", "rejected", "no verdict")
    assert frame_rows.colouring(rows, "cluster", {1: "cluster 1: bias"}).labels[1] == "not clustered"
    score = frame_rows.colouring(rows, "score")
    assert score.values[0] == pytest.approx(2.0 / 6.0) and np.isnan(score.values[2])
    with pytest.raises(ValueError, match="cannot colour"):
        frame_rows.colouring(rows, "exposure")


def test_frames_table_lists_pictures_flags_and_verdicts() -> None:
    rows = [row(1), row(2, flagged=True, verdict="reject", reasons=["a", "b", "c"])]
    table = frame_rows.frames_table(rows, {2: b"\x89PNG"})
    assert list(table.columns) == frame_rows.FRAME_COLUMNS
    assert pd.isna(table["thumbnail"][0]) and table["thumbnail"][1].startswith("data:image/png;base64,")
    assert list(table["flag"]) == ["", "⚑"] and list(table["verdict"]) == ["", "rejected"]
    assert table["reasons"][1] == "a; b (+1 more)"


def test_clusters_table_counts_members() -> None:
    rows = [row(i, flagged=i == 2, verdict="reject" if i == 3 else None, night=f"2024-05-0{i}") for i in range(1, 5)]
    table = frame_rows.clusters_table(rows, [2, 1, 1, 2], [False, False, True, True])
    assert list(table["cluster"]) == [1, 2]
    assert list(table["frames"]) == [2, 2] and list(table["this night"]) == [1, 1]
    assert list(table["flagged"]) == [1, 0] and list(table["rejected"]) == [1, 0]
    assert (table["first night"][1], table["last night"][1]) == ("2024-05-01", "2024-05-04")
    assert table["members"][0] == "UVES.2_a*b.fits ext 1, UVES.3_a*b.fits ext 1"


def test_type_counts_and_cluster_names() -> None:
    rows = [row(1), row(2), row(3, image_type="UVES_BLUE_FLAT_ext0")]
    assert frame_rows.type_counts(rows) == "2 UVES_BLUE_BIAS_ext0, 1 UVES_BLUE_FLAT_ext0"
    assert frame_rows.cluster_names([5, 6], [1, 2], {1: "bias"}) == {5: "cluster 1: bias", 6: "cluster 2"}
