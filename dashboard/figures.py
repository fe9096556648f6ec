"""Plotly figures of the Maps, Dendrogram and History pages, built from arrays that core computed.

Every point that stands for a frame carries its image id as ``customdata``, so that a
selection or a click names frames (:mod:`dashboard.selection`). Points that can number
in the thousands are drawn with WebGL (``Scattergl``) on the maps, and on a History chart
once it holds more than :data:`WEBGL_FROM` frames (below that SVG draws sooner, and a page of
several charts does not open a WebGL context each); the dendrogram's links are one
SVG trace whatever the number of leaves (segments joined with ``None`` gaps), because
plotly's own dendrogram draws one trace per link and takes minutes at a few thousand
leaves. Hover texts are escaped: headers, reasons and file names are text, not HTML.
Nothing here imports Streamlit.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative

HISTORY_MARKER = 5
TONIGHT_MARKER = 11
LEAF_MARKER = 7
TONIGHT_OUTLINE = "#f5f7fa"
MISSING_COLOUR = "#6b7682"
CATEGORY_COLOURS = qualitative.Plotly + qualitative.Dark24
CONTINUOUS_SCALE = "Viridis"
SCORE_SCALE = [[0.0, "#2c7bb6"], [0.33, "#abd9e9"], [0.34, "#fdae61"], [1.0, "#d7191c"]]
BAND_FILL = "rgba(120, 160, 200, 0.22)"
MEDIAN_COLOUR = "#7fa7cf"
THRESHOLD_COLOUR = "#e45756"
CERTIFIED_COLOUR = "#b07aa1"
LINK_COLOUR = "#9aa5b1"
CLUSTER_SHADES = ("rgba(217, 164, 65, 0.55)", "rgba(120, 160, 200, 0.55)")
MAX_CLUSTER_BANDS = 300
CLUSTER_BAND_PX = 9
MAX_CLUSTER_LABELS = 40
LEAF_SPACING = 10.0  # scipy puts leaf i at x = 10 i + 5
WILD_SPREAD = 10.0
MAX_SQUEEZE = 20.0
EDGE_INSET = 0.03
THRESHOLD_HEADROOM = 1.5
MAD_TO_SIGMA = 1.4826
DISPLAY_PADDING = 0.06
WEBGL_FROM = 5000
TONIGHT_SUFFIX = " (this night)"


@dataclass(frozen=True)
class Colouring:
    """What the points are coloured by: one category or one number per point.

    Build it with :func:`categories` or :func:`numbers`.

    Attributes
    ----------
    title
        Says what the colour means (legend or colour bar title).
    labels
        Category of each point (categorical colouring), else empty.
    values
        Number of each point, NaN where it has none (continuous colouring), else None.
    colours
        Fixed colours of known categories, in the order the legend lists them.
    value_range
        ``(low, high)`` of the colour scale; None spans the values.
    ticks
        Colour-bar ticks ``(values, texts)``, e.g. nights named by their dates.
    scale
        A plotly colour scale.
    missing
        What a point without a number is called in the legend.
    """

    title: str
    labels: tuple[str, ...] = ()
    values: np.ndarray | None = None
    colours: Mapping[str, str] = field(default_factory=dict)
    value_range: tuple[float, float] | None = None
    ticks: tuple[Sequence[float], Sequence[str]] | None = None
    scale: str | list = CONTINUOUS_SCALE
    missing: str = "none"

    @property
    def continuous(self) -> bool:
        return self.values is not None


def categories(title: str, labels: Sequence[str], colours: Mapping[str, str] | None = None) -> Colouring:
    """A colouring by category (image type, flag, verdict, cluster); unknown categories get palette colours."""
    return Colouring(title=title, labels=tuple(labels), colours=dict(colours or {}))


def numbers(
    title: str,
    values: Sequence[float | None],
    *,
    value_range: tuple[float, float] | None = None,
    ticks: tuple[Sequence[float], Sequence[str]] | None = None,
    scale: str | list = CONTINUOUS_SCALE,
    missing: str = "none",
) -> Colouring:
    """A colouring by number (score, night); None becomes NaN and is drawn grey under ``missing``."""
    array = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    return Colouring(title=title, values=array, value_range=value_range, ticks=ticks, scale=scale, missing=missing)


def night_numbers(title: str, nights: Sequence[str], max_ticks: int = 6) -> Colouring:
    """A colouring by night: days since the first night, the colour bar naming a few nights by date."""
    days = np.array([_day(n) for n in nights], dtype=np.float64)
    distinct = sorted(set(nights))
    shown = distinct if len(distinct) <= max_ticks else [distinct[round(i)] for i in np.linspace(0, len(distinct) - 1, max_ticks)]
    return Colouring(title=title, values=days, ticks=([_day(n) for n in shown], shown))


def score_numbers(title: str, scores: Sequence[float | None], thresholds: Sequence[float | None], ceiling: float = 3.0) -> Colouring:
    """A colouring by score over threshold, capped at ``ceiling``: blue below 1 (the threshold), red above."""
    ratios = [
        None if s is None or t is None or not t > 0 else min(float(s) / float(t), ceiling) for s, t in zip(scores, thresholds, strict=True)
    ]
    return numbers(title, ratios, value_range=(0.0, ceiling), scale=SCORE_SCALE, missing="not scored")


def _day(night: str) -> float:
    return float((datetime.fromisoformat(night) - datetime(1970, 1, 1)).days)


def _category_order(colouring: Colouring) -> list[str]:
    present = set(colouring.labels)
    return [c for c in colouring.colours if c in present] + sorted(present - set(colouring.colours))


def _category_colours(colouring: Colouring) -> dict[str, str]:
    colours = dict(colouring.colours)
    free = iter(c for c in CATEGORY_COLOURS * 8 if c not in colours.values())
    for category in _category_order(colouring):
        colours.setdefault(category, next(free))
    return colours


def escaped(texts: Sequence[str]) -> list[str]:
    """Hover texts safe from HTML: ``<`` and ``&`` shown as themselves, newlines as line breaks."""
    return [html.escape(t).replace("\n", "<br>") for t in texts]


def _points(
    trace, x: np.ndarray, y: np.ndarray, ids: np.ndarray, hover: np.ndarray, index: np.ndarray, **style
) -> go.Scattergl | go.Scatter:
    return trace(
        x=x[index],
        y=y[index],
        customdata=ids[index],
        hovertext=hover[index],
        hovertemplate="%{hovertext}<extra></extra>",
        mode="markers",
        **style,
    )


def _marker(size: float, tonight: bool, **style) -> dict:
    marker = {"size": size, **style}
    if tonight:
        marker["line"] = {"width": 1.5, "color": TONIGHT_OUTLINE}
    else:
        marker["opacity"] = 0.75
    return marker


def _coloured_traces(
    trace,
    x: np.ndarray,
    y: np.ndarray,
    ids: np.ndarray,
    hover: np.ndarray,
    tonight: np.ndarray,
    colouring: Colouring,
    sizes: tuple[float, float],
) -> list:
    """Point traces, those of the history first so that this night's frames are drawn on top."""
    traces = []
    if colouring.continuous:
        values = colouring.values
        known = np.isfinite(values)
        for this_night in (False, True):
            part = tonight == this_night
            suffix = TONIGHT_SUFFIX if this_night else ""
            size = sizes[this_night]
            if (part & ~known).any():
                traces.append(
                    _points(
                        trace,
                        x,
                        y,
                        ids,
                        hover,
                        part & ~known,
                        name=colouring.missing + suffix,
                        marker=_marker(size, this_night, color=MISSING_COLOUR),
                        legendgroup="missing",
                    )
                )
            if (part & known).any():
                marker = _marker(size, this_night, color=values[part & known], coloraxis="coloraxis")
                traces.append(
                    _points(
                        trace,
                        x,
                        y,
                        ids,
                        hover,
                        part & known,
                        name=("this night" if this_night else "history"),
                        marker=marker,
                        legendgroup="tonight" if this_night else "history",
                    )
                )
        return traces
    labels = np.array(colouring.labels, dtype=object)
    colours = _category_colours(colouring)
    for this_night in (False, True):
        for category in _category_order(colouring):
            part = (labels == category) & (tonight == this_night)
            if not part.any():
                continue
            in_history = bool(((labels == category) & ~tonight).any())
            traces.append(
                _points(
                    trace,
                    x,
                    y,
                    ids,
                    hover,
                    part,
                    name=category + (TONIGHT_SUFFIX if this_night else ""),
                    legendgroup=category,
                    showlegend=not this_night or not in_history,
                    marker=_marker(sizes[this_night], this_night, color=colours[category]),
                )
            )
    return traces


def _colour_axis(colouring: Colouring) -> dict:
    if not colouring.continuous:
        return {}
    bar = {"title": {"text": colouring.title, "side": "right"}, "thickness": 14}
    if colouring.ticks is not None:
        bar.update(tickvals=list(colouring.ticks[0]), ticktext=list(colouring.ticks[1]))
    axis = {"colorscale": colouring.scale, "colorbar": bar}
    finite = colouring.values[np.isfinite(colouring.values)]
    low, high = colouring.value_range or ((float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0))
    axis.update(cmin=low, cmax=high if high > low else low + 1.0)
    return {"coloraxis": axis}


def map_figure(
    coordinates: np.ndarray,
    image_ids: Sequence[int],
    tonight: Sequence[bool],
    hover: Sequence[str],
    colouring: Colouring,
    *,
    method: str,
    height: int = 640,
) -> go.Figure:
    """A map of frames (UMAP, t-SNE or PCA coordinates) with this night's frames over the history.

    Parameters
    ----------
    coordinates
        ``(n, 2)`` map coordinates.
    image_ids
        Image id of each point (``customdata``, for selections and clicks).
    tonight
        Whether each point is one of this night's frames: drawn larger, outlined, last.
    hover
        Text naming each frame (plain text; escaped here).
    colouring
        What the colour says (:func:`categories`, :func:`numbers`, ...).
    method
        Names the axes (``UMAP 1``, ``PCA 2`` ...).
    height
        Pixels.

    Returns
    -------
    plotly.graph_objects.Figure
        WebGL traces only. Dragging pans and the wheel zooms, so that a click picks one frame
        (Streamlit turns clicks off while the box or lasso of the modebar is chosen).
    """
    xy = np.asarray(coordinates, dtype=np.float64).reshape(-1, 2)
    ids = np.asarray(image_ids, dtype=np.int64)
    mask = np.asarray(tonight, dtype=bool)
    texts = np.array(escaped(hover), dtype=object)
    traces = _coloured_traces(go.Scattergl, xy[:, 0], xy[:, 1], ids, texts, mask, colouring, (HISTORY_MARKER, TONIGHT_MARKER))
    figure = go.Figure(traces)
    name = method.upper() if method.lower() == "pca" else {"umap": "UMAP", "tsne": "t-SNE"}.get(method.lower(), method)
    figure.update_layout(
        height=height,
        dragmode="pan",
        hovermode="closest",
        uirevision=method,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"title": {"text": colouring.title if not colouring.continuous else "frames"}, "itemsizing": "constant"},
        xaxis={"title": f"{name} 1", "showticklabels": False, "zeroline": False},
        yaxis={"title": f"{name} 2", "showticklabels": False, "zeroline": False},
        **_colour_axis(colouring),
    )
    return figure


def link_segments(icoord: np.ndarray, dcoord: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The x and y of a dendrogram's links as one line: each link's four corners, then a gap (NaN)."""
    gap = np.full((len(icoord), 1), np.nan)
    xs = np.hstack([np.asarray(icoord, dtype=np.float64).reshape(-1, 4), gap]).ravel()
    ys = np.hstack([np.asarray(dcoord, dtype=np.float64).reshape(-1, 4), gap]).ravel()
    return xs, ys


def cluster_spans(leaf_clusters: Sequence[int]) -> list[tuple[int, int, int]]:
    """Runs of equal cluster number along the leaves: ``(cluster, first leaf, last leaf)``."""
    spans = []
    start = 0
    for i in range(1, len(leaf_clusters) + 1):
        if i == len(leaf_clusters) or leaf_clusters[i] != leaf_clusters[start]:
            spans.append((int(leaf_clusters[start]), start, i - 1))
            start = i
    return spans


def dendrogram_figure(
    icoord: np.ndarray,
    dcoord: np.ndarray,
    leaf_ids: Sequence[int],
    leaf_hover: Sequence[str],
    leaf_tonight: Sequence[bool],
    colouring: Colouring,
    *,
    cut_height: float | None = None,
    leaf_clusters: Sequence[int] = (),
    height: int = 560,
) -> go.Figure:
    """A dendrogram: the links as one trace, the leaves as markers, the cut as a line, clusters as bands.

    Parameters
    ----------
    icoord, dcoord
        scipy's link coordinates (:class:`core.cluster.DendrogramData`).
    leaf_ids, leaf_hover, leaf_tonight
        Image id, hover text and "this night" of each leaf, in leaf order (left to right).
    colouring
        Colour of the leaves, in leaf order.
    cut_height
        Height of the cut, drawn as a dashed line; None draws none.
    leaf_clusters
        Cluster number of each leaf (leaf order) at the cut, drawn as bands under the leaves.
    height
        Pixels.

    Returns
    -------
    plotly.graph_objects.Figure
        The first trace holds every link; the leaves follow (SVG markers, one per leaf), then
        the cluster bands.
    """
    ids = np.asarray(leaf_ids, dtype=np.int64)
    n = len(ids)
    x = np.arange(n) * LEAF_SPACING + LEAF_SPACING / 2
    top = float(np.max(dcoord)) if np.size(dcoord) else 1.0
    top = top if top > 0 else 1.0
    xs, ys = link_segments(icoord, dcoord)
    links = go.Scatter(x=xs, y=ys, mode="lines", line={"color": LINK_COLOUR, "width": 1}, hoverinfo="skip", name="links", showlegend=False)
    texts = np.array(escaped(leaf_hover), dtype=object)
    leaves = _coloured_traces(
        go.Scatter, x, np.zeros(n), ids, texts, np.asarray(leaf_tonight, dtype=bool), colouring, (LEAF_MARKER, LEAF_MARKER + 4)
    )
    band = 0.05 * top
    figure = go.Figure([links, *leaves, *_cluster_bands(leaf_clusters, band)])
    shapes = []
    if cut_height is not None:
        shapes.append(
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": cut_height,
                "y1": cut_height,
                "line": {"color": THRESHOLD_COLOUR, "width": 1.5, "dash": "dash"},
            }
        )
    figure.update_layout(
        height=height,
        dragmode="zoom",
        hovermode="closest",
        shapes=shapes,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"title": {"text": colouring.title if not colouring.continuous else "leaves"}, "itemsizing": "constant"},
        xaxis={"showticklabels": False, "showgrid": False, "zeroline": False, "range": [-LEAF_SPACING, n * LEAF_SPACING + LEAF_SPACING]},
        yaxis={"title": "cosine distance (average linkage)", "range": [-1.6 * band, 1.05 * top], "zeroline": False},
        **_colour_axis(colouring),
    )
    return figure


def _cluster_bands(leaf_clusters: Sequence[int], band: float) -> list[go.Scatter]:
    """The clusters as bands under the leaves, shaded in turn, the larger ones numbered: three cheap traces.

    Layout shapes would cost a browser about 5 ms each to draw; a few hundred clusters
    at a low cut would take longer than the whole tree.
    """
    spans = cluster_spans(list(leaf_clusters))
    if not spans or len(spans) > MAX_CLUSTER_BANDS:
        return []
    traces = []
    for parity, shade in enumerate(CLUSTER_SHADES):
        ends = np.array([(first * LEAF_SPACING + 1, (last + 1) * LEAF_SPACING - 1, np.nan) for _, first, last in spans[parity::2]])
        if len(ends):
            xs = ends.ravel()
            traces.append(
                go.Scatter(
                    x=xs,
                    y=np.where(np.isnan(xs), np.nan, -band),
                    mode="lines",
                    line={"color": shade, "width": CLUSTER_BAND_PX},
                    hoverinfo="skip",
                    showlegend=False,
                    name="clusters",
                )
            )
    labelled = sorted(spans, key=lambda s: s[1] - s[2])[:MAX_CLUSTER_LABELS]
    labelled = [s for s in labelled if s[2] > s[1] or len(spans) <= MAX_CLUSTER_LABELS]
    if labelled:
        traces.append(
            go.Scatter(
                x=[(first + last + 1) * LEAF_SPACING / 2 for _, first, last in labelled],
                y=[-band] * len(labelled),
                text=[str(cluster) for cluster, _, _ in labelled],
                mode="text",
                textfont={"size": 10, "color": "#11161c"},
                hoverinfo="skip",
                showlegend=False,
                name="cluster numbers",
            )
        )
    return traces


# ----------------------------------------------------------------------------- history


@dataclass(frozen=True)
class Series:
    """One quantity of a type's frames over time, as the History page draws it.

    Attributes
    ----------
    title, unit
        What the quantity is (axis title).
    times
        Observation time of each frame.
    values
        The quantity of each frame (NaN where not measured).
    image_ids, hover, status
        Image id, hover text and status (:data:`STATUS_STYLES` key) of each frame.
    band_times
        Start of each night of the reference band (its steps).
    band_low, band_median, band_high
        The reference band per night (NaN where there is no reference yet).
    threshold
        A threshold per night (the score's), or None.
    floor
        The lowest value the quantity can take (0 for a score), or None.
    certified
        When each certified change began (the start of its night): a vertical line.
    """

    title: str
    unit: str
    times: Sequence[datetime]
    values: np.ndarray
    image_ids: Sequence[int]
    hover: Sequence[str]
    status: Sequence[str]
    band_times: Sequence[datetime] = ()
    band_low: np.ndarray | None = None
    band_median: np.ndarray | None = None
    band_high: np.ndarray | None = None
    threshold: np.ndarray | None = None
    floor: float | None = None
    certified: Sequence[datetime] = ()


STATUS_STYLES = {
    "usable": {"name": "frame", "marker": {"color": "#7fa7cf", "size": 6, "symbol": "circle"}},
    "accepted": {"name": "accepted", "marker": {"color": "#54a24b", "size": 8, "symbol": "circle-open", "line": {"width": 2}}},
    "flagged": {"name": "flagged, no verdict", "marker": {"color": "#f58518", "size": 9, "symbol": "diamond"}},
    "rejected": {"name": "rejected", "marker": {"color": "#e45756", "size": 9, "symbol": "x"}},
}
CLIPPED_SYMBOLS = {1: "triangle-up", -1: "triangle-down"}


def display_range(values: np.ndarray, *bounds: np.ndarray | None, floor: float | None = None) -> tuple[float, float] | None:
    """The y range that shows the band and the values, unless a few wild values would flatten the rest.

    Parameters
    ----------
    values
        The frames' values (NaN ignored). When all of them would need more than
        :data:`MAX_SQUEEZE` times the height that the band and the typical values (within
        :data:`WILD_SPREAD` robust sigma of their median) need, the wild ones are left out
        of view (and drawn at its edge).
    *bounds
        Curves that must stay in view (band edges, threshold), NaN ignored.
    floor
        A lowest possible value, kept as the bottom when the data come near it.

    Returns
    -------
    tuple of float or None
        ``(low, high)`` padded by a few per cent, or None without any finite number.
    """
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    curves = [b[np.isfinite(b)] for b in (np.ravel(np.asarray(b, dtype=np.float64)) for b in bounds if b is not None)]
    typical = finite
    if finite.size:
        centre = np.median(finite)
        spread = MAD_TO_SIGMA * np.median(np.abs(finite - centre))
        typical = finite[np.abs(finite - centre) <= WILD_SPREAD * spread] if spread > 0 else np.array([centre])
    everything = np.concatenate([finite, *curves])
    if not everything.size:
        return None
    kept = np.concatenate([typical, *curves])
    low, high = float(everything.min()), float(everything.max())
    if high - low > MAX_SQUEEZE * (float(kept.max()) - float(kept.min())):
        low, high = float(kept.min()), float(kept.max())
    span = high - low if high > low else max(abs(high), 1.0) * 0.1
    low, high = low - DISPLAY_PADDING * span, high + DISPLAY_PADDING * span
    if floor is not None:
        low = max(low, floor - DISPLAY_PADDING * span)
    return low, high


def clipped(values: np.ndarray, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """Values held inside ``[low, high]`` and the side each was held on (+1 above, -1 below, 0 inside)."""
    values = np.asarray(values, dtype=np.float64)
    side = np.where(values > high, 1, np.where(values < low, -1, 0))
    return np.clip(values, low, high), side


def _instants(times: Sequence[datetime]) -> np.ndarray:
    """Times as numpy's (plotly sends them as one block instead of one string each)."""
    return np.array(times, dtype="datetime64[ms]")


def _steps(times: Sequence[datetime], values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A per-night curve as steps: each night's value held until the next night, the last one for a day."""
    instants = _instants(times)
    if not len(instants):
        return instants, np.empty(0)
    return np.append(instants, instants[-1] + np.timedelta64(1, "D")), np.append(values, values[-1])


def _runs(present: np.ndarray) -> list[tuple[int, int]]:
    """``(first, stop)`` of each run of consecutive True values."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], np.asarray(present, int), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _run_steps(times: Sequence[datetime], values: np.ndarray, first: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """The steps of nights ``first`` to ``stop - 1``, the last held until the next night (or for a day)."""
    instants = _instants(times)
    end = instants[stop] if stop < len(instants) else instants[-1] + np.timedelta64(1, "D")
    return np.append(instants[first:stop], end), np.append(values[first:stop], values[stop - 1])


def history_figure(series: Series, *, height: int = 300) -> go.Figure:
    """One quantity over time: the frames (by status), the reference band and median, the threshold.

    Values beyond the displayed range (:func:`display_range`) are drawn at its edge as
    triangles pointing the way they went; the hover gives the true value.
    """
    values = np.asarray(series.values, dtype=np.float64)
    # Room above a threshold, so that values held at the top edge stand clear of it.
    headroom = None if series.threshold is None else THRESHOLD_HEADROOM * np.asarray(series.threshold, dtype=np.float64)
    band = [b for b in (series.band_low, series.band_high, series.threshold, headroom) if b is not None]
    shown = display_range(values, *band, floor=series.floor)
    traces = []
    if series.band_low is not None and series.band_high is not None and len(series.band_times):
        high_values = np.asarray(series.band_high, dtype=np.float64)
        low_values = np.asarray(series.band_low, dtype=np.float64)
        # One filled area per run of nights with a band: a fill across a gap (no reference yet, a
        # certified change) would be drawn as a slanted polygon.
        for number, (first, stop) in enumerate(_runs(np.isfinite(high_values) & np.isfinite(low_values))):
            times, high = _run_steps(series.band_times, high_values, first, stop)
            _, low = _run_steps(series.band_times, low_values, first, stop)
            traces += [
                go.Scatter(
                    x=times, y=high, mode="lines", line={"width": 0, "shape": "hv"}, hoverinfo="skip", showlegend=False, legendgroup="band"
                ),
                go.Scatter(
                    x=times,
                    y=low,
                    mode="lines",
                    line={"width": 0, "shape": "hv"},
                    fill="tonexty",
                    fillcolor=BAND_FILL,
                    name="reference band",
                    hoverinfo="skip",
                    legendgroup="band",
                    showlegend=number == 0,
                ),
            ]
        times, median = _steps(list(series.band_times), np.asarray(series.band_median, dtype=np.float64))
        traces.append(
            go.Scatter(
                x=times,
                y=median,
                mode="lines",
                line={"color": MEDIAN_COLOUR, "width": 1, "dash": "dot", "shape": "hv"},
                name="reference median",
                hoverinfo="skip",
            )
        )
    if series.threshold is not None and len(series.band_times):
        times, threshold = _steps(list(series.band_times), np.asarray(series.threshold, dtype=np.float64))
        traces.append(
            go.Scatter(
                x=times,
                y=threshold,
                mode="lines",
                name="threshold",
                hoverinfo="skip",
                line={"color": THRESHOLD_COLOUR, "width": 1.5, "dash": "dash", "shape": "hv"},
            )
        )
    if shown:
        inset = EDGE_INSET * (shown[1] - shown[0])  # a marker at the very edge would be cut in half
        y, side = clipped(values, shown[0] + inset, shown[1] - inset)
    else:
        y, side = values, np.zeros(len(values), int)
    times = _instants(series.times)
    kind = go.Scattergl if np.isfinite(values).sum() > WEBGL_FROM else go.Scatter
    ids = np.asarray(series.image_ids, dtype=np.int64)
    hover = np.array(escaped(series.hover), dtype=object)
    status = np.array(series.status, dtype=object)
    for name, style in STATUS_STYLES.items():
        shown_first = True
        for way in (0, 1, -1):  # in range, then held at the top, then at the bottom: one symbol per trace
            part = (status == name) & np.isfinite(values) & (side == way)
            if not part.any():
                continue
            marker = dict(style["marker"], symbol=CLIPPED_SYMBOLS.get(way, style["marker"]["symbol"]))
            traces.append(
                _points(kind, times, y, ids, hover, part, name=style["name"], marker=marker, legendgroup=name, showlegend=shown_first)
            )
            shown_first = False
    figure = go.Figure(traces)
    for start in series.certified:
        figure.add_vline(
            x=start, line={"color": CERTIFIED_COLOUR, "width": 1.5}, annotation_text="new normal", annotation_position="top left"
        )
    title = f"{series.title} [{series.unit}]" if series.unit else series.title
    figure.update_layout(
        height=height,
        title={"text": html.escape(title), "font": {"size": 14}},
        hovermode="closest",
        dragmode="zoom",
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "y": -0.18},
        yaxis={"range": list(shown) if shown else None, "zeroline": False},
    )
    return figure
