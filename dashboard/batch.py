"""Several frames at once: their list with pictures, one verdict and one note for them all.

The Maps page lists the frames of a box or lasso selection here; the Dendrogram page
the members of a cluster. Ticking a row of the list opens that frame. The reviewer's
name is remembered for the session under ``reviewer_name``, as the Night page's form
remembers it, so that a reviewer types it once whatever the page.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from core.store import Store
from core.store.records import ImageRow
from dashboard import access, formatting, frame_rows, widgets

MAX_LISTED = 200
ROW_HEIGHT = 48


def frames_list(store: Store, rows: Sequence[ImageRow], *, key: str) -> None:
    """The frames with their pictures, the first :data:`MAX_LISTED` of them; ticking a row opens its frame."""
    listed = list(rows[:MAX_LISTED])
    if len(rows) > len(listed):
        st.caption(f"The first {len(listed)} of {len(rows)} frames are listed; the verdict below is for all {len(rows)}.")
    thumbnails = store.thumbnails([r.image_id for r in listed])
    table_key = f"{key}_table"
    st.dataframe(
        frame_rows.frames_table(listed, thumbnails),
        key=table_key,
        hide_index=True,
        on_select="rerun",
        selection_mode="single-row",
        row_height=ROW_HEIGHT,
        column_config={
            "thumbnail": st.column_config.ImageColumn("picture", width="small"),
            "ext": st.column_config.NumberColumn("ext", format="%d", width=48),
            "score": st.column_config.NumberColumn("score", format="%.2f", width="small"),
            "threshold": st.column_config.NumberColumn("threshold", format="%.2f", width="small"),
            "flag": st.column_config.TextColumn("", width=32, help="⚑ flagged"),
            "reasons": st.column_config.TextColumn("reasons", width="large"),
        },
    )
    chosen = st.session_state[table_key]["selection"]["rows"]
    if chosen:
        widgets.open_frame(listed[chosen[0]].image_id)


def batch_verdict_form(store: Store, rows: Sequence[ImageRow], *, key: str) -> None:
    """Accept or reject every frame of ``rows`` with one note; the outcome is shown under the form once."""
    reviewer_key, note_key = f"{key}_reviewer", f"{key}_note"
    if reviewer_key not in st.session_state:
        st.session_state[reviewer_key] = st.session_state.get("reviewer_name", "")
    count = len(rows)
    account = access.logged_in(store)
    with st.form(f"{key}_form"):
        if account is None:
            st.text_input("Reviewer", key=reviewer_key, placeholder="your name")
        else:
            st.markdown(f"**Reviewer:** {formatting.escape_markdown(account.name)}")
        st.text_area("Note", key=note_key, placeholder="optional: one note for all of these frames", height=80)
        accept, reject = st.columns(2)
        with accept:
            st.form_submit_button(
                f"Accept these {count}",
                key=f"{key}_accept",
                on_click=_record,
                args=(store, rows, "accept", key),
                width="stretch",
            )
        with reject:
            st.form_submit_button(
                f"Reject these {count}",
                key=f"{key}_reject",
                on_click=_record,
                args=(store, rows, "reject", key),
                type="primary",
                width="stretch",
            )
    message = st.session_state.pop(f"{key}_message", None)
    if message:
        kind, text = message
        (st.success if kind == "success" else st.error)(text)


def _record(store: Store, rows: Sequence[ImageRow], verdict: str, key: str) -> None:
    """Form callback: one label per frame, the reviewer remembered, the outcome left to show."""
    reviewer = access.acting_name(access.logged_in(store), st.session_state.get(f"{key}_reviewer", ""))
    note = st.session_state.get(f"{key}_note", "")
    if not reviewer:
        st.session_state[f"{key}_message"] = ("error", "A verdict needs the reviewer's name.")
        return
    failures = []
    for row in rows:
        try:
            store.add_label(row.path, row.ext, verdict, reviewer, note)
        except (KeyError, ValueError) as error:
            failures.append(f"{frame_rows.frame_name(row)}: {error.args[0] if error.args else error}")
    st.session_state["reviewer_name"] = reviewer
    done = len(rows) - len(failures)
    word = formatting.verdict_word(verdict)
    text = f"{word.capitalize()}: {done} frame{'s' if done != 1 else ''}, recorded for {formatting.escape_markdown(reviewer)}."
    if failures:
        listed = "; ".join(formatting.escape_markdown(f) for f in failures[:3])
        st.session_state[f"{key}_message"] = ("error", f"{text} Not recorded: {listed}")
        return
    st.session_state[f"{key}_note"] = ""
    st.session_state[f"{key}_message"] = ("success", text)
