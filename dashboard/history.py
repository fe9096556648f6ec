"""The History page: one image type and mode over its nights, the place to see a drift or a jump.

The score and the chosen quality numbers of every frame over time, each with its
reference band (:mod:`core.history`: median and robust scatter of the usable frames of
the nights before), the score with its threshold; flagged, accepted and rejected frames
are marked. The numbers that strayed furthest from their bands are offered first. A
click on a point opens its frame. Changes certified by an expert ("new normal from this
night on") are drawn as vertical lines, listed, and made here: the bands and the scores
then start again from that night. The whole history is read in one go (its rows, then
their quality numbers), never night by night, and computed again only when a frame,
flag, verdict or score of the type changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import partial

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core.config import Settings
from core.history import BAND_SIGMA, TypeHistory, frame_status, load_type_history
from core.pipeline import rescore
from core.store import Store
from dashboard import access, batch, figures, frame_rows, selection, widgets
from dashboard.formatting import escape_markdown
from dashboard.night import empty_store_message

TITLE = "History"
OPEN_KEY = "history_open"
METRICS_SHOWN = 4
LISTED_FRAMES = 50


def page() -> None:
    """Draw the History page."""
    clicked = st.session_state.pop(OPEN_KEY, None)
    if clicked is not None:
        widgets.open_frame(clicked)
    st.title(TITLE)
    settings = widgets.current_settings()
    store = widgets.current_store(settings)
    types = {(t["instrument"], t["image_type"], t["mode"]): t for t in store.image_types()}
    if not types:
        st.info(empty_store_message(str(settings.home)), icon="📈")
        return
    group = st.selectbox("Image type and mode", list(types), key="history_group", format_func=lambda g: _group_label(types[g]))
    rows = store.image_rows(instrument=group[0], image_type=group[1], mode=group[2])
    certified = tuple(c.night for c in store.certifications(group[1], group[2]))
    frames = tuple((r.image_id, frame_status(r), r.score) for r in rows)
    history = _history(store, settings, group, frames, certified)
    version = hashlib.sha1(repr((settings, group, frames, certified)).encode()).hexdigest()
    if history is None:
        st.info("This type has no frames any more; choose another.")
        return
    if len(history.rows) < 2:
        st.info(
            f"{group[1]} has one frame so far ({history.nights[0]}): a history needs frames of two or more nights. "
            "It fills as nights are ingested; meanwhile the frame is on the Night report.",
            icon="📈",
        )
        return
    ranked = history.ranked_metrics()
    names = st.multiselect(
        "Quality numbers",
        ranked,
        default=ranked[:METRICS_SHOWN],
        key=f"history_metrics:{group}",
        format_func=lambda name: _metric_label(history, name),
        help="Listed with those whose nights strayed furthest from their reference band first.",
    )
    st.caption(
        f"{len(history.rows)} frames over {len(history.nights)} nights ({history.nights[0]} to {history.nights[-1]}). "
        f"Band: median ± {BAND_SIGMA:g} robust sigma of the usable frames (not rejected, not flagged unless accepted) "
        f"of the {history.history_nights} nights before each night with frames"
        f"{', and none before a certified change (the vertical lines)' if history.certified else ''}. Triangles at an edge are beyond the "
        "scale (the hover gives the value). Click a point to open its frame."
    )
    _chart(history, version, None, "history_chart_score")
    if not ranked:
        st.info("No quality numbers are stored for this type's frames: only their scores can be shown.")
    for name in names:
        _chart(history, version, name, f"history_chart:{name}")
    _certifications(store, settings, history)
    _reviewed(store, history)


@st.cache_data(show_spinner="Reading the history", max_entries=16)
def _history(_store: Store, settings: Settings, group: tuple[str, str, str], frames: tuple, certified: tuple) -> TypeHistory | None:
    """The type's history, computed again only when its frames, their flags, verdicts, scores or certifications changed.

    ``frames`` (image id, status, score of each frame) and ``certified`` (the nights of its certified changes)
    are the cache key, with the settings (the store's URL among them) and the group.
    """
    return load_type_history(_store, settings, *group)


def _group_label(entry: dict) -> str:
    nights = entry["nights"]
    span = f"{entry['first_night']} to {entry['last_night']}" if nights > 1 else entry["first_night"]
    return (
        f"{entry['image_type']} · {entry['mode'] or 'no mode'} — {entry['images']} frames, "
        f"{nights} night{'s' if nights != 1 else ''} ({span})"
    )


def _metric_label(history: TypeHistory, name: str) -> str:
    label, unit = history.label(name)
    return f"{label} [{unit}]" if unit else label


def _score_series(history: TypeHistory, hover: Sequence[str]) -> figures.Series:
    return figures.Series(
        title="score (largest calibrated deviation from the reference)",
        unit="sigma",
        times=history.times,
        values=history.scores,
        image_ids=[r.image_id for r in history.rows],
        hover=hover,
        status=history.statuses,
        band_times=history.night_starts,
        threshold=history.thresholds,
        floor=0.0,
        certified=_certified_starts(history),
    )


def _metric_series(history: TypeHistory, name: str, hover: Sequence[str]) -> figures.Series:
    label, unit = history.label(name)
    values = history.values[name]
    band = history.bands[name]
    texts = [
        f"{text}\n{label}: {value:.5g} {unit}".rstrip() if np.isfinite(value) else text for text, value in zip(hover, values, strict=True)
    ]
    return figures.Series(
        title=label,
        unit=unit,
        times=history.times,
        values=values,
        image_ids=[r.image_id for r in history.rows],
        hover=texts,
        status=history.statuses,
        band_times=history.night_starts,
        band_low=band.low(),
        band_median=band.median,
        band_high=band.high(),
        certified=_certified_starts(history),
    )


def _certified_starts(history: TypeHistory) -> list:
    """When each certified change's night began (the nights with frames; a change certified between them starts at the next)."""
    index = np.searchsorted(history.nights, history.certified)
    return [history.night_starts[k] for k in index if k < len(history.nights)]


@st.cache_resource(show_spinner=False, max_entries=64)
def _figure(_history: TypeHistory, version: str, name: str | None) -> go.Figure:
    """The chart of the score (``name`` None) or of one quality number, per version of the history (read-only)."""
    hover = [frame_rows.hover_text(r) for r in _history.rows]
    series = _score_series(_history, hover) if name is None else _metric_series(_history, name, hover)
    return figures.history_figure(series)


def _chart(history: TypeHistory, version: str, name: str | None, key: str) -> None:
    st.plotly_chart(
        _figure(history, version, name),
        key=key,
        on_select=partial(_open_clicked, key),
        selection_mode="points",
        config={"displaylogo": False},
    )


def _open_clicked(key: str) -> None:
    """Chart callback: the clicked frame opens at the next run."""
    clicked = selection.clicked_image_id(st.session_state[key])
    if clicked is not None:
        st.session_state[OPEN_KEY] = clicked


def _certifications(store: Store, settings: Settings, history: TypeHistory) -> None:
    """The changes certified for this type and mode, and the form that certifies one."""
    st.subheader("Certified changes")
    changes = store.certifications(history.image_type, history.mode)
    if changes:
        for change in changes:
            note = f": {escape_markdown(change.note)}" if change.note else ""
            by = escape_markdown(change.reviewer)
            st.markdown(f"- **from {change.night}**, certified by {by} on {change.created_at:%Y-%m-%d}{note}")
    else:
        st.caption("None: the reference of this type and mode rests on its recent accepted frames, whatever their night.")
    message = st.session_state.pop("history_certified", None)
    if message:
        st.success(message)
    expander = st.expander("Certify a new normal from a night on (after an intervention: a new lamp, a CCD warm-up ...)")
    account = access.logged_in(store)
    if not access.may(account, "certify"):
        expander.caption(access.refusal(account, "certify"))
        return
    with expander, st.form("history_certify", border=False):
        night = st.selectbox("First night of the new normal", list(reversed(history.nights)), key="history_certify_night")
        if account is None:
            reviewer = st.text_input("Reviewer", value=st.session_state.get("reviewer_name", ""), key="history_certify_reviewer")
        else:
            reviewer = account.name
            st.markdown(f"**Reviewer:** {escape_markdown(account.name)}")
        note = st.text_input("What changed", key="history_certify_note", placeholder="e.g. ThAr lamp replaced")
        submitted = st.form_submit_button("Certify and rescore", type="primary")
    if not submitted:
        return
    if not reviewer.strip():
        st.error("Say who certifies the change (Reviewer).")
        return
    try:
        store.certify(history.image_type, history.mode, night, reviewer, note)
    except ValueError as error:
        st.error(f"The change was not certified: {error}")
        return
    st.session_state["reviewer_name"] = reviewer.strip()
    later = [n for n in store.nights() if n >= night]
    with st.spinner(f"Scoring {len(later)} night{'s' if len(later) != 1 else ''} from {night} again"):
        flagged = rescore(settings, later, store=store)
    st.session_state["history_certified"] = (
        f"{history.image_type} · {history.mode or 'no mode'} is new normal from {night} on; "
        f"{len(flagged)} night{'s' if len(flagged) != 1 else ''} scored again, {sum(flagged.values())} frames flagged."
    )
    st.rerun()


def _reviewed(store: Store, history: TypeHistory) -> None:
    """The latest flagged or reviewed frames of the type, newest first, with their pictures."""
    marked = [r for r, status in zip(history.rows, history.statuses, strict=True) if status != "usable"][::-1][:LISTED_FRAMES]
    st.subheader("Flagged and reviewed frames")
    if not marked:
        st.caption("None: no frame of this type has been flagged or reviewed.")
        return
    st.caption(f"The latest {len(marked)}, newest first. Tick a row to open its frame.")
    batch.frames_list(store, marked, key="history_marked")
