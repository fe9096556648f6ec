"""Lists of frames (:class:`core.store.ImageRow`) turned into what the analytics pages show.

Hover texts, colourings by image type, score, flag, verdict, night or cluster, the table
of frames chosen on a map or in a cluster, and the table of a dendrogram's clusters.
Nothing here imports Streamlit, so that what the Maps, Dendrogram and History pages
show is tested without running them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from core.store.records import ImageRow
from dashboard import figures
from dashboard.formatting import FLAG_MARK, VERDICT_WORDS, reason_summary, thumbnail_uri

FLAG_COLOURS = {"flagged": "#f58518", "not flagged": "#4c78a8", "not scored": figures.MISSING_COLOUR}
VERDICT_COLOURS = {"rejected": "#e45756", "accepted": "#54a24b", "no verdict": figures.MISSING_COLOUR}
MAP_COLOURINGS = ("image type", "score", "flag", "verdict", "night", "cluster")
LEAF_COLOURINGS = ("flag", "verdict", "night")
FRAME_COLUMNS = ["thumbnail", "file", "ext", "night", "image type", "mode", "score", "threshold", "flag", "verdict", "reasons"]
CLUSTER_COLUMNS = ["cluster", "frames", "this night", "flagged", "rejected", "first night", "last night", "members"]
MEMBERS_SHOWN = 6


def file_name(row: ImageRow) -> str:
    """The file's name without its folder (a string split: maps name ten thousand frames at a time)."""
    return row.path.rsplit("/", 1)[-1]


def frame_name(row: ImageRow) -> str:
    """``UVES.2024-03-02T20:01.fits ext 1``: what names a frame in a list or a hover."""
    return f"{file_name(row)} ext {row.ext}"


def flag_word(row: ImageRow) -> str:
    """``flagged``, ``not flagged``, or ``not scored`` before the frame's first score."""
    if row.flagged is None:
        return "not scored"
    return "flagged" if row.flagged else "not flagged"


def verdict_label(row: ImageRow) -> str:
    """``accepted``, ``rejected`` or ``no verdict``."""
    return VERDICT_WORDS.get(row.verdict or "", "no verdict")


def score_text(row: ImageRow) -> str:
    """``score 7.50 (threshold 3.00)``, or ``not scored``."""
    if row.score is None:
        return "not scored"
    threshold = f" (threshold {row.threshold:.2f})" if row.threshold is not None else ""
    return f"score {row.score:.2f}{threshold}"


def hover_text(row: ImageRow, cluster: str | None = None) -> str:
    """What the hover over a frame says: file and extension, type, night, score, flag, verdict, first reason.

    Plain text, lines separated by newlines (the figures escape it and break the lines).
    """
    state = [score_text(row), flag_word(row)]
    if row.verdict:
        state.append(verdict_label(row))
    lines = [
        frame_name(row),
        f"{row.image_type} · mode {row.mode} · night {row.night}" if row.mode else f"{row.image_type} · night {row.night}",
        " · ".join(state),
    ]
    if cluster:
        lines.append(cluster)
    if row.reasons:
        lines.append(reason_summary(row.reasons, shown=1))
    return "\n".join(lines)


def colouring(rows: Sequence[ImageRow], by: str, clusters: Mapping[int, str] | None = None) -> figures.Colouring:
    """The colours of frames by one of :data:`MAP_COLOURINGS`.

    Parameters
    ----------
    rows
        The frames, in the order of the points.
    by
        ``image type``, ``score`` (over threshold), ``flag``, ``verdict``, ``night`` or ``cluster``.
    clusters
        Image id -> cluster name, for ``cluster`` (frames without one are "not clustered").

    Raises
    ------
    ValueError
        For an unknown ``by``.
    """
    if by == "image type":
        return figures.categories("image type", [r.image_type for r in rows])
    if by == "score":
        return figures.score_numbers("score / threshold", [r.score for r in rows], [r.threshold for r in rows])
    if by == "flag":
        return figures.categories("flag", [flag_word(r) for r in rows], FLAG_COLOURS)
    if by == "verdict":
        return figures.categories("verdict", [verdict_label(r) for r in rows], VERDICT_COLOURS)
    if by == "night":
        return figures.night_numbers("night", [r.night for r in rows])
    if by == "cluster":
        names = clusters or {}
        return figures.categories(
            "cluster", [names.get(r.image_id, "not clustered") for r in rows], {"not clustered": figures.MISSING_COLOUR}
        )
    raise ValueError(f"cannot colour frames by {by!r}; choose one of {', '.join(MAP_COLOURINGS)}")


def frames_table(rows: Sequence[ImageRow], thumbnails: Mapping[int, bytes | None]) -> pd.DataFrame:
    """The table of chosen frames: picture, file, extension, night, type, mode, score, flag, verdict, reasons."""
    return pd.DataFrame(
        {
            "thumbnail": [thumbnail_uri(thumbnails.get(r.image_id)) for r in rows],
            "file": [file_name(r) for r in rows],
            "ext": pd.array([r.ext for r in rows], dtype="Int64"),
            "night": [r.night for r in rows],
            "image type": [r.image_type for r in rows],
            "mode": [r.mode for r in rows],
            "score": pd.array([r.score for r in rows], dtype="Float64"),
            "threshold": pd.array([r.threshold for r in rows], dtype="Float64"),
            "flag": [FLAG_MARK if r.flagged else "" for r in rows],
            "verdict": [VERDICT_WORDS.get(r.verdict or "", "") for r in rows],
            "reasons": [reason_summary(r.reasons) for r in rows],
        },
        columns=FRAME_COLUMNS,
    )


def clusters_table(rows: Sequence[ImageRow], labels: Sequence[int], tonight: Sequence[bool]) -> pd.DataFrame:
    """One line per cluster: its size, this night's frames in it, flags, rejections, nights and first members.

    Parameters
    ----------
    rows
        The frames.
    labels
        Cluster number of each frame.
    tonight
        Whether each frame is one of this night's.
    """
    records = []
    labels = np.asarray(labels)
    for cluster in sorted(set(labels.tolist())):
        members = [i for i in np.flatnonzero(labels == cluster)]
        chosen = [rows[i] for i in members]
        nights = sorted(r.night for r in chosen)
        names = ", ".join(frame_name(r) for r in chosen[:MEMBERS_SHOWN])
        hidden = len(chosen) - MEMBERS_SHOWN
        records.append(
            {
                "cluster": int(cluster),
                "frames": len(chosen),
                "this night": int(sum(bool(tonight[i]) for i in members)),
                "flagged": sum(bool(r.flagged) for r in chosen),
                "rejected": sum(r.verdict == "reject" for r in chosen),
                "first night": nights[0],
                "last night": nights[-1],
                "members": names + (f" (+{hidden} more)" if hidden > 0 else ""),
            }
        )
    return pd.DataFrame.from_records(records, columns=CLUSTER_COLUMNS)


def cluster_names(image_ids: Sequence[int], labels: Sequence[int], names: Mapping[int, str]) -> dict[int, str]:
    """Image id -> ``cluster 3: UVES_BLUE_BIAS_ext0`` (the cluster's number and the name it was given)."""
    return {int(i): f"cluster {int(c)}: {names.get(int(c), '')}".rstrip(": ") for i, c in zip(image_ids, labels, strict=True)}


def type_counts(rows: Sequence[ImageRow]) -> str:
    """``12 UVES_BLUE_BIAS_ext0, 3 UVES_BLUE_FLAT_ext0``: what a list of frames holds, most common first."""
    counts = Counter(r.image_type for r in rows)
    return ", ".join(f"{n} {t}" for t, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])))
