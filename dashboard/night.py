"""The night report page: the daytime astronomer's morning view of last night's calibrations.

The night and its counts on top; below, side by side, the night's frames (a summary
per image type and mode, filters, the table: flagged frames first, farthest out
first) and the panel of one frame with its reasons and the accept/reject form, so
that the frame under review and the list stay in view together. The frame shown is
the select box ``frame``; ticking a table row or "Next flag to review" sets it, a
verdict moves it to the next flag to review, and the table's selection follows it,
so that the panel is reachable with the keyboard and from tests as well as by
clicking the table. The review order (``review_order``) is the flags first, or the
frames whose verdict would teach the models most (:mod:`core.review`: scores near
their threshold, unlike what is already reviewed), flagged or not; the "next" frame
follows it. The frame shown is remembered (``night_frame``) while another page is open.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from core.embed import expected_fingerprint
from core.report import night_report
from core.review import REVIEW_ORDERS
from dashboard import formatting, widgets
from dashboard.formatting import Row

TITLE = "Night report"
ORDER_KEY = "review_order"
RESTART_KEY = "review_order_changed"
TABLE_KEY = "night_table"
SUMMARY_KEY = "type_summary"
FRAME_KEY = "frame"
SHOWN_KEY = "night_frame"
ROW_HEIGHT = 40
TABLE_HEIGHT = 560  # about 13 rows, the panel beside it, both in view at 1600 x 1000
SUMMARY_ROWS_SHOWN = 5
SUMMARY_ROW_HEIGHT = 35
FILE_COLUMN_WIDTH = 215
LIST_AND_PANEL = (5, 3)
SEVERITY_HELP = (
    "How far out the frame is: 0 like its history, 50 at its threshold (flagged above), 75 at 7 times the "
    "threshold, 90 at 500 times. The score in sigma is in the panel."
)


def empty_store_message(home: str) -> str:
    """What to do when the store has no nights yet (Markdown)."""
    return (
        f"No nights in the calspot home `{home}` yet. Ingest last night's calibrations with "
        "`calspot ingest PATH` (files or folders, searched recursively), or try the dashboard "
        "on simulated nights with `make demo`. The home is `$CALSPOT_HOME`."
    )


def page() -> None:
    """Draw the night report page."""
    settings = widgets.current_settings()
    store = widgets.current_store(settings)
    nights = store.nights()
    title, pick, counts = st.columns([2, 1, 4], vertical_alignment="bottom")
    with title:
        st.title(TITLE)
    if not nights:
        st.info(empty_store_message(str(settings.home)), icon="🌙")
        return
    with pick:
        night = widgets.night_picker(nights)
    rows = formatting.order_rows(night_report(store, night))
    with counts:
        _counts(rows)
    listing, panel = st.columns(LIST_AND_PANEL, gap="medium")
    with listing:
        widgets.weights_banner(rows)
        _type_summary(rows)
        visible = _filtered(store, settings, rows)
        if visible:
            _follow_frame(visible)
            _table(visible)
        else:
            st.info("No frame of this night matches the filters.")
    if not visible:
        return
    with panel:
        row = _frame_picker(visible)
        widgets.frame_panel(store, row, after_verdict=lambda: _after_verdict(visible))


def _counts(rows: Sequence[Row]) -> None:
    counts = formatting.night_counts(rows)
    images, flagged, unreadable, to_review = st.columns(4)
    images.metric("Images", counts["images"], help="Image extensions read this night.")
    flagged.metric("Flagged", counts["flagged"], help="Images and unreadable files flagged by the detectors.")
    unreadable.metric("Unreadable files", counts["unreadable"], help="Files that could not be read at all.")
    to_review.metric("Not yet reviewed", counts["to_review"], help="Flags without an expert's verdict.")


def _type_summary(rows: Sequence[Row]) -> None:
    summary = formatting.type_summary(rows)
    st.dataframe(
        formatting.styled_summary(summary),
        key=SUMMARY_KEY,
        hide_index=True,
        height=SUMMARY_ROW_HEIGHT * (min(len(summary), SUMMARY_ROWS_SHOWN) + 1) + 3,
        column_config={
            "status": st.column_config.TextColumn(width=150),
            "image type": st.column_config.TextColumn(width=150),
            "frames": st.column_config.NumberColumn(width="small"),
            "flagged": st.column_config.NumberColumn(width="small"),
            "reviewed": st.column_config.NumberColumn(width="small", help="Flags with an expert's verdict."),
            "threshold": st.column_config.TextColumn(
                help="The group's threshold on the score and where it comes from: its history's own scores, "
                "or the floor (6.0) when the history would allow less."
            ),
        },
    )


def _filtered(store, settings, rows: Sequence[Row]) -> list[Row]:
    flagged_only, order, types, search = st.columns([1, 1.6, 2, 2], vertical_alignment="bottom")
    with flagged_only:
        only = st.toggle("Flagged only", key="flagged_only")
    with order:
        chosen_order = st.segmented_control(
            "Review order",
            REVIEW_ORDERS,
            key=ORDER_KEY,
            default=REVIEW_ORDERS[0],
            required=True,
            on_change=_start_queue,
            help="Flags first, farthest out first; or the frames whose verdict would teach the models most first: "
            "scores near their threshold, flagged or not, unlike the frames already reviewed.",
        )
    with types:
        chosen = st.multiselect("Image types", formatting.image_types(rows), key="image_types", placeholder="all types")
    with search:
        text = st.text_input("File name contains", key="search", placeholder="e.g. 2024-03-02T20")
    if chosen_order != REVIEW_ORDERS[0]:
        ids = [row["image_id"] for row in rows if row["image_id"] is not None]
        rows = formatting.in_learning_order(rows, store.descriptors(ids, expected_fingerprint(settings)))
    return formatting.filter_rows(rows, flagged_only=only, image_types=chosen, search=text)


def _start_queue() -> None:
    """Review order callback: the panel goes to the first frame of the new order at the next run."""
    st.session_state[RESTART_KEY] = True


def _flags_only() -> bool:
    """Whether the review queue is the flags (the default order) or every scored frame (the learning order)."""
    return st.session_state.get(ORDER_KEY, REVIEW_ORDERS[0]) == REVIEW_ORDERS[0]


def _follow_frame(rows: Sequence[Row]) -> None:
    """Keep the frame shown among the visible rows (else the first to review) and select its table row."""
    keys = [formatting.frame_key(row) for row in rows]
    if FRAME_KEY not in st.session_state and st.session_state.get(SHOWN_KEY) in keys:
        st.session_state[FRAME_KEY] = st.session_state[SHOWN_KEY]
    if st.session_state.pop(RESTART_KEY, False) or st.session_state.get(FRAME_KEY) not in keys:
        st.session_state[FRAME_KEY] = formatting.first_to_review(rows, _flags_only())
    st.session_state[SHOWN_KEY] = st.session_state[FRAME_KEY]
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
        height=min(TABLE_HEIGHT, ROW_HEIGHT * (len(rows) + 1) + 3),
        placeholder="",
        column_config={
            "flag": st.column_config.TextColumn("", width=24, help="⚑ flagged"),
            "thumbnail": st.column_config.ImageColumn("picture", width=48),
            "file": st.column_config.TextColumn("file", width=FILE_COLUMN_WIDTH),
            "image type": st.column_config.TextColumn("image type", width=150, help="Its name ends in the extension."),
            "how far out": st.column_config.ProgressColumn(
                "how far out", min_value=0, max_value=100, format="%.0f", width=80, help=SEVERITY_HELP
            ),
            "verdict": st.column_config.TextColumn("✓✗", width=32, help="The expert's verdict: ✓ accepted, ✗ rejected."),
            "reasons": st.column_config.TextColumn(
                "first reason", width="large", help="The first reason, shortened; the panel lists them all."
            ),
        },
    )


def _show_selected(keys: Sequence[str]) -> None:
    """Table callback: show the chosen row's frame in the panel (``keys`` in the table's order)."""
    chosen = st.session_state[TABLE_KEY]["selection"]["rows"]
    if chosen:
        st.session_state[FRAME_KEY] = keys[chosen[0]]


def _frame_picker(rows: Sequence[Row]) -> Row:
    by_key = {formatting.frame_key(row): row for row in rows}
    pick, step = st.columns([3, 1], vertical_alignment="bottom")
    with pick:
        key = st.selectbox(
            "Frame",
            list(by_key),
            key=FRAME_KEY,
            format_func=lambda k: formatting.frame_label(by_key[k]),
            label_visibility="collapsed",
        )
    following = formatting.next_to_review(rows, key, _flags_only())
    with step:
        st.button(
            "Next flag" if _flags_only() else "Next to review",
            help="The next frame without a verdict in the review order (or tick a row of the table).",
            on_click=_go_to,
            args=(following,),
            disabled=following is None,
            width="stretch",
        )
    return by_key[key]


def _go_to(key: str) -> None:
    st.session_state[FRAME_KEY] = key


def _after_verdict(rows: Sequence[Row]) -> str | None:
    """Verdict callback: move the panel to the next flag to review, if any; returns the frame shown next."""
    following = formatting.next_to_review(rows, st.session_state.get(FRAME_KEY), _flags_only())
    if following is not None:
        _go_to(following)
    return following
