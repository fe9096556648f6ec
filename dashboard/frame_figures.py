"""Plotly figures of the Frame page, built from arrays that ``core`` computed.

Pure functions (no Streamlit): the image as a heatmap with y up as in ds9, its
histogram, its row and column profiles against the reference's median profile, and
one quality number against its history.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import plotly.graph_objects as go

from core.preprocess import DisplayImage

FRAME_COLOUR = "#ff6b6b"
REFERENCE_COLOUR = "#9aa5b1"
HISTORY_COLOUR = "#6fa8dc"
REJECTED_COLOUR = "#f6b26b"
IMAGE_HEIGHT = 620
BRIGHTNESS_LEVELS = 255
SMALL_HEIGHT = 280
MARGIN = {"l": 10, "r": 10, "t": 50, "b": 10}


def image_heatmap(display: DisplayImage, title: str = "") -> go.Figure:
    """The image as a grey heatmap in raw pixel coordinates, FITS y = 1 at the bottom, square pixels.

    Brightness is the displayed stretch, sent as bytes (0-255; the display has no
    non-finite blocks), and the ADU under the cursor as float32: about 7 characters
    of JSON per block rather than 21, which is what keeps the page quick for a
    full-size frame. The colour bar is labelled in ADU. Zoom and pan are plotly's.
    """
    fy, fx = display.factor
    brightness = np.round(np.clip(display.values, 0.0, 1.0) * BRIGHTNESS_LEVELS).astype(np.uint8)
    heatmap = go.Heatmap(
        z=brightness,
        customdata=np.asarray(display.adu, np.float32),
        x0=(fx + 1) / 2,
        dx=fx,
        y0=(fy + 1) / 2,
        dy=fy,
        zmin=0.0,
        zmax=float(BRIGHTNESS_LEVELS),
        colorscale="gray",
        colorbar={
            "title": {"text": "ADU"},
            "tickvals": [level * BRIGHTNESS_LEVELS for level, _ in display.ticks],
            "ticktext": [f"{adu:.5g}" for _, adu in display.ticks],
            "thickness": 14,
        },
        hovertemplate="x %{x:.0f}, y %{y:.0f}: %{customdata:.5g} ADU<extra></extra>",
    )
    figure = go.Figure(heatmap)
    figure.update_layout(
        title={"text": title},
        height=IMAGE_HEIGHT,
        margin=MARGIN,
        dragmode="zoom",
        xaxis={"title": {"text": "x [pixel]"}, "constrain": "domain"},
        yaxis={"title": {"text": "y [pixel]"}, "scaleanchor": "x", "constrain": "domain", "autorange": True},
    )
    return figure


def histogram_figure(
    counts: np.ndarray, edges: np.ndarray, below: int = 0, above: int = 0, limits: tuple[float, float] | None = None
) -> go.Figure:
    """The pixel histogram on a log scale, with the displayed limits marked and the pixels beyond the range counted."""
    centres = 0.5 * (edges[:-1] + edges[1:])
    figure = go.Figure(
        go.Bar(
            x=centres,
            y=np.where(counts > 0, counts, np.nan),
            width=np.diff(edges),
            marker={"color": HISTORY_COLOUR, "line": {"width": 0}},
            hovertemplate="%{x:.5g} ADU: %{y} pixels<extra></extra>",
            name="pixels",
        )
    )
    notes = []
    if limits is not None:
        for value in limits:
            figure.add_vline(x=value, line={"color": FRAME_COLOUR, "dash": "dot"})
        notes.append("dotted: the picture's black and white")
    outside = [f"{count:,} {side}" for count, side in ((below, "below"), (above, "above")) if count]
    if outside:
        notes.append(f"{' and '.join(outside)} the range")
    figure.update_layout(
        title={"text": "Pixel histogram", "subtitle": {"text": "; ".join(notes)}},
        height=SMALL_HEIGHT,
        margin=MARGIN,
        bargap=0,
        showlegend=False,
        xaxis={"title": {"text": "ADU"}},
        yaxis={"title": {"text": "pixels"}, "type": "log"},
    )
    return figure


def profile_figure(
    axis: str, profile: np.ndarray | None, reference: np.ndarray | None, binning: float = 1.0, reference_name: str = ""
) -> go.Figure:
    """A frame's mean profile along one axis against the reference's median profile.

    Parameters
    ----------
    axis
        ``rows`` (the mean of each row, along y) or ``cols`` (the mean of each column, along x).
    profile, reference
        The frame's stored profile and the median of its reference frames' (either may be None).
    binning
        Raw pixels per profile sample (stored profiles of long axes are binned).
    reference_name
        What the reference is, for the legend.
    """
    along = "y" if axis == "rows" else "x"
    figure = go.Figure()
    for values, name, style in (
        (reference, f"median of {reference_name}" if reference_name else "reference", {"color": REFERENCE_COLOUR, "dash": "dash"}),
        (profile, "this frame", {"color": FRAME_COLOUR}),
    ):
        if values is not None and len(values):
            pixels = (np.arange(len(values)) + 0.5) * binning + 0.5
            figure.add_trace(
                go.Scatter(
                    x=pixels,
                    y=values,
                    mode="lines",
                    name=name,
                    line={**style, "width": 1.5},
                    hovertemplate=f"{along} %{{x:.0f}}: %{{y:.5g}} ADU<extra>{name}</extra>",
                )
            )
    what = "Row means (along y)" if axis == "rows" else "Column means (along x)"
    figure.update_layout(
        title={"text": what},
        height=SMALL_HEIGHT,
        margin={**MARGIN, "b": 60},
        legend={"orientation": "h", "yanchor": "top", "y": -0.3, "xanchor": "left", "x": 0.0},
        xaxis={"title": {"text": f"{along} [pixel]"}},
        yaxis={"title": {"text": "ADU above bias"}},
    )
    return figure


def metric_history_figure(
    label: str,
    unit: str,
    history: Sequence[tuple[datetime | str, float, str]],
    value: float,
    when: datetime | str | None,
    reference: float | None = None,
    scatter: float | None = None,
) -> go.Figure:
    """One quality number over the history of its type and mode, this frame marked, the reference band shaded.

    Parameters
    ----------
    label, unit
        What the number is (``bias level, amplifier 1``, ``ADU``).
    history
        ``(time or night, value, status)`` of earlier frames; ``status`` is ``rejected``,
        ``flagged`` or anything else for a good frame.
    value, when
        This frame's value and time.
    reference, scatter
        The reference's median and scatter the detector compared with (a band of
        plus and minus one scatter), when known.
    """
    figure = go.Figure()
    if reference is not None and scatter is not None and np.isfinite(reference) and np.isfinite(scatter):
        figure.add_hrect(y0=reference - scatter, y1=reference + scatter, fillcolor=REFERENCE_COLOUR, opacity=0.25, line_width=0)
        figure.add_hline(y=reference, line={"color": REFERENCE_COLOUR, "dash": "dash", "width": 1})
    styles = {"rejected": (REJECTED_COLOUR, "x"), "flagged": (REJECTED_COLOUR, "circle-open")}
    for status in ("good", "flagged", "rejected"):
        points = [(t, v) for t, v, s in history if (s if s in styles else "good") == status]
        if not points:
            continue
        colour, symbol = styles.get(status, (HISTORY_COLOUR, "circle"))
        figure.add_trace(
            go.Scatter(
                x=[t for t, _ in points],
                y=[v for _, v in points],
                mode="markers",
                name=f"earlier frames ({status})" if status != "good" else "earlier frames",
                marker={"color": colour, "symbol": symbol, "size": 6},
                hovertemplate="%{x}: %{y:.4g}<extra></extra>",
            )
        )
    figure.add_trace(
        go.Scatter(
            x=[when],
            y=[value],
            mode="markers",
            name="this frame",
            marker={"color": FRAME_COLOUR, "symbol": "star", "size": 13},
            hovertemplate="this frame: %{y:.4g}<extra></extra>",
        )
    )
    figure.update_layout(
        title={"text": label, "font": {"size": 13}},
        height=SMALL_HEIGHT,
        margin=MARGIN,
        showlegend=False,
        yaxis={"title": {"text": unit}},
    )
    return figure
