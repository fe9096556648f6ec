"""The Frame page: one frame in full, to decide on it.

Which frame: the query parameter ``image`` (a shareable URL, set by
:func:`dashboard.widgets.open_frame`), else the session's ``frame_image_id``, else
the first flag to review of the night picked at the top. Top to bottom: the image
(zscale, asinh or min-max; zoom and pan; y up as in ds9) beside its score, reasons,
verdict form and download; its histogram and its row and column profiles against
the reference's median profile; its nearest reference frames beside the difference
image; its quality numbers against their history; its header. Pixels are read from
the raw file when it is still there; without it, the page says so and shows what
the store keeps (thumbnail, profiles, quality numbers, identity).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import streamlit as st

from core import preprocess, qc
from core.config import Settings
from core.downloads import servable_file
from core.embed import expected_fingerprint
from core.fitsio import read_fits
from core.report import night_report
from core.rules import load_rules
from core.scoring import choose_reference
from core.store import Store, StoredImage
from dashboard import formatting, frame_figures, widgets
from dashboard.formatting import Row

TITLE = "Frame"
PICKER_KEY = "frame_page_image"
STRETCH_KEY = "frame_stretch"
STRETCH_WORDS = {"zscale": "zscale", "asinh": "asinh", "minmax": "min-max"}
HISTORY_NIGHTS = 30
CHARTS_PER_ROW = 3
NEIGHBOUR_HEIGHT = 260
NEIGHBOUR_WIDEST = 240
PLOT_CONFIG = {"displaylogo": False, "scrollZoom": True}


def page() -> None:
    """Draw the Frame page."""
    st.title(TITLE)
    settings = widgets.current_settings()
    store = widgets.current_store(settings)
    nights = store.nights()
    if not nights:
        st.info(
            f"No frames in the calspot home `{settings.home}` yet: ingest a night with `calspot ingest PATH` "
            "(or try `make demo`), then open a frame from the Night report.",
            icon="🔭",
        )
        return
    requested = _requested_image(store)
    pick_night, pick_frame = st.columns([1, 3], vertical_alignment="bottom")
    with pick_night:
        night = widgets.night_picker(nights, on_change=_forget_frame)
    rows = formatting.order_rows(night_report(store, night))
    images = {row["image_id"]: row for row in rows if row["image_id"] is not None}
    unreadable = [row for row in rows if row["image_id"] is None]
    if unreadable:
        names = ", ".join(formatting.escape_markdown(formatting.file_name(r)) for r in unreadable)
        st.caption(f"Files of this night that could not be read (review them on the Night report): {names}")
    if not images:
        st.info(f"Night {night} has no readable image to show. Pick another night.")
        return
    if requested not in images:
        requested = _show(_first_image(rows))
    st.session_state[PICKER_KEY] = requested
    with pick_frame:
        st.selectbox(
            "Frame",
            list(images),
            key=PICKER_KEY,
            format_func=lambda image_id: formatting.frame_label(images[image_id]),
            on_change=_picked,
        )
    _frame(store, settings, images[requested])


def _requested_image(store: Store) -> int | None:
    """The frame asked for by the URL or the session (its night becomes the night shown), or None."""
    text = st.query_params.get(widgets.FRAME_QUERY)
    requested: Any = text if text is not None else st.session_state.get(widgets.FRAME_IMAGE_KEY)
    if requested is None:
        return None
    try:
        image_id = int(requested)
    except (TypeError, ValueError):
        st.warning(f"`{formatting.escape_markdown(str(requested))}` is not an image number: pick a frame below.")
        return None
    found = store.image_rows([image_id])
    if not found:
        st.warning(f"The store has no image {image_id}: pick a frame below.")
        return None
    st.session_state["night"] = found[0].night
    return _show(image_id)


def _show(image_id: int) -> int:
    """Remember the frame shown, in the session and in the URL."""
    st.session_state[widgets.FRAME_IMAGE_KEY] = image_id
    st.query_params[widgets.FRAME_QUERY] = str(image_id)
    return image_id


def _first_image(rows: Sequence[Row]) -> int:
    """The first flagged image without a verdict, else the first image (rows in review order)."""
    readable = [row for row in rows if row["image_id"] is not None]
    key = formatting.first_to_review(readable)
    return next(row["image_id"] for row in readable if formatting.frame_key(row) == key)


def _forget_frame() -> None:
    """Night picker callback: another night, so its first flag to review is shown."""
    st.session_state.pop(widgets.FRAME_IMAGE_KEY, None)
    st.query_params.pop(widgets.FRAME_QUERY, None)


def _picked() -> None:
    _show(st.session_state[PICKER_KEY])


# the frame ---------------------------------------------------------------------------


def _frame(store: Store, settings: Settings, row: Row) -> None:
    fingerprint = expected_fingerprint(settings)
    [stored] = store.images(fingerprint, qc.QC_VERSION, image_ids=[row["image_id"]])
    pixels = _pixels_or_reason(row["path"], row["ext"], settings)
    picture, facts = st.columns([3, 2], gap="large")
    with picture:
        _picture(row, pixels)
    with facts:
        widgets.frame_heading(row)
        widgets.reasons(row)
        widgets.verdict_form(store, row)
        _download(row["path"], settings)
        widgets.frame_facts(row)
    _histogram_and_profiles(_reference_frames(store, settings, fingerprint, row), stored, pixels)
    _nearest_frames(store, row)
    _quality_history(store, row, stored)
    _header(store, row, pixels)


def _pixels_or_reason(path: str, ext: int, settings: Settings) -> dict[str, Any] | str:
    """What the raw file gives (see :func:`_read_pixels`), or why it gives nothing now."""
    try:
        status = os.stat(path)
    except OSError:
        return f"The file is no longer at `{formatting.escape_markdown(path)}`: what the store keeps is shown."
    return _read_pixels(path, ext, status.st_mtime_ns, status.st_size, settings.rules_dirs, settings.night_offset_hours)


@st.cache_data(max_entries=8, show_spinner="Reading the raw file…")
def _read_pixels(
    path: str, ext: int, mtime_ns: int, size: int, rules_dirs: tuple[Path, ...], night_offset_hours: float
) -> dict[str, Any] | str:
    """The displays (every stretch), histogram and whole header of one image of a raw file, or why it cannot be read.

    Cached by path, extension, modification time and size, so that a file changed on
    disk is read again.
    """
    try:
        reading = read_fits(path, load_rules(rules_dirs), night_offset_hours)
    except Exception as exc:  # the page stands without the pixels
        return f"The file cannot be read now ({type(exc).__name__}: {exc}): what the store keeps is shown."
    if reading.error:
        return f"The file cannot be read now ({reading.error}): what the store keeps is shown."
    image = next((i for i in reading.images if i.ext == ext), None)
    if image is None:
        found = ", ".join(str(i.ext) for i in reading.images) or "none"
        return f"The file has no image extension {ext} now (it has: {found}): what the store keeps is shown."
    return {
        "shape": image.shape,
        "displays": {stretch: preprocess.display_image(image.pixels, stretch) for stretch in preprocess.STRETCHES},
        "histogram": preprocess.pixel_histogram(image.pixels),
        "header": [(card.keyword, str(card.value), card.comment) for card in image.header.cards],
    }


def _picture(row: Row, pixels: dict[str, Any] | str) -> None:
    if isinstance(pixels, str):
        st.warning(pixels, icon="📁")
        if row["thumbnail"]:
            st.image(row["thumbnail"], caption="the thumbnail stored at ingest (zscale)", width=420)
        return
    stretch = (
        st.segmented_control(
            "Stretch",
            list(preprocess.STRETCHES),
            key=STRETCH_KEY,
            default="zscale",
            format_func=STRETCH_WORDS.get,
            help="zscale: as raw frames are looked at; asinh: faint and bright structure at once; min-max: every pixel.",
        )
        or "zscale"
    )
    display = pixels["displays"][stretch]
    ny, nx = pixels["shape"]
    fy, fx = display.factor
    blocks = f", shown in blocks of {fy} x {fx} pixels" if fy * fx > 1 else ""
    st.plotly_chart(frame_figures.image_heatmap(display, f"{nx} x {ny} pixels{blocks}"), key="frame_image", config=PLOT_CONFIG)


def _download(path: str, settings: Settings) -> None:
    """A download of the original file: the path the store holds (never one from the browser), under the data roots."""
    file = servable_file(path, settings.data_roots)
    if file is None:
        gone = not Path(path).is_file()
        st.caption(
            "The original file is no longer on disk: nothing to download."
            if gone
            else "The original file lies outside the folders this dashboard serves (data_roots): not offered."
        )
        return
    st.download_button(
        "Download the original file",
        data=file.read_bytes,
        file_name=Path(path).name,
        mime="application/fits",
        key="frame_download",
        on_click="ignore",
        icon="⬇️",
    )


def _reference_frames(store: Store, settings: Settings, fingerprint: str, row: Row) -> list[StoredImage]:
    """The frames the detector compares this one with (chosen as scoring chooses them), without the frame itself."""
    group = store.images(fingerprint, qc.QC_VERSION, night=row["night"], image_type=row["image_type"], mode=row["mode"])
    reference = choose_reference(store, row["night"], row["image_type"], row["mode"], group, settings, fingerprint)
    return [f for f in reference.frames if f.image_id != row["image_id"]]


def _histogram_and_profiles(others: Sequence[StoredImage], stored: StoredImage, pixels: dict[str, Any] | str) -> None:
    name = formatting.reference_name(len(others), len({f.night for f in others}))
    histogram, rows_profile, cols_profile = st.columns(3)
    with histogram:
        if isinstance(pixels, dict):
            display = pixels["displays"][st.session_state.get(STRETCH_KEY) or "zscale"]
            st.plotly_chart(
                frame_figures.histogram_figure(*pixels["histogram"], limits=display.limits),
                key="frame_histogram",
                config=PLOT_CONFIG,
            )
        else:
            st.caption("No histogram: the pixels cannot be read.")
    for column, axis in ((rows_profile, "rows"), (cols_profile, "cols")):
        with column:
            profile = stored.profiles.get(axis)
            median = preprocess.median_profile([f.profiles[axis] for f in others if axis in f.profiles])
            if profile is None and median is None:
                st.caption("No profile stored for this frame or its reference.")
                continue
            binning = float(stored.metrics.get(f"profile_bin_{axis}", 1.0))
            st.plotly_chart(
                frame_figures.profile_figure(axis, profile, median, binning, name),
                key=f"frame_profile_{axis}",
                config=PLOT_CONFIG,
            )


def _nearest_frames(store: Store, row: Row) -> None:
    neighbours = row["details"].get("neighbours", [])
    st.subheader("Nearest reference frames")
    if not neighbours:
        st.caption("No nearest reference frames were stored with this score (no reference with descriptors).")
        return
    ids = [n["image_id"] for n in neighbours]
    found = {r.image_id: r for r in store.image_rows(ids)}
    thumbnails = {r["image_id"]: r for night in sorted({f.night for f in found.values()}) for r in night_report(store, night)}
    columns = st.columns(len(neighbours) + 2)
    with columns[0]:
        if row["thumbnail"]:
            st.image(row["thumbnail"], caption="this frame", width=_width(row["thumbnail"]))
    for column, neighbour in zip(columns[1:], neighbours, strict=False):
        with column:
            shown = thumbnails.get(neighbour["image_id"])
            if shown is None or not shown["thumbnail"]:
                st.caption(f"image {neighbour['image_id']}: no longer in the store")
                continue
            caption = formatting.neighbour_caption(shown, neighbour["distance"])
            st.image(shown["thumbnail"], caption=caption, width=_width(shown["thumbnail"]))
            if st.button("Open", key=f"open_neighbour_{neighbour['image_id']}", width="stretch"):
                widgets.open_frame(neighbour["image_id"])
    with columns[-1]:
        if row.get("difference"):
            st.image(row["difference"], caption=formatting.difference_caption(row["details"]), width=_width(row["difference"]))
        else:
            st.caption("No difference image stored (the frames differ in size, or no previews).")


def _width(png: bytes) -> int:
    return formatting.picture_width(png, NEIGHBOUR_HEIGHT, NEIGHBOUR_WIDEST)


def _quality_history(store: Store, row: Row, stored: StoredImage) -> None:
    st.subheader("Quality numbers against their history")
    if not stored.metrics:
        st.caption("No quality numbers stored for this frame.")
        return
    nights = [*store.earlier_nights(row["image_type"], row["mode"], row["night"], HISTORY_NIGHTS), row["night"]]
    history = [r for r in store.image_rows(nights=nights, image_type=row["image_type"], mode=row["mode"]) if r.image_id != row["image_id"]]
    values = store.metrics([r.image_id for r in history], qc.QC_VERSION)
    charted = formatting.deviating_metrics(row["details"], stored.metrics)
    widgets.deviations(row)
    if not history:
        st.caption("No other frame of this type and mode in the store yet: nothing to compare with.")
    elif not charted:
        st.caption(
            f"No quality number deviates from its reference by {formatting.DEVIATING_SIGMA:g} sigma or more "
            "(what deviates is then the descriptor or the profiles above)."
        )
    for start in range(0, len(charted), CHARTS_PER_ROW):
        for column, deviation in zip(st.columns(CHARTS_PER_ROW), charted[start : start + CHARTS_PER_ROW], strict=False):
            with column:
                points = formatting.metric_history(history, values, deviation["metric"])
                st.plotly_chart(
                    frame_figures.metric_history_figure(
                        deviation["label"],
                        deviation.get("unit", ""),
                        points,
                        stored.metrics[deviation["metric"]],
                        row["date_obs"] or row["night"],
                        deviation.get("reference"),
                        deviation.get("scatter"),
                    ),
                    key=f"frame_metric_{deviation['metric']}",
                    config=PLOT_CONFIG,
                )
    with st.expander(f"Every quality number ({len(stored.metrics)}) against the last {len(nights)} nights"):
        st.dataframe(
            formatting.quality_table(
                stored.metrics, [values[r.image_id] for r in history if r.image_id in values], row["category"], row["details"]
            ),
            hide_index=True,
            column_config={
                "value": st.column_config.NumberColumn(format="%.4g"),
                "history median": st.column_config.NumberColumn(format="%.4g"),
                "history 10 %": st.column_config.NumberColumn(format="%.4g"),
                "history 90 %": st.column_config.NumberColumn(format="%.4g"),
                "z": st.column_config.NumberColumn("z (sigma)", format="%+.1f"),
            },
        )


def _header(store: Store, row: Row, pixels: dict[str, Any] | str) -> None:
    st.subheader("Header")
    if isinstance(pixels, dict):
        st.dataframe(formatting.header_table(pixels["header"]), hide_index=True, height=400)
        return
    [image] = store.image_rows([row["image_id"]])
    kept = store.headers([row["image_id"]]).get(row["image_id"], {})
    st.caption("The file cannot be read: what the store keeps of the frame's header and identity.")
    if kept:
        st.dataframe(formatting.header_table((keyword, str(value), "") for keyword, value in kept.items()), hide_index=True)
    st.dataframe(formatting.identity_table(image), hide_index=True)
