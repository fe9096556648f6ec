"""Plotly selection events turned into frames: which image ids were chosen, and whether by one click.

Streamlit hands a chart's selection over as plain dicts (``{"selection": {"points": [...],
"box": [...], "lasso": [...]}}``). Each point carries the ``customdata`` of its trace;
the figures of :mod:`dashboard.figures` put the image id there. ``point_indices`` are
not used: they count within each trace, so the first point of the history and the
first point of this night's trace would both be 0. Nothing here imports Streamlit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Event = Mapping[str, Any]


def _selection(event: Event | None) -> Mapping[str, Any]:
    """The selection part of an event (the event itself when it is one already)."""
    if not event:
        return {}
    selection = event.get("selection", event)
    return selection if isinstance(selection, Mapping) else {}


def point_image_id(point: Mapping[str, Any]) -> int | None:
    """The image id a selected point carries in its ``customdata``, or None for a point without one.

    ``customdata`` is the id itself, or a list whose first item is the id (plotly sends
    a list when a trace's custom data has several columns).
    """
    data = point.get("customdata")
    if isinstance(data, (list, tuple)):
        data = data[0] if data else None
    if data is None or isinstance(data, bool):
        return None
    try:
        return int(data)
    except (TypeError, ValueError):
        return None


def selected_image_ids(event: Event | None) -> list[int]:
    """The image ids of the selected points, each once, in the order plotly lists them.

    Parameters
    ----------
    event
        A chart's selection event as Streamlit returns it, or its ``selection`` part;
        None or empty when nothing is selected.

    Returns
    -------
    list of int
        Points without an image id (a band, a line, the dendrogram's links) are skipped.
    """
    ids: dict[int, None] = {}
    for point in _selection(event).get("points") or []:
        image_id = point_image_id(point)
        if image_id is not None:
            ids.setdefault(image_id, None)
    return list(ids)


def is_click(event: Event | None) -> bool:
    """Whether the selection is one point chosen by a click, not by a box or a lasso."""
    selection = _selection(event)
    return not selection.get("box") and not selection.get("lasso") and len(selected_image_ids(selection)) == 1


def clicked_image_id(event: Event | None) -> int | None:
    """The image id of a point clicked alone (no box, no lasso), else None."""
    return selected_image_ids(event)[0] if is_click(event) else None
