"""Streamlit pieces the pages share: the store, the night picker, the frame panel, the verdict form.

The store is opened once per process and URL (``st.cache_resource``); rows are read
fresh on every rerun, so that a verdict or a new ingest shows at once. Session-state
keys used here: ``reviewer`` (the form's field), ``reviewer_name`` (remembered across
frames and pages), ``verdict_note`` and ``verdict_message`` (the last verdict's
outcome, shown once under its frame).
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from core.config import Settings, load_settings
from core.store import Store, StoreError
from dashboard import formatting
from dashboard.formatting import Row

RANDOM_WEIGHTS_WARNING = (
    "Descriptors use random ResNet-50 weights: ImageNet weights were not available. "
    "Scores still compare frames with their history, but the descriptor distance is weaker; "
    "put the ImageNet weights in the Keras cache and ingest again."
)


@st.cache_resource(show_spinner=False)
def open_store(url: str) -> Store:
    """The store at a URL, opened once per process (its connection pool is shared by sessions)."""
    return Store(url)


def current_settings() -> Settings:
    """The settings of the home in ``$CALSPOT_HOME``; stops the page with an error if they are invalid."""
    try:
        return load_settings()
    except (ValueError, OSError) as error:
        st.error(f"The settings of the calspot home cannot be read: {error}")
        st.stop()


def current_store(settings: Settings) -> Store:
    """The home's store; stops the page with an error when it cannot be opened."""
    try:
        return open_store(settings.store_url)
    except StoreError as error:
        st.error(f"The store cannot be opened: {error}")
        st.stop()


def night_picker(nights: Sequence[str]) -> str:
    """A select box of nights, newest first; the most recent night is the default."""
    newest_first = list(reversed(nights))
    return st.selectbox(
        "Night",
        newest_first,
        key="night",
        format_func=lambda night: f"{night} (latest)" if night == newest_first[0] else night,
        help="A night is named by the date on which it began.",
    )


def weights_banner(rows: Sequence[Row]) -> None:
    """Warn loudly when any score rests on descriptors from random network weights."""
    if formatting.uses_random_weights(rows):
        st.warning(RANDOM_WEIGHTS_WARNING, icon="⚠️")


def frame_panel(store: Store, row: Row) -> None:
    """Everything about one frame an expert needs to decide: picture, reasons, deviations, neighbours, form."""
    picture, facts = st.columns([1, 2], gap="large")
    with picture:
        if row["thumbnail"]:
            st.image(row["thumbnail"], caption=formatting.file_name(row), width="content")
        else:
            st.caption("No picture: the file could not be read." if row["ext"] is None else "No thumbnail stored.")
        if row.get("difference"):
            st.image(row["difference"], caption=formatting.difference_caption(row["details"]), width="content")
    with facts:
        _frame_facts(row)
        st.markdown("**Reasons**")
        st.markdown("\n".join(f"- {formatting.escape_markdown(reason)}" for reason in row["reasons"]) or "none")
        deviations = formatting.deviations_table(row["details"])
        if not deviations.empty:
            st.markdown("**Deviations from the reference**")
            st.dataframe(
                deviations,
                hide_index=True,
                column_config={
                    "value": st.column_config.NumberColumn(format="%.4g"),
                    "reference": st.column_config.NumberColumn(format="%.4g"),
                    "z": st.column_config.NumberColumn("z (sigma)", format="%+.1f"),
                },
            )
        neighbours = formatting.neighbours_table(row["details"])
        if not neighbours.empty:
            st.markdown("**Nearest reference frames**")
            st.dataframe(
                neighbours,
                hide_index=True,
                column_config={"distance": st.column_config.NumberColumn("cosine distance", format="%.4f")},
            )
        verdict_form(store, row)


def _frame_facts(row: Row) -> None:
    lines = [f"**{formatting.escape_markdown(formatting.image_type_name(row))}**"]
    if row["mode"]:
        lines.append(f"mode {formatting.escape_markdown(row['mode'])}")
    if row["date_obs"] is not None:
        lines.append(f"observed {row['date_obs']:%Y-%m-%d %H:%M:%S} UT")
    if row["exptime"] is not None:
        lines.append(f"exposure {row['exptime']:g} s")
    if row["score"] is not None:
        threshold = f" (threshold {row['threshold']:.2f})" if row["threshold"] is not None else ""
        lines.append(f"score {row['score']:.2f}{threshold}")
    st.markdown(" · ".join(lines))
    st.caption(f"Compared with {formatting.reference_summary(row)}. File: `{row['path']}`")


def verdict_form(store: Store, row: Row) -> None:
    """Accept or reject a frame; the verdict is appended to the store's labels.

    The reviewer's name is remembered for the session. The outcome (confirmation or
    the store's reason for refusing) is shown under the form once.
    """
    key = formatting.frame_key(row)
    if row["verdict"]:
        st.markdown(f"**Current verdict:** {_verdict_line(store, row)}")
    if "reviewer" not in st.session_state:
        st.session_state["reviewer"] = st.session_state.get("reviewer_name", "")
    with st.form("verdict"):
        st.text_input("Reviewer", key="reviewer", placeholder="your name")
        st.text_area("Note", key="verdict_note", placeholder="optional: what you saw, what you did", height=80)
        accept, reject = st.columns(2)
        with accept:
            st.form_submit_button(
                "Accept", key="verdict_accept", on_click=_record_verdict, args=(store, row, "accept"), width="stretch"
            )
        with reject:
            st.form_submit_button(
                "Reject",
                key="verdict_reject",
                on_click=_record_verdict,
                args=(store, row, "reject"),
                type="primary",
                width="stretch",
            )
    message = st.session_state.get("verdict_message")
    if message and message[0] == key:
        _, kind, text = st.session_state.pop("verdict_message")
        (st.success if kind == "success" else st.error)(text)


def _verdict_line(store: Store, row: Row) -> str:
    word = formatting.verdict_word(row["verdict"])
    if row["image_id"] is None:
        return word
    latest = store.labels(row["image_id"])[-1]
    when = f"{latest.created_at:%Y-%m-%d %H:%M} UT"
    return f"{word} by {formatting.escape_markdown(latest.reviewer)}, {when}"


def _record_verdict(store: Store, row: Row, verdict: str) -> None:
    """Form callback: store the verdict, remember the reviewer, and leave the outcome to show."""
    key = formatting.frame_key(row)
    reviewer = st.session_state.get("reviewer", "")
    try:
        store.add_label(row["path"], row["ext"], verdict, reviewer, st.session_state.get("verdict_note", ""))
    except (KeyError, ValueError) as error:
        st.session_state["verdict_message"] = (key, "error", str(error.args[0] if error.args else error))
        return
    st.session_state["reviewer_name"] = reviewer.strip()
    st.session_state["verdict_note"] = ""
    name = formatting.escape_markdown(formatting.frame_name(row))
    by = formatting.escape_markdown(reviewer.strip())
    done = f"{formatting.verdict_word(verdict).capitalize()}: {name}, recorded for {by}."
    st.session_state["verdict_message"] = (key, "success", done)
