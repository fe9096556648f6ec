"""Report rows turned into what the dashboard shows: order, filters, counts, tables.

The rows are those of :func:`core.report.night_report` (one dict per image
extension, one per unreadable file). Nothing here imports Streamlit, so that what a
page shows is unit-tested without running one.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import PurePath
from typing import Any

import pandas as pd

Row = Mapping[str, Any]

FLAG_MARK = "⚑"
UNREADABLE_TYPE = "unreadable file"
RANDOM_WEIGHTS_MARK = "random-seed"
REFERENCE_WORDS = {"history": "frames of earlier nights", "night": "the other frames of this night"}
VERDICT_WORDS = {"accept": "accepted", "reject": "rejected"}
MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]<>$~|])")
MARKDOWN_BLOCK_START = re.compile(r"^(\s*\d*)([#>+.)-])")
TABLE_COLUMNS = ["flag", "thumbnail", "file", "ext", "image type", "mode", "score", "threshold", "reasons", "verdict"]


def thumbnail_uri(png: bytes | None) -> str | None:
    """A ``data:`` URI for a PNG thumbnail, which a table cell can show without a file server.

    Parameters
    ----------
    png
        The PNG bytes stored with an image, or None when there is no thumbnail.

    Returns
    -------
    str or None
        ``data:image/png;base64,...``, or None without a thumbnail.
    """
    if not png:
        return None
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def file_name(row: Row) -> str:
    """The file's name without its folder: what an astronomer recognises in a list."""
    return PurePath(row["path"]).name


def image_type_name(row: Row) -> str:
    """The image type, or a plain word for an unreadable file (which has none)."""
    return row["image_type"] or UNREADABLE_TYPE


def frame_key(row: Row) -> str:
    """A key naming a row's frame across reruns and re-opened stores: path and extension."""
    ext = "" if row["ext"] is None else row["ext"]
    return f"{row['path']}#{ext}"


def verdict_word(verdict: str | None) -> str:
    """``accepted`` / ``rejected``, or an empty string when no expert has decided yet."""
    return VERDICT_WORDS.get(verdict or "", "")


def frame_name(row: Row) -> str:
    """The file's name and, for a readable file, the extension: ``UVES.2024-03-02T20:01.fits ext 1``."""
    return file_name(row) if row["ext"] is None else f"{file_name(row)} ext {row['ext']}"


def frame_label(row: Row) -> str:
    """One line naming a frame in a picker: flag, file and extension, type, verdict."""
    parts = [f"{FLAG_MARK} {frame_name(row)}" if row["flagged"] else frame_name(row), image_type_name(row)]
    if row["verdict"]:
        parts.append(verdict_word(row["verdict"]))
    return " · ".join(parts)


def reason_summary(reasons: Sequence[str], shown: int = 2) -> str:
    """The first reasons joined, with how many more there are, to fit in a table cell.

    Parameters
    ----------
    reasons
        The reasons of a score, most important first.
    shown
        How many to quote.
    """
    summary = "; ".join(reasons[:shown])
    hidden = len(reasons) - shown
    return f"{summary} (+{hidden} more)" if hidden > 0 else summary


def order_rows(rows: Iterable[Row]) -> list[Row]:
    """Flagged rows first, then by score, highest first; unscored rows last in each part.

    The order is what the morning review works through; file and extension break ties
    so that the table does not reshuffle between reruns.
    """

    def key(row: Row) -> tuple:
        score = row["score"]
        return (
            not row["flagged"],
            score is None,
            -(score or 0.0),
            row["path"],
            -1 if row["ext"] is None else row["ext"],
        )

    return sorted(rows, key=key)


def filter_rows(
    rows: Iterable[Row],
    *,
    flagged_only: bool = False,
    image_types: Sequence[str] = (),
    search: str = "",
) -> list[Row]:
    """The rows that pass the page's filters, in the order given.

    Parameters
    ----------
    rows
        Report rows.
    flagged_only
        Keep flagged rows only.
    image_types
        Keep these image types only (as named by :func:`image_type_name`); empty keeps all.
    search
        Keep rows whose file name contains this text (case-insensitive); blank keeps all.
    """
    needle = search.strip().lower()
    wanted = set(image_types)
    return [
        row
        for row in rows
        if (row["flagged"] or not flagged_only)
        and (not wanted or image_type_name(row) in wanted)
        and needle in file_name(row).lower()
    ]


def image_types(rows: Iterable[Row]) -> list[str]:
    """The image types present, sorted, unreadable files included under their own name."""
    return sorted({image_type_name(row) for row in rows})


def night_counts(rows: Iterable[Row]) -> dict[str, int]:
    """The night's summary: image extensions, flagged rows, unreadable files, flags without a verdict."""
    counts = {"images": 0, "flagged": 0, "unreadable": 0, "to_review": 0}
    for row in rows:
        counts["images" if row["ext"] is not None else "unreadable"] += 1
        counts["flagged"] += bool(row["flagged"])
        counts["to_review"] += bool(row["flagged"]) and not row["verdict"]
    return counts


def uses_random_weights(rows: Iterable[Row]) -> bool:
    """Whether any score came from descriptors of a network with seeded random weights."""
    return any(RANDOM_WEIGHTS_MARK in (row["model_version"] or "") for row in rows)


def first_to_review(rows: Sequence[Row]) -> str | None:
    """The key of the first flagged frame without a verdict, else of the first frame, else None."""
    for row in rows:
        if row["flagged"] and not row["verdict"]:
            return frame_key(row)
    return frame_key(rows[0]) if rows else None


def next_to_review(rows: Sequence[Row], current: str | None) -> str | None:
    """The key of the next flagged frame without a verdict after ``current``, wrapping around.

    Returns None when no other frame waits for a verdict.
    """
    keys = [frame_key(row) for row in rows]
    start = keys.index(current) + 1 if current in keys else 0
    for row in list(rows[start:]) + list(rows[:start]):
        if row["flagged"] and not row["verdict"] and frame_key(row) != current:
            return frame_key(row)
    return None


def table(rows: Sequence[Row]) -> pd.DataFrame:
    """The night table: one line per row, with the columns of :data:`TABLE_COLUMNS`."""
    return pd.DataFrame(
        {
            "flag": [FLAG_MARK if row["flagged"] else "" for row in rows],
            "thumbnail": [thumbnail_uri(row["thumbnail"]) for row in rows],
            "file": [file_name(row) for row in rows],
            "ext": pd.array([row["ext"] for row in rows], dtype="Int64"),
            "image type": [image_type_name(row) for row in rows],
            "mode": [row["mode"] for row in rows],
            "score": pd.array([row["score"] for row in rows], dtype="Float64"),
            "threshold": pd.array([row["threshold"] for row in rows], dtype="Float64"),
            "reasons": [reason_summary(row["reasons"]) for row in rows],
            "verdict": [verdict_word(row["verdict"]) for row in rows],
        },
        columns=TABLE_COLUMNS,
    )


def deviations_table(details: Mapping[str, Any]) -> pd.DataFrame:
    """The quality numbers and descriptor distance that deviate, largest first, as stored with the score."""
    records = [
        {
            "quantity": f"{d['label']} [{d['unit']}]" if d.get("unit") else d["label"],
            "value": d.get("value"),
            "reference": d.get("reference"),
            "z": d.get("z"),
        }
        for d in details.get("deviations", [])
    ]
    return pd.DataFrame.from_records(records, columns=["quantity", "value", "reference", "z"]).astype(
        {"value": "Float64", "reference": "Float64", "z": "Float64"}
    )


def neighbours_table(details: Mapping[str, Any]) -> pd.DataFrame:
    """The nearest reference frames of a scored frame, closest first."""
    records = [
        {
            "file": PurePath(n["path"]).name if n.get("path") else f"image {n['image_id']}",
            "ext": n.get("ext"),
            "distance": n.get("distance"),
            "path": n.get("path", ""),
        }
        for n in details.get("neighbours", [])
    ]
    return pd.DataFrame.from_records(records, columns=["file", "ext", "distance", "path"]).astype(
        {"ext": "Int64", "distance": "Float64"}
    )


def difference_caption(details: Mapping[str, Any]) -> str:
    """What the difference picture shows and its grey scale, e.g. ``minus the median of 3 nearest reference frames (±12.5 ADU)``."""
    info = details.get("difference") or {}
    frames = info.get("frames", 0)
    scale = info.get("scale_adu")
    text = f"minus the median of the {_plural(frames, 'nearest reference frame')}"
    return f"{text} (white +{scale:.3g} ADU, black -{scale:.3g} ADU)" if scale is not None else text


def reference_summary(row: Row) -> str:
    """What the frame was compared with, in words.

    For example ``frames of earlier nights: 42 frames, 10 nights (2024-02-20 to 2024-03-01)``.
    """
    reference = row["details"].get("reference") or {}
    kind = row["reference"] or reference.get("kind") or "none"
    if kind == "none":
        return "nothing: no reference yet"
    text = REFERENCE_WORDS.get(kind, kind)
    counts = [_plural(reference[name], name[:-1]) for name in ("frames", "nights") if reference.get(name)]
    if counts:
        text += ": " + ", ".join(counts)
    if reference.get("first_night") and reference.get("last_night"):
        text += f" ({reference['first_night']} to {reference['last_night']})"
    return text


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def escape_markdown(text: str) -> str:
    """Text that Streamlit's Markdown shows literally, where it is put inline or in a list item.

    Names hold ``_`` and ``*``, reasons ``$`` (LaTeX to Streamlit); a leading ``-``,
    ``#`` or ``1.`` would start a list or heading. Other punctuation stays readable.
    """
    inline = MARKDOWN_SPECIALS.sub(r"\\\1", text)
    return MARKDOWN_BLOCK_START.sub(lambda m: m.group(1) + "\\" + m.group(2), inline)
