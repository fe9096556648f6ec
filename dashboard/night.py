"""The night report page: the daytime astronomer's morning view of last night's calibrations.

Top to bottom: the night and its summary, filters, the table (flagged frames first,
then by score), and the panel of one frame with its reasons, deviations, nearest
reference frames and the accept/reject form. The frame shown is the select box
``frame``; ticking a table row or "Next flag to review" sets it, and the table's
selection follows it, so that the panel is reachable with the keyboard and from
tests as well as by clicking the table.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from core.report import night_report
from dashboard import formatting, widgets
from dashboard.formatting import Row

TITLE = "Night report"
TABLE_KEY = "night_table"
FRAME_KEY = "frame"
ROW_HEIGHT = 56
FILE_COLUMN_WIDTH = 270


def empty_store_message(home: str) -> str:
    """What to do when the store has no nights yet (Markdown)."""
    return (
        f"No nights in the calspot home `{home}` yet. Ingest last night's calibrations with "
        "`calspot ingest PATH` (files or folders, searched recursively), or try the dashboard "
        "on simulated nights with `make demo`. The home is `$CALSPOT_HOME`."
    )


def page() -> None:
    """Draw the night report page."""
    st.title(TITLE)
    settings = widgets.current_settings()
    store = widgets.current_store(settings)
    nights = store.nights()
    if not nights:
        st.info(empty_store_message(str(settings.home)), icon="🌙")
        return
    pick, note = st.columns([1, 3], vertical_alignment="bottom")
    with pick:
        night = widgets.night_picker(nights)
    rows = formatting.order_rows(night_report(store, night))
    with note:
        st.caption(f"{len(nights)} night{'s' if len(nights) != 1 else ''} in `{settings.home}`")
    widgets.weights_banner(rows)
    _summary(rows)
    visible = _filtered(rows)
    if not visible:
        st.info("No frame of this night matches the filters.")
        return
    _follow_frame(visible)
    _table(visible)
    st.subheader("Frame")
    row = _frame_picker(visible)
    widgets.frame_panel(store, row)


def _summary(rows: Sequence[Row]) -> None:
    counts = formatting.night_counts(rows)
    images, flagged, unreadable, to_review = st.columns(4)
    images.metric("Images", counts["images"], help="Image extensions read this night.")
    flagged.metric("Flagged", counts["flagged"], help="Images and unreadable files flagged by the detectors.")
    unreadable.metric("Unreadable files", counts["unreadable"], help="Files that could not be read at all.")
    to_review.metric("Not yet reviewed", counts["to_review"], help="Flags without an expert's verdict.")


def _filtered(rows: Sequence[Row]) -> list[Row]:
    flagged_only, types, search = st.columns([1, 2, 2], vertical_alignment="bottom")
    with flagged_only:
        only = st.toggle("Flagged only", key="flagged_only")
    with types:
        chosen = st.multiselect("Image types", formatting.image_types(rows), key="image_types", placeholder="all types")
    with search:
        text = st.text_input("File name contains", key="search", placeholder="e.g. 2024-03-02T20")
    return formatting.filter_rows(rows, flagged_only=only, image_types=chosen, search=text)


def _follow_frame(rows: Sequence[Row]) -> None:
    """Keep the frame shown among the visible rows (else the first to review) and select its table row."""
    keys = [formatting.frame_key(row) for row in rows]
    if st.session_state.get(FRAME_KEY) not in keys:
        st.session_state[FRAME_KEY] = formatting.first_to_review(rows)
    st.session_state[TABLE_KEY] = {"selection": {"rows": [keys.index(st.session_state[FRAME_KEY])], "columns": []}}


def _table(rows: Sequence[Row]) -> None:
    keys = [formatting.frame_key(row) for row in rows]
    st.dataframe(
        formatting.table(rows),
        key=TABLE_KEY,
        hide_index=True,
        on_select=lambda: _show_selected(keys),
        selection_mode="single-row",
        row_height=ROW_HEIGHT,
        placeholder="",
        column_config={
            "flag": st.column_config.TextColumn("", width=32, help="⚑ flagged"),
            "thumbnail": st.column_config.ImageColumn("picture", width="small"),
            "file": st.column_config.TextColumn("file", width=FILE_COLUMN_WIDTH),
            "ext": st.column_config.NumberColumn("ext", format="%d", width=48),
            "score": st.column_config.NumberColumn("score", format="%.2f", width="small"),
            "threshold": st.column_config.NumberColumn("threshold", format="%.2f", width="small"),
            "reasons": st.column_config.TextColumn("reasons", width="large"),
            "verdict": st.column_config.TextColumn("verdict", width="small"),
        },
    )


def _show_selected(keys: Sequence[str]) -> None:
    """Table callback: show the chosen row's frame in the panel (``keys`` in the table's order)."""
    chosen = st.session_state[TABLE_KEY]["selection"]["rows"]
    if chosen:
        st.session_state[FRAME_KEY] = keys[chosen[0]]


def _frame_picker(rows: Sequence[Row]) -> Row:
    by_key = {formatting.frame_key(row): row for row in rows}
    pick, step = st.columns([4, 1], vertical_alignment="bottom")
    with pick:
        key = st.selectbox(
            "Frame",
            list(by_key),
            key=FRAME_KEY,
            format_func=lambda k: formatting.frame_label(by_key[k]),
            help="Or tick a row of the table.",
        )
    following = formatting.next_to_review(rows, key)
    with step:
        st.button(
            "Next flag to review",
            on_click=_go_to,
            args=(following,),
            disabled=following is None,
            width="stretch",
        )
    return by_key[key]


def _go_to(key: str) -> None:
    st.session_state[FRAME_KEY] = key
