"""Streamlit pieces the pages share: the store, the night picker, the frame panel, the verdict form.

The store is opened once per process and URL (``st.cache_resource``); rows are read
fresh on every rerun, so that a verdict or a new ingest shows at once. Session-state
keys used here: ``night`` (the night picker, shared by the pages), ``reviewer`` (the
form's field), ``reviewer_name`` (remembered across frames and pages),
``verdict_note`` and ``verdict_message`` (the last verdict's outcome, shown once
under the frame it concerns), ``frame_image_id`` (the frame the Frame page shows,
with the query parameter ``image``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import streamlit as st

from core.config import Settings, load_settings
from core.store import Store, StoreError
from dashboard import access, formatting
from dashboard.formatting import Row

FRAME_IMAGE_KEY = "frame_image_id"
FRAME_QUERY = "image"
FRAME_URL_PATH = "frame"
PICTURE_HEIGHT = 150
PICTURE_WIDEST = 112
RANDOM_WEIGHTS_WARNING = (
    "Descriptors use random ResNet-50 weights (no ImageNet weights found), so the descriptor distance is weaker; "
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


def night_picker(nights: Sequence[str], on_change: Callable[[], None] | None = None) -> str:
    """A select box of nights, newest first; the most recent night is the default.

    The choice is the session-state key ``night``, shared by the pages.
    """
    newest_first = list(reversed(nights))
    if st.session_state.get("night") not in newest_first:
        st.session_state.pop("night", None)
    return st.selectbox(
        "Night",
        newest_first,
        key="night",
        format_func=lambda night: f"{night} (latest)" if night == newest_first[0] else night,
        help="A night is named by the date on which it began.",
        on_change=on_change,
    )


def open_frame(image_id: int) -> None:
    """Show one frame on the Frame page (a shareable URL: ``/frame?image=ID``)."""
    from dashboard import frame  # the Frame page uses these widgets: imported when first needed

    st.session_state[FRAME_IMAGE_KEY] = int(image_id)
    st.query_params[FRAME_QUERY] = str(image_id)
    st.switch_page(st.Page(frame.page, title=frame.TITLE, url_path=FRAME_URL_PATH), query_params={FRAME_QUERY: str(image_id)})


def weights_banner(rows: Sequence[Row]) -> None:
    """Warn loudly when any score rests on descriptors from random network weights."""
    if formatting.uses_random_weights(rows):
        st.warning(RANDOM_WEIGHTS_WARNING, icon="⚠️")


def frame_panel(store: Store, row: Row, after_verdict: Callable[[], str | None] | None = None) -> None:
    """Everything about one frame an expert needs to decide, in one column: how far out, pictures, reasons, form.

    The name, score and small pictures share a row and the form follows the reasons,
    so that the verdict is in view beside the table; the facts, deviations and nearest
    reference frames follow. ``after_verdict`` is passed on to :func:`verdict_form`.
    """
    text, picture, difference = st.columns([5, 2, 2])
    with text:
        frame_heading(row)
    with picture:
        thumbnail(row)
    with difference:
        difference_picture(row)
    reasons(row)
    verdict_form(store, row, after=after_verdict)
    if row["image_id"] is not None and st.button(
        "Open on the Frame page", key="open_frame", icon=":material/open_in_new:", help="Pixels, histogram, profiles, history, header."
    ):
        open_frame(row["image_id"])
    frame_facts(row)
    deviations(row)
    neighbours(row)


def frame_heading(row: Row) -> None:
    """The frame's name and type, its score with how far out it is in words, and where its threshold comes from."""
    name = formatting.escape_markdown(formatting.frame_name(row))
    kind = formatting.escape_markdown(formatting.image_type_name(row))
    mode = f" · mode {formatting.escape_markdown(row['mode'])}" if row["mode"] else ""
    st.markdown(f"**{name}** · {kind}{mode}")
    if row["score"] is not None:
        st.markdown(
            f"{formatting.escape_markdown(formatting.score_line(row))}  \n"
            f":small[:gray[{formatting.escape_markdown(formatting.threshold_note(row['threshold'], row['details']))}]]"
        )


def frame_facts(row: Row) -> None:
    """When the frame was taken, its exposure, what it was compared with, and its file."""
    facts = []
    if row["date_obs"] is not None:
        facts.append(f"Observed {row['date_obs']:%Y-%m-%d %H:%M:%S} UT.")
    if row["exptime"] is not None:
        facts.append(f"Exposure {row['exptime']:g} s.")
    facts.append(f"Compared with {formatting.reference_summary(row)}.")
    facts.append(f"File: {row['path']}")
    st.caption(formatting.escape_markdown(" ".join(facts)))


def thumbnail(row: Row) -> None:
    """The frame's stored thumbnail, kept low (a tall frame is shown narrow)."""
    if row["thumbnail"]:
        width = formatting.picture_width(row["thumbnail"], PICTURE_HEIGHT, PICTURE_WIDEST)
        st.image(row["thumbnail"], caption="this frame (zscale)", width=width)
    else:
        st.caption("No picture: the file could not be read." if row["ext"] is None else "No thumbnail stored.")


def difference_picture(row: Row) -> None:
    """The frame minus the median of its nearest reference frames, when the score stored one."""
    if row.get("difference"):
        width = formatting.picture_width(row["difference"], PICTURE_HEIGHT, PICTURE_WIDEST)
        st.image(row["difference"], caption=formatting.difference_caption(row["details"], short=True), width=width)


def reasons(row: Row) -> None:
    """The frame's reasons, whole, one per line (text from the store, shown as text)."""
    st.markdown("**Reasons**")
    st.markdown("\n".join(f"- {formatting.escape_markdown(reason)}" for reason in row["reasons"]) or "none")


def deviations(row: Row) -> None:
    """The numbers that deviate from the reference, with how far out each is in words."""
    table = formatting.deviations_table(row["details"])
    if table.empty:
        return
    st.markdown("**Deviations from the reference**")
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            "quantity": st.column_config.TextColumn(width="medium"),
            "value": st.column_config.NumberColumn(format="%.4g"),
            "reference": st.column_config.NumberColumn(format="%.4g"),
            "z": st.column_config.NumberColumn("z (sigma)", format="%+.1f", help="Deviation in calibrated sigma."),
        },
    )


def neighbours(row: Row) -> None:
    """The nearest reference frames by descriptor distance."""
    table = formatting.neighbours_table(row["details"])
    if table.empty:
        return
    st.markdown("**Nearest reference frames**")
    st.dataframe(
        table,
        hide_index=True,
        column_config={"distance": st.column_config.NumberColumn("cosine distance", format="%.4f")},
    )


def verdict_form(store: Store, row: Row, after: Callable[[], str | None] | None = None) -> None:
    """Accept or reject a frame; the verdict is appended to the store's labels.

    The reviewer's name is remembered for the session. The outcome (confirmation or
    the store's reason for refusing) is shown once, under the frame shown next.

    Parameters
    ----------
    store, row
        Where to record the verdict, and the report row of the frame.
    after
        Called once a verdict is stored (inside the form's callback, so it may set
        session state): returns the key (:func:`formatting.frame_key`) of the frame
        the page shows next, or None to stay on this one.
    """
    key = formatting.frame_key(row)
    if row["verdict"]:
        st.markdown(f"**Current verdict:** {_verdict_line(store, row)}")
    if "reviewer" not in st.session_state:
        st.session_state["reviewer"] = st.session_state.get("reviewer_name", "")
    account = access.logged_in(store)
    with st.form("verdict"):
        who, what = st.columns([1, 2])
        with who:
            if account is None:
                st.text_input("Reviewer", key="reviewer", placeholder="your name")
            else:
                st.markdown(f"**Reviewer:** {formatting.escape_markdown(account.name)}")
        with what:
            st.text_area("Note", key="verdict_note", placeholder="optional: what you saw, what you did", height=68)
        accept, reject = st.columns(2)
        with accept:
            st.form_submit_button(
                "Accept",
                key="verdict_accept",
                on_click=_record_verdict,
                args=(store, row, "accept", after),
                width="stretch",
            )
        with reject:
            st.form_submit_button(
                "Reject",
                key="verdict_reject",
                on_click=_record_verdict,
                args=(store, row, "reject", after),
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


def _record_verdict(store: Store, row: Row, verdict: str, after: Callable[[], str | None] | None) -> None:
    """Form callback: store the verdict, remember the reviewer, move on if asked, and leave the outcome to show."""
    key = formatting.frame_key(row)
    reviewer = access.acting_name(access.logged_in(store), st.session_state.get("reviewer", ""))
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
    following = after() if after is not None else None
    if following is not None and following != key:
        done += " Showing the next flag to review."
    st.session_state["verdict_message"] = (following or key, "success", done)
