"""The figures of the Maps, Dendrogram and History pages, built from arrays without a browser."""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime, timedelta

import numpy as np
import plotly.graph_objects as go
import pytest
from scipy.cluster import hierarchy

from core.cluster import dendrogram_data, descriptor_linkage
from dashboard import figures


def points(n: int, seed: int = 0):
    generator = np.random.default_rng(seed)
    coordinates = generator.standard_normal((n, 2))
    ids = np.arange(1000, 1000 + n)
    tonight = np.zeros(n, bool)
    tonight[-5:] = True
    return coordinates, ids, tonight


def test_map_is_webgl_with_image_ids_and_tonight_on_top() -> None:
    coordinates, ids, tonight = points(40)
    types = ["bias" if i % 2 else "flat" for i in range(40)]
    hover = [f"frame <{i}> & co" for i in range(40)]
    figure = figures.map_figure(coordinates, ids, tonight, hover, figures.categories("image type", types), method="umap")
    assert all(isinstance(trace, go.Scattergl) for trace in figure.data)
    assert sorted(np.concatenate([trace.customdata for trace in figure.data]).tolist()) == ids.tolist()
    names = [trace.name for trace in figure.data]
    assert names == ["bias", "flat", "bias (this night)", "flat (this night)"]
    history, night = figure.data[0], figure.data[2]
    assert night.marker.size > history.marker.size and night.marker.line.width > 0
    assert set(night.customdata) <= set(ids[tonight]) and not set(history.customdata) & set(ids[tonight])
    # A category present in both parts is listed once in the legend; toggling it hides both.
    assert [trace.showlegend for trace in figure.data] == [True, True, False, False]
    assert night.legendgroup == history.legendgroup == "bias"
    # Hover text is text, not HTML.
    assert "frame &lt;1&gt; &amp; co" in list(history.hovertext) + list(figure.data[1].hovertext)
    assert figure.layout.dragmode == "pan"  # a click then picks a frame; the box is in the modebar
    assert figure.layout.xaxis.title.text == "UMAP 1"


def test_map_coordinates_follow_their_ids() -> None:
    coordinates, ids, tonight = points(30)
    figure = figures.map_figure(coordinates, ids, tonight, [""] * 30, figures.categories("t", ["a"] * 30), method="pca")
    for trace in figure.data:
        for frame_id, x, y in zip(trace.customdata, trace.x, trace.y, strict=True):
            assert (x, y) == tuple(coordinates[frame_id - 1000])


def test_map_by_score_shares_one_colour_bar_and_greys_the_unscored() -> None:
    coordinates, ids, tonight = points(20)
    scores = [None if i == 3 else float(i) for i in range(20)]
    colouring = figures.score_numbers("score / threshold", scores, [6.0] * 20)
    figure = figures.map_figure(coordinates, ids, tonight, [""] * 20, colouring, method="tsne")
    names = [trace.name for trace in figure.data]
    assert names == ["not scored", "history", "this night"]
    assert figure.data[1].marker.coloraxis == figure.data[2].marker.coloraxis == "coloraxis"
    assert figure.layout.coloraxis.cmin == 0.0 and figure.layout.coloraxis.cmax == 3.0
    assert max(figure.data[2].marker.color) == pytest.approx(3.0)  # 19 / 6 capped at three thresholds
    assert figure.data[0].customdata.tolist() == [1003]


def test_map_by_night_names_nights_on_the_colour_bar() -> None:
    coordinates, ids, tonight = points(12)
    nights = [f"2024-03-{1 + i // 4:02d}" for i in range(12)]
    figure = figures.map_figure(coordinates, ids, tonight, [""] * 12, figures.night_numbers("night", nights), method="pca")
    assert list(figure.layout.coloraxis.colorbar.ticktext) == ["2024-03-01", "2024-03-02", "2024-03-03"]
    assert figure.layout.coloraxis.cmax - figure.layout.coloraxis.cmin == 2


def tree(n: int, seed: int = 0):
    generator = np.random.default_rng(seed)
    centres = np.eye(8)[generator.integers(0, 4, n)]
    descriptors = centres + 0.1 * generator.standard_normal((n, 8))
    linkage = descriptor_linkage(descriptors)
    return linkage, dendrogram_data(linkage)


def test_dendrogram_links_are_one_trace_whatever_the_leaves() -> None:
    _, data = tree(60)
    ids = np.arange(500, 560)[data.leaves]
    flags = figures.categories("flag", ["flagged" if i % 7 == 0 else "not flagged" for i in range(60)])
    figure = figures.dendrogram_figure(
        data.icoord, data.dcoord, ids, [""] * 60, np.arange(60) < 6, flags, cut_height=0.5, leaf_clusters=np.ones(60, int)
    )
    links = [trace for trace in figure.data if trace.name == "links"]
    assert len(links) == 1 and links[0] is figure.data[0]
    assert np.isnan(links[0].x).sum() == 59  # one gap after each of the n - 1 links
    leaves = [trace for trace in figure.data if trace.mode == "markers"]
    assert sorted(np.concatenate([t.customdata for t in leaves]).tolist()) == list(range(500, 560))
    # Leaves sit where scipy put them: leaf i at x = 10 i + 5.
    for trace in leaves:
        for frame_id, x in zip(trace.customdata, trace.x, strict=True):
            assert x == 10 * list(ids).index(frame_id) + 5
    # The cut is the only shape; the one cluster is one band under all the leaves.
    assert len(figure.layout.shapes) == 1 and figure.layout.shapes[0].y0 == 0.5
    [band] = [trace for trace in figure.data if trace.name == "clusters"]
    assert band.x[:2].tolist() == [1.0, 599.0] and np.isnan(band.x[2])


def test_clusters_are_shaded_in_turn_and_numbered() -> None:
    _, data = tree(12)
    clusters = [1, 1, 2, 2, 2, 3, 4, 4, 4, 4, 5, 5]
    figure = figures.dendrogram_figure(
        data.icoord,
        data.dcoord,
        np.arange(12),
        [""] * 12,
        np.zeros(12, bool),
        figures.categories("flag", ["not flagged"] * 12),
        leaf_clusters=clusters,
    )
    odd, even = [trace for trace in figure.data if trace.name == "clusters"]
    assert odd.x[:2].tolist() == [1.0, 19.0] and len(odd.x) == 9 and len(even.x) == 6
    assert odd.line.color != even.line.color
    [numbers] = [trace for trace in figure.data if trace.name == "cluster numbers"]
    assert sorted(numbers.text) == ["1", "2", "3", "4", "5"]
    assert not figure.layout.shapes  # no cut asked for


def test_dendrogram_of_five_hundred_leaves_is_quick() -> None:
    linkage, data = tree(500, seed=1)
    leaf_clusters = hierarchy.fcluster(linkage, 0.5, criterion="distance")[data.leaves]
    start = time.perf_counter()
    figure = figures.dendrogram_figure(
        data.icoord,
        data.dcoord,
        np.arange(500)[data.leaves],
        ["x"] * 500,
        np.zeros(500, bool),
        figures.night_numbers("night", ["2024-01-01"] * 500),
        cut_height=0.5,
        leaf_clusters=leaf_clusters,
    )
    figure.to_json()
    assert time.perf_counter() - start < 1.0
    # The links, the leaves coloured by one scale, two shades of cluster bands and their numbers.
    assert [trace.name for trace in figure.data] == ["links", "history", "clusters", "clusters", "cluster numbers"]


def test_cluster_spans_are_runs_of_leaves() -> None:
    assert figures.cluster_spans([1, 1, 2, 3, 3, 3]) == [(1, 0, 1), (2, 2, 2), (3, 3, 5)]
    assert figures.cluster_spans([]) == []


def series(values, status=None, **band) -> figures.Series:
    n = len(values)
    start = datetime(2024, 1, 1, 20)
    return figures.Series(
        title="level, amplifier 1",
        unit="ADU",
        times=[start + timedelta(days=i) for i in range(n)],
        values=np.asarray(values, float),
        image_ids=list(range(1, n + 1)),
        hover=["<b>"] * n,
        status=status or ["usable"] * n,
        band_times=[start + timedelta(days=i, hours=-8) for i in range(n)],
        **band,
    )


def test_history_draws_the_band_and_marks_flags_and_verdicts() -> None:
    values = [170.0, 170.5, 169.8, 190.0, 170.2]
    status = ["usable", "accepted", "usable", "rejected", "flagged"]
    band = np.array([np.nan, 170.0, 170.2, 170.1, 170.1])
    figure = figures.history_figure(series(values, status, band_low=band - 1, band_median=band, band_high=band + 1))
    names = [trace.name for trace in figure.data]
    assert "reference band" in names and "reference median" in names
    assert {"frame", "accepted", "rejected", "flagged, no verdict"} <= set(names)
    frames = [t for t in figure.data if t.mode == "markers"]
    assert all(isinstance(t, go.Scatter) for t in frames)  # five frames: SVG, no WebGL context
    assert sorted(np.concatenate([t.customdata for t in frames]).tolist()) == [1, 2, 3, 4, 5]
    rejected = next(t for t in frames if t.name == "rejected")
    assert rejected.customdata.tolist() == [4] and rejected.y[0] == 190.0
    assert "&lt;b&gt;" in rejected.hovertext[0]
    assert "level, amplifier 1 [ADU]" in figure.layout.title.text


def test_a_band_with_a_gap_is_two_areas_and_none_spans_the_gap() -> None:
    band = np.array([np.nan, 170.0, 170.2, np.nan, np.nan, 180.0, 180.1])
    figure = figures.history_figure(series([170.0] * 3 + [180.0] * 4, band_low=band - 1, band_median=band, band_high=band + 1))
    areas = [t for t in figure.data if t.fill == "tonexty"]
    assert len(areas) == 2 and [t.showlegend for t in areas] == [True, False]
    nights = series([0.0] * 7).band_times
    assert [len(t.x) for t in areas] == [3, 3]
    assert areas[0].x[-1] == np.datetime64(nights[3]) and areas[1].x[0] == np.datetime64(nights[5])
    assert all(np.isfinite(t.y).all() for t in areas)


def test_a_certified_change_is_a_vertical_line() -> None:
    start = datetime(2024, 1, 3, 12)
    figure = figures.history_figure(dataclasses.replace(series([170.0] * 5), certified=[start]))
    [line] = figure.layout.shapes
    assert line.type == "line" and line.x0 == line.x1 == start
    assert figure.layout.annotations[0].text == "new normal"


def test_history_of_many_frames_is_drawn_with_webgl() -> None:
    count = figures.WEBGL_FROM + 1
    figure = figures.history_figure(series([170.0 + 0.01 * (i % 7) for i in range(count)], ["usable"] * count))
    frames = [t for t in figure.data if t.mode == "markers"]
    assert frames and all(isinstance(t, go.Scattergl) for t in frames)
    assert sum(len(t.customdata) for t in frames) == count


def test_history_keeps_a_wild_value_from_flattening_the_rest() -> None:
    values = [1.0 + 0.05 * i for i in range(30)] + [44245.7]
    figure = figures.history_figure(series(values, threshold=np.full(31, 6.0), floor=0.0))
    low, high = figure.layout.yaxis.range
    assert 9.0 <= high < 10.0 and low >= -1.0  # the threshold, room above it and the typical scores stay readable
    [wild] = [t for t in figure.data if t.name == "frame" and t.marker.symbol == "triangle-up"]
    assert wild.customdata.tolist() == [31] and not wild.showlegend and wild.legendgroup == "usable"
    assert high - 0.05 * (high - low) < wild.y[0] < high
    threshold = next(t for t in figure.data if t.name == "threshold")
    assert threshold.line.shape == "hv" and len(threshold.x) == 32  # a step per night, the last held a day


def test_display_range_and_clipping() -> None:
    assert figures.display_range(np.array([np.nan])) is None
    low, high = figures.display_range(np.array([5.0, 5.0]))
    assert low < 5.0 < high
    shown, side = figures.clipped(np.array([-10.0, 0.5, 10.0]), 0.0, 1.0)
    assert shown.tolist() == [0.0, 0.5, 1.0] and side.tolist() == [-1, 0, 1]


def test_a_jump_stays_in_view() -> None:
    low, high = figures.display_range(np.array([170.0, 170.5, 169.8, 190.0, 170.2]), np.array([169.0, 171.0]))
    assert low < 169.0 and high > 190.0
