"""The Dendrogram page: one image type and mode, this night's frames among a sample of their history.

Frames are joined by the cosine distance of their descriptors, average linkage (the
proof of concept's dendrogram). The leaves are coloured by flag, verdict or night,
this night's drawn larger and outlined; a cut height gives the clusters, drawn as a
line and as bands under the leaves, and listed with their members. The members of a
cluster can be accepted or rejected together; a click on a leaf opens its frame.
"""

from __future__ import annotations

import streamlit as st

from core.dendrogram import FrameTree, frame_tree, tree_image_ids
from core.embed import expected_fingerprint
from core.store import Store
from dashboard import batch, figures, frame_rows, selection, widgets
from dashboard.night import empty_store_message

TITLE = "Dendrogram"
CHART_KEY = "tree_chart"
OPEN_KEY = "tree_open"
HISTORY_SIZES = (0, 50, 100, 200, 500, 1000, 2000)
CUT_STEPS = 200


def page() -> None:
    """Draw the Dendrogram page."""
    clicked = st.session_state.pop(OPEN_KEY, None)
    if clicked is not None:
        widgets.open_frame(clicked)
    st.title(TITLE)
    settings = widgets.current_settings()
    store = widgets.current_store(settings)
    nights = store.nights()
    if not nights:
        st.info(empty_store_message(str(settings.home)), icon="🌳")
        return
    night_column, group_column, history_column, colour_column = st.columns([2, 4, 2, 2])
    with night_column:
        night = widgets.night_picker(nights)
    counts: dict[tuple[str, str, str], int] = {}
    for row in store.image_rows(night=night):
        group = (row.instrument, row.image_type, row.mode)
        counts[group] = counts.get(group, 0) + 1
    if not counts:
        st.info(f"The night {night} has no readable image: its files could not be read. See the Night report.")
        return
    with group_column:
        group = st.selectbox(
            "Image type and mode",
            sorted(counts),
            key="tree_group",
            format_func=lambda g: f"{g[1]} · {g[2] or 'no mode'} ({counts[g]} frame{'s' if counts[g] != 1 else ''} this night)",
        )
    sizes = sorted({*HISTORY_SIZES, settings.map_history_per_type})
    with history_column:
        history_size = st.select_slider(
            "History frames",
            sizes,
            value=settings.map_history_per_type,
            key="tree_history",
            help="Frames of earlier nights of this type and mode, spread over its history.",
        )
    with colour_column:
        colour_by = st.selectbox("Colour leaves by", frame_rows.LEAF_COLOURINGS, key="tree_colour")
    fingerprint = expected_fingerprint(settings)
    tonight, history = tree_image_ids(store, settings, night, *group, fingerprint, history_per_type=history_size)
    tree = _tree(store, store.url, tuple(tonight), tuple(history), fingerprint)
    if tree is None:
        _nothing_to_join(store, len(tonight) + len(history), group[1], fingerprint)
        return
    _draw(store, tree, night, group, colour_by)


@st.cache_data(show_spinner="Joining the frames", max_entries=16)
def _tree(_store: Store, url: str, tonight: tuple[int, ...], history: tuple[int, ...], fingerprint: str) -> FrameTree | None:
    """The dendrogram of these frames (cached per store and set of frames)."""
    return frame_tree(_store, tonight, history, fingerprint)


def _nothing_to_join(store: Store, frames: int, image_type: str, fingerprint: str) -> None:
    if frames <= 1:
        st.info(
            f"{image_type} has only one frame so far: a dendrogram joins two or more. It grows as nights are "
            "ingested; meanwhile the frame is on the Night report and the Maps.",
            icon="🌳",
        )
        return
    st.info(
        f"Fewer than two of the {frames} frames of {image_type} have a descriptor of the configured embedder "
        f"(`{fingerprint}`). Ingest their nights again with this embedder (`calspot ingest PATH`) to join them.",
        icon="🌳",
    )


def _draw(store: Store, tree: FrameTree, night: str, group: tuple[str, str, str], colour_by: str) -> None:
    by_id = {r.image_id: r for r in store.image_rows(tree.image_ids.tolist())}
    rows = [by_id[int(i)] for i in tree.image_ids]
    leaves = tree.tree.leaves
    top = tree.max_height
    if top > 0:
        cut = st.slider(
            "Cut height (cosine distance)",
            0.0,
            round(1.05 * top, 6),
            value=round(tree.default_cut, 6),
            step=round(1.05 * top / CUT_STEPS, 6) or None,
            format="%.4f",
            key=f"tree_cut:{night}:{group}",
            help="Frames joined below this height form one cluster.",
        )
    else:
        st.caption("The frames' descriptors are identical: one cluster.")
        cut = 0.0
    labels = tree.clusters(cut)
    leaf_rows = [rows[i] for i in leaves]
    figure = figures.dendrogram_figure(
        tree.tree.icoord,
        tree.tree.dcoord,
        tree.leaf_ids,
        [frame_rows.hover_text(r) for r in leaf_rows],
        tree.tonight[leaves],
        frame_rows.colouring(leaf_rows, colour_by),
        cut_height=cut if top > 0 else None,
        leaf_clusters=labels[leaves],
    )
    history = len(rows) - int(tree.tonight.sum())
    clusters = int(labels.max())
    missing = f" {tree.without_descriptor} frames without a descriptor are left out." if tree.without_descriptor else ""
    st.caption(
        f"{len(rows)} frames: {int(tree.tonight.sum())} of {night} (large, outlined) and {history} of earlier nights. "
        f"{clusters} cluster{'s' if clusters != 1 else ''} at the cut {cut:.4f}. Click a leaf to open its frame.{missing}"
    )
    st.plotly_chart(figure, key=CHART_KEY, on_select=_open_clicked, selection_mode="points", config={"displaylogo": False})
    st.subheader("Clusters at the cut")
    table = frame_rows.clusters_table(rows, labels, tree.tonight)
    st.dataframe(table, hide_index=True, column_config={"members": st.column_config.TextColumn("first members", width="large")})
    _members(store, rows, labels, table)


def _members(store: Store, rows, labels, table) -> None:
    """The frames of one cluster (the first holding a flag of this night by default), with one verdict for all."""
    sizes = dict(zip(table["cluster"], table["frames"], strict=True))
    tonight = dict(zip(table["cluster"], table["this night"], strict=True))
    flagged = [c for c, f, n in zip(table["cluster"], table["flagged"], table["this night"], strict=True) if f and n]
    options = list(table["cluster"])
    default = flagged[0] if flagged else next((c for c in options if tonight[c]), options[0])
    chosen = st.selectbox(
        "Members of cluster",
        options,
        index=options.index(default),
        key="tree_cluster",
        format_func=lambda c: f"cluster {c}: {sizes[c]} frame{'s' if sizes[c] != 1 else ''}, {tonight[c]} of this night",
    )
    members = [row for row, label in zip(rows, labels, strict=True) if label == chosen]
    batch.frames_list(store, members, key="tree_members")
    batch.batch_verdict_form(store, members, key="tree_verdict")


def _open_clicked() -> None:
    """Chart callback: the clicked leaf's frame opens at the next run."""
    clicked = selection.clicked_image_id(st.session_state[CHART_KEY])
    if clicked is not None:
        st.session_state[OPEN_KEY] = clicked
