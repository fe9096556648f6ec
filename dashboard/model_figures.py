"""Plotly figures of the Models page, built from the metrics a training stored.

The F1 of the trained judgement against that of the unsupervised thresholds per image
type and mode (grouped bars), and the type network's loss and accuracy per epoch.
Names are escaped: image types come from header rules, which are text, not HTML.
Nothing here imports Streamlit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from dashboard.figures import MEDIAN_COLOUR, escaped

TRAINED_COLOUR = "#d9a441"
UNSUPERVISED_COLOUR = MEDIAN_COLOUR
LOSS_COLOUR = "#e45756"
ACCURACY_COLOUR = "#54a24b"
MISSING_TEXT = "-"
ROW_PX = 46
FRAME_PX = 150
MIN_HEIGHT = 280
EPOCH_HEIGHT = 320
MARGIN = {"l": 10, "r": 10, "t": 70, "b": 10}


def _defined(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _bars(values: Sequence[float | None]) -> tuple[list[float], list[str]]:
    """Bar lengths and their texts; an undefined value has no bar and a dash for text."""
    lengths = [float(v) if _defined(v) else 0.0 for v in values]
    texts = [f"{v:.2f}" if _defined(v) else MISSING_TEXT for v in values]
    return lengths, texts


def f1_figure(
    names: Sequence[str], trained: Sequence[float | None], unsupervised: Sequence[float | None], verdicts: Sequence[int]
) -> go.Figure:
    """Per image type and mode, the F1 of the trained judgement (cross-validated) beside that of the unsupervised thresholds.

    Parameters
    ----------
    names
        The image types and modes, one bar pair each, drawn top to bottom in this order.
    trained, unsupervised
        Their F1 on the verdicts; None or NaN where it is undefined (no rejected
        verdict): no bar, a dash.
    verdicts
        How many verdicts each F1 rests on (in the axis label: an F1 on three verdicts
        says little).
    """
    labels = [f"{name}<br>{n} verdict{'s' if n != 1 else ''}" for name, n in zip(escaped(names), verdicts, strict=True)]
    figure = go.Figure()
    for values, name, colour in (
        (trained, "trained on the verdicts (cross-validated)", TRAINED_COLOUR),
        (unsupervised, "unsupervised thresholds", UNSUPERVISED_COLOUR),
    ):
        lengths, texts = _bars(values)
        figure.add_trace(
            go.Bar(
                x=lengths,
                y=labels,
                orientation="h",
                name=name,
                marker={"color": colour},
                text=texts,
                textposition="outside",
                cliponaxis=False,
                hovertemplate=f"%{{y}}<br>F1 %{{text}}<extra>{name}</extra>",
            )
        )
    figure.update_layout(
        title={
            "text": "Bad-frame identification: F1 on the experts' verdicts",
            "subtitle": {"text": "per image type and mode; a dash: no F1 (no rejected verdict of that type yet)"},
        },
        barmode="group",
        height=max(MIN_HEIGHT, FRAME_PX + ROW_PX * len(names)),
        margin=MARGIN,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1.0},
        xaxis={"title": {"text": "F1"}, "range": [0.0, 1.12], "tickvals": [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]},
        yaxis={"autorange": "reversed", "automargin": True},
    )
    return figure


def epochs_figure(history: Mapping[str, Sequence[float]]) -> go.Figure:
    """The type network's loss (left axis) and accuracy (right axis, per cent) after each epoch of its training.

    ``history`` is the Keras fit history :mod:`core.train` stored (``loss`` and
    ``accuracy``, one number per epoch); either may be missing.
    """
    figure = go.Figure()
    loss, accuracy = list(history.get("loss", [])), list(history.get("accuracy", []))
    if loss:
        figure.add_trace(
            go.Scatter(
                x=list(range(1, len(loss) + 1)),
                y=loss,
                mode="lines+markers",
                name="loss (cross-entropy)",
                line={"color": LOSS_COLOUR},
                marker={"size": 4},
                hovertemplate="epoch %{x}: loss %{y:.4f}<extra></extra>",
            )
        )
    if accuracy:
        figure.add_trace(
            go.Scatter(
                x=list(range(1, len(accuracy) + 1)),
                y=[100 * a for a in accuracy],
                mode="lines+markers",
                name="accuracy on its training frames",
                line={"color": ACCURACY_COLOUR},
                marker={"size": 4},
                yaxis="y2",
                hovertemplate="epoch %{x}: accuracy %{y:.2f} %<extra></extra>",
            )
        )
    figure.update_layout(
        title={
            "text": "Image-type network: learning per epoch",
            "subtitle": {"text": "the fit whose held-out frames give the accuracy table"},
        },
        height=EPOCH_HEIGHT,
        margin={**MARGIN, "b": 70},
        legend={"orientation": "h", "yanchor": "top", "y": -0.3, "xanchor": "left", "x": 0.0},
        xaxis={"title": {"text": "epoch"}},
        yaxis={"title": {"text": "loss"}, "rangemode": "tozero"},
        yaxis2={
            "title": {"text": "accuracy [%]"},
            "overlaying": "y",
            "side": "right",
            "range": [0, 101],
            "tickvals": [0, 25, 50, 75, 100],
            "showgrid": False,
        },
    )
    return figure
