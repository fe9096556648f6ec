"""The Maps page: a night's frames among their history, on a UMAP, t-SNE or PCA map of the descriptors.

A night is drawn either with a sample of its own history (fitted together), or placed
on its instrument's historic map (fitted once, so that tonight's frames are seen among
the historic clusters). This night's frames are drawn larger, outlined, over the
history. A box or lasso selection lists the frames chosen, with their pictures, and
accepts or rejects them together; a click on one frame opens it. Maps are computed by
the nightly ingest; one that is not stored yet is computed here on demand, with a
progress bar.

A stored map, with its frames' rows and hover texts, is kept per process under the
store's :meth:`~core.store.Store.revision` (``st.cache_resource``): another method, a
rerun or another reviewer's session draws it at once, and an ingest, a rescore or a
verdict by anyone reads it anew.

Session-state keys: ``map_selection`` (image ids chosen on the map), ``map_open`` (a
clicked frame, opened at the next run), and the widgets' keys below.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
import streamlit as st

from core.cluster import cluster_frames
from core.embed import expected_fingerprint
from core.maps import MAP_METHODS, METHOD_NAMES, FrameMap, night_map, placed_night_map
from core.qc import QC_VERSION
from core.store import Store
from core.store.records import ImageRow
from dashboard import batch, figures, frame_rows, selection, widgets
from dashboard.night import empty_store_message

TITLE = "Maps"
CHART_KEY = "map_chart"
SELECTION_KEY = "map_selection"
OPEN_KEY = "map_open"
KINDS = {"night": "among its history", "placed": "on the historic map"}
HELP = (
    "Click a frame to open it. To select frames, choose the box or the lasso in the chart's toolbar and draw "
    "around them (shift adds to a selection, a double click clears it); drag to pan, scroll to zoom."
)


def page() -> None:
    """Draw the Maps page."""
    clicked = st.session_state.pop(OPEN_KEY, None)
    if clicked is not None:
        widgets.open_frame(clicked)
    st.title(TITLE)
    settings = widgets.current_settings()
    store = widgets.current_store(settings)
    nights = store.nights()
    if not nights:
        st.info(empty_store_message(str(settings.home)), icon="🗺️")
        return
    night_column, method_column, kind_column, instrument_column, colour_column = st.columns([2, 2, 3, 2, 2])
    with night_column:
        night = widgets.night_picker(nights)
    tonight_rows = store.image_rows(night=night)
    if not tonight_rows:
        st.info(f"The night {night} has no readable image to map: its files could not be read. See the Night report.")
        return
    with method_column:
        method = st.segmented_control(
            "Method", MAP_METHODS, key="map_method", default=MAP_METHODS[0], format_func=METHOD_NAMES.get, required=True
        )
    with kind_column:
        kind = st.segmented_control("Map", list(KINDS), key="map_kind", default="night", format_func=KINDS.get, required=True)
    instrument = None
    if kind == "placed":
        with instrument_column:
            instrument = st.selectbox("Instrument", sorted({r.instrument for r in tonight_rows}), key="map_instrument")
    with colour_column:
        colour_by = st.selectbox("Colour by", frame_rows.MAP_COLOURINGS, key="map_colour")
    fingerprint = expected_fingerprint(settings)
    revision = store.revision()
    view = _stored_or_computed(store, settings, night, method, instrument, fingerprint, revision)
    if view is None:
        return
    _draw(store, *view, colour_by, fingerprint, revision)


@st.cache_resource(show_spinner=False, max_entries=8)
def _stored_view(
    _store: Store, _settings, url: str, settings_text: str, night: str, method: str, instrument: str | None, revision: tuple[int, ...]
) -> tuple[FrameMap, list[str]] | None:
    """A stored map and its frames' hover texts, per store and revision (read-only: shared by sessions)."""
    frame_map = _map(_store, _settings, night, method, instrument, compute=False)
    if frame_map is None:
        return None
    return frame_map, [frame_rows.hover_text(row) for row in frame_map.rows]


def _stored_or_computed(
    store: Store, settings, night: str, method: str, instrument: str | None, fingerprint: str, revision: tuple[int, ...]
) -> tuple[FrameMap, list[str]] | None:
    """The stored map and its hover texts; else the offer to compute it (then a rerun shows it), or why there is none (None)."""
    view = _stored_view(store, settings, store.url, repr(settings), night, method, instrument, revision)
    if view is not None:
        return view
    rows = store.image_rows(night=night, instrument=instrument)
    if not store.descriptors([r.image_id for r in rows], fingerprint):
        st.info(
            f"No frame of {night} has a descriptor of the configured embedder (`{fingerprint}`), so there is "
            "nothing to map. Ingest the night again with this embedder (`calspot ingest PATH`): its frames are "
            "described anew and the maps follow.",
            icon="🗺️",
        )
        return None
    name = METHOD_NAMES[method]
    where = f"{instrument}'s historic map" if instrument else "a sample of its history"
    st.info(
        f"The {name} map of {night} on {where} is not stored yet: the nightly ingest computes the maps of the "
        "newest night (setting `map_methods`). It can be computed now; it is stored for everyone afterwards.",
        icon="🗺️",
    )
    if not st.button(f"Compute the {name} map now", key="map_compute", type="primary"):
        return None
    bar = st.progress(0.0, text=f"Computing the {name} map")
    try:
        frame_map = _map(
            store,
            settings,
            night,
            method,
            instrument,
            compute=True,
            progress=lambda fraction, text: bar.progress(min(max(fraction, 0.0), 1.0), text=text),
        )
    except ValueError as error:
        bar.empty()
        st.error(f"The map could not be computed: {error}")
        return None
    bar.empty()
    if frame_map is None:
        st.info(
            f"{instrument} has no frames with descriptors before {night}: there is no historic map to place "
            'this night on yet. Choose "among its history".'
        )
        return None
    st.rerun()


def _map(store: Store, settings, night: str, method: str, instrument: str | None, **options) -> FrameMap | None:
    if instrument is None:
        return night_map(store, night, settings, method, **options)
    return placed_night_map(store, night, settings, method, instrument, **options)


@st.cache_data(show_spinner="Clustering the map's frames by their pixels", max_entries=8)
def _clusters(_store: Store, url: str, map_key: str, image_ids: tuple[int, ...], fingerprint: str) -> dict[int, str]:
    """Image id -> cluster name of a map's frames (cached per store and map)."""
    frames = _store.images(fingerprint, QC_VERSION, image_ids=list(image_ids))
    clustering = cluster_frames(frames, _store.previews(image_ids, QC_VERSION))
    return {f.image_id: f"cluster {f.cluster}: {f.cluster_name}" for f in clustering.frames if f.cluster is not None}


@st.cache_resource(show_spinner=False, max_entries=16)
def _figure(
    _frame_map: FrameMap, _hover: list[str], _clusters: dict[int, str] | None, url: str, map_key: str, colour_by: str, revision: tuple
) -> go.Figure:
    """The map's figure, per store, map, colouring and revision (read-only: shared by sessions and reruns)."""
    rows = _frame_map.rows
    hover = [frame_rows.hover_text(r, _clusters.get(r.image_id)) for r in rows] if _clusters else _hover
    return figures.map_figure(
        _frame_map.coordinates,
        _frame_map.image_ids,
        _frame_map.tonight,
        hover,
        frame_rows.colouring(rows, colour_by, _clusters),
        method=_frame_map.method,
    )


def _draw(store: Store, frame_map: FrameMap, hover: list[str], colour_by: str, fingerprint: str, revision: tuple[int, ...]) -> None:
    rows = frame_map.rows
    clusters = None
    if colour_by == "cluster":
        try:
            clusters = _clusters(store, store.url, frame_map.key, tuple(int(i) for i in frame_map.image_ids), fingerprint)
        except ValueError as error:
            st.warning(f"The frames could not be clustered ({error}); colour by image type instead.")
    figure = _figure(frame_map, hover, clusters, store.url, frame_map.key, colour_by, revision)
    st.plotly_chart(
        figure,
        key=CHART_KEY,
        on_select=_remember_selection,
        selection_mode=("points", "box", "lasso"),
        config={"displaylogo": False, "scrollZoom": True},
    )
    st.caption(f"{frame_map.title}; this night's frames are the large, outlined points. {HELP}")
    chosen = _selected_rows(rows)
    if not chosen:
        st.caption("No frames selected.")
        return
    st.subheader(f"{len(chosen)} frame{'s' if len(chosen) != 1 else ''} selected")
    st.caption(frame_rows.type_counts(chosen) + ". Tick a row to open its frame.")
    batch.frames_list(store, chosen, key="map_selected")
    batch.batch_verdict_form(store, chosen, key="map_verdict")


def _remember_selection() -> None:
    """Chart callback: a click opens its frame at the next run; a box or lasso replaces the selection."""
    event = st.session_state[CHART_KEY]
    clicked = selection.clicked_image_id(event)
    if clicked is not None:
        st.session_state[OPEN_KEY] = clicked
        return
    st.session_state[SELECTION_KEY] = selection.selected_image_ids(event)


def _selected_rows(rows: Sequence[ImageRow]) -> list[ImageRow]:
    """The rows of the frames selected that are on this map, in the order of the map's rows."""
    chosen = set(st.session_state.get(SELECTION_KEY) or [])
    return [r for r in rows if r.image_id in chosen]
