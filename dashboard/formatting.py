"""Report rows turned into what the dashboard shows: order, filters, counts, words, tables.

The rows are those of :func:`core.report.night_report` (one dict per image
extension, one per unreadable file). How far out a frame is comes as a bounded number
(:func:`severity`) and in words (:func:`distance_words`), its threshold with where it
comes from (:func:`threshold_note`); the last part holds the Frame page's tables.
Nothing here imports Streamlit, so that what a page shows is unit-tested without
running one.
"""

from __future__ import annotations

import base64
import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import PurePath
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image as PILImage

from core.detect import IGNORED
from core.qc import metric_label
from core.review import Candidate, learning_order

Row = Mapping[str, Any]

FLAG_MARK = "⚑"
UNREADABLE_TYPE = "unreadable file"
RANDOM_WEIGHTS_MARK = "random-seed"
REFERENCE_WORDS = {"history": "frames of earlier nights", "night": "the other frames of this night"}
VERDICT_WORDS = {"accept": "accepted", "reject": "rejected"}
VERDICT_MARKS = {"accept": "✓", "reject": "✗"}
MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]<>$~|])")
MARKDOWN_BLOCK_START = re.compile(r"^(\s*\d*)([#>+.)-])")
TABLE_COLUMNS = ["flag", "thumbnail", "file", "image type", "how far out", "verdict", "reasons"]
SUMMARY_COLUMNS = ["status", "image type", "frames", "flagged", "reviewed", "threshold", "mode"]
# How far out a frame is, by its score over its threshold: (below this ratio, words).
DISTANCE_WORDS = ((0.5, "typical"), (1.0, "within normal range"), (2.0, "just past threshold"))
FAR_RATIO = 10.0
# The tail of a worded deviation (``, 9.8 sigma above the last 30 nights``): the table shows how far out apart.
SIGMA_TAIL = re.compile(r"(, [\d.,]+ sigma (above|below) .*| \(\d+ % of the nearest frames of all types agree\))$")
DEVIATING_SIGMA = 3.0
CHARTED_AT_MOST = 6
STATUS = {
    "review": "● flags to review",
    "rejected": "● frames rejected",
    "reviewed": "● flags reviewed",
    "fine": "● nothing flagged",
    "unscored": "○ not scored",
}
STATUS_COLOURS = {
    STATUS["review"]: "#ff4b4b",
    STATUS["rejected"]: "#ffa421",
    STATUS["reviewed"]: "#21c354",
    STATUS["fine"]: "#21c354",
    STATUS["unscored"]: "#a3a8b8",
}


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


def severity(score: float | None, threshold: float | None) -> float | None:
    """How far out a frame is on a bounded scale: 0 like its history, 50 at its threshold, towards 100 beyond.

    With ``L = log2(1 + score / threshold)``, ``100 L / (1 + L)``: 75 at 7 times the
    threshold, 90 at about 500 times, so that a score of thousands of sigma and one of
    twenty both read as "far out" and still come in order, instead of as numbers
    nobody can compare. None when there is no score or threshold.
    """
    if score is None or threshold is None or threshold <= 0:
        return None
    level = math.log2(1.0 + max(float(score), 0.0) / threshold)
    return 100.0 * level / (1.0 + level)


def distance_words(score: float | None, threshold: float | None) -> str:
    """How far out a frame is, in words: ``typical`` ... ``far out (7,374 times the threshold)``."""
    if score is None:
        return "not scored"
    if threshold is None or threshold <= 0:
        return "no threshold"
    ratio = max(float(score), 0.0) / threshold
    for limit, words in DISTANCE_WORDS:
        if ratio < limit:
            return words
    if ratio < FAR_RATIO:
        return f"well past threshold ({ratio:.1f} times)"
    return f"far out ({ratio:,.0f} times the threshold)"


def short_reason(reason: str) -> str:
    """A reason without its tail, for a table cell: ``bias level, amplifier 1: +14.2 ADU``.

    The sigma (the table shows how far out a frame is in a column of its own) and the
    share of agreeing neighbours of a type mismatch go; the panel keeps the whole
    sentence.
    """
    return SIGMA_TAIL.sub("", reason)


def picture_width(png: bytes, height: int, widest: int) -> int:
    """The width at which a PNG is shown ``height`` pixels high, at most ``widest`` (tall frames stay short)."""
    with PILImage.open(io.BytesIO(png)) as picture:
        width, tall = picture.size
    return max(1, min(widest, round(height * width / max(tall, 1))))


def threshold_note(threshold: float | None, details: Mapping[str, Any]) -> str:
    """Where a frame's threshold comes from, in words.

    The threshold is what the reference's own scores call for (``history``), or the
    detector's floor when those would allow less (``floor``), e.g. ``threshold 6.0,
    the floor: this type's history alone would allow 3.1``, or, once a model learnt
    this type from the experts' verdicts, the one it tuned (``verdicts``).
    """
    if threshold is None:
        return "no threshold: the frame was not scored against a reference"
    text = f"threshold {threshold:.1f}"
    history = details.get("history_threshold")
    basis = details.get("threshold_basis")
    if basis == "floor" and history is not None:
        return f"{text}, the floor: this type's history alone would allow {history:.1f}"
    if basis == "history":
        return f"{text}, from this type's history: its good frames' own scores call for it"
    if basis == "verdicts":
        learned = details.get("learned") or {}
        unsupervised = details.get("unsupervised_threshold")
        without = f" (without them {unsupervised:.1f})" if unsupervised is not None else ""
        return f"{text}, tuned on the experts' verdicts by {learned.get('model', 'the trained model')}{without}"
    return text


def score_line(row: Row) -> str:
    """The raw score with its threshold and how far out that is, e.g. ``score 44,245.7 sigma (threshold 6.0): far out ...``."""
    if row["score"] is None:
        return "not scored"
    threshold = "" if row["threshold"] is None else f" (threshold {row['threshold']:.1f})"
    return f"score {row['score']:,.1f} sigma{threshold}: {distance_words(row['score'], row['threshold'])}"


def order_rows(rows: Iterable[Row]) -> list[Row]:
    """Flagged rows first, then the farthest out first (score over threshold); unscored rows last in each part.

    The order is what the morning review works through; file and extension break ties
    so that the table does not reshuffle between reruns.
    """

    def key(row: Row) -> tuple:
        score = row["score"]
        out = severity(score, row["threshold"])
        return (
            not row["flagged"],
            score is None,
            -(out if out is not None else -1.0),
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
        if (row["flagged"] or not flagged_only) and (not wanted or image_type_name(row) in wanted) and needle in file_name(row).lower()
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


def type_summary(rows: Iterable[Row]) -> pd.DataFrame:
    """One line per image type and mode of a night: status, frames, flagged, reviewed flags, threshold.

    The status says what the morning still holds: flags without a verdict (red),
    frames an expert rejected (orange), flags all reviewed or nothing flagged (green);
    the groups that still need a look come first. Unreadable files are a line of
    their own. The threshold is the group's median, with where it comes from (see
    :func:`threshold_note`).
    """
    groups: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        groups.setdefault((image_type_name(row), row["mode"] or ""), []).append(row)
    records = []
    urgency = list(STATUS)
    ordered = sorted(groups.items(), key=lambda item: (urgency.index(_group_status(item[1])), item[0]))
    for (image_type, mode), members in ordered:
        flagged = [r for r in members if r["flagged"]]
        records.append(
            {
                "status": STATUS[_group_status(members)],
                "image type": image_type,
                "mode": mode,
                "frames": len(members),
                "flagged": len(flagged),
                "reviewed": sum(bool(r["verdict"]) for r in flagged),
                "threshold": group_threshold(members),
            }
        )
    return pd.DataFrame.from_records(records, columns=SUMMARY_COLUMNS)


def styled_summary(summary: pd.DataFrame):
    """The summary of :func:`type_summary` with each status in its colour (a pandas Styler)."""
    return summary.style.map(lambda status: f"color: {STATUS_COLOURS.get(status, 'inherit')}", subset=["status"])


def _group_status(rows: Sequence[Row]) -> str:
    if any(r["flagged"] and not r["verdict"] for r in rows):
        return "review"
    if any(r["verdict"] == "reject" for r in rows):
        return "rejected"
    if any(r["flagged"] for r in rows):
        return "reviewed"
    return "fine" if any(r["score"] is not None for r in rows) else "unscored"


def group_threshold(rows: Sequence[Row]) -> str:
    """The threshold of a group of frames and where it comes from: ``6.0, floor (history 3.1)`` or ``8.4, history``."""
    scored = [r for r in rows if r["threshold"] is not None]
    if not scored:
        return ""
    threshold = float(pd.Series([r["threshold"] for r in scored]).median())
    bases = {r["details"].get("threshold_basis") for r in scored} - {None}
    history = [r["details"]["history_threshold"] for r in scored if r["details"].get("history_threshold") is not None]
    if bases == {"floor"} and history:
        return f"{threshold:.1f}, floor (history {float(pd.Series(history).median()):.1f})"
    if bases == {"history"}:
        return f"{threshold:.1f}, history"
    if bases == {"verdicts"}:
        return f"{threshold:.1f}, tuned on verdicts"
    if bases:
        return f"{threshold:.1f}, floor or history"
    return f"{threshold:.1f}"


def uses_random_weights(rows: Iterable[Row]) -> bool:
    """Whether any score came from descriptors of a network with seeded random weights."""
    return any(RANDOM_WEIGHTS_MARK in (row["model_version"] or "") for row in rows)


def waits_for_verdict(row: Row, flags_only: bool = True) -> bool:
    """A frame of the review queue: flagged and without a verdict (any scored frame without one, unless ``flags_only``)."""
    if row["verdict"]:
        return False
    return bool(row["flagged"]) if flags_only else row["image_id"] is not None and row["score"] is not None


def first_to_review(rows: Sequence[Row], flags_only: bool = True) -> str | None:
    """The key of the first frame waiting for a verdict (:func:`waits_for_verdict`), else of the first frame, else None."""
    for row in rows:
        if waits_for_verdict(row, flags_only):
            return frame_key(row)
    return frame_key(rows[0]) if rows else None


def next_to_review(rows: Sequence[Row], current: str | None, flags_only: bool = True) -> str | None:
    """The key of the next frame waiting for a verdict after ``current``, wrapping around.

    Returns None when no other frame waits for a verdict.
    """
    keys = [frame_key(row) for row in rows]
    start = keys.index(current) + 1 if current in keys else 0
    for row in list(rows[start:]) + list(rows[:start]):
        if waits_for_verdict(row, flags_only) and frame_key(row) != current:
            return frame_key(row)
    return None


def in_learning_order(rows: Sequence[Row], descriptors: Mapping[int, np.ndarray]) -> list[Row]:
    """The rows with the frames whose verdict would teach most first (:func:`core.review.learning_order`).

    Frames with a verdict, unscored frames and unreadable files follow, in the order given.
    """
    candidates = [
        Candidate(
            image_id=row["image_id"],
            score=row["score"],
            threshold=row["threshold"],
            descriptor=descriptors.get(row["image_id"]),
            group=(row["image_type"], row["mode"]),
            reviewed=bool(row["verdict"]),
        )
        for row in rows
        if row["image_id"] is not None
    ]
    position = {image_id: k for k, image_id in enumerate(learning_order(candidates))}
    return sorted(rows, key=lambda row: position.get(row["image_id"], len(position)))


def table(rows: Sequence[Row]) -> pd.DataFrame:
    """The night table: one line per row, with the columns of :data:`TABLE_COLUMNS`.

    The image type names the extension; how far out a frame is (0 to 100, see
    :func:`severity`) stands for the score, and the first reason is shortened
    (:func:`short_reason`): the panel beside the table has the rest.
    """
    return pd.DataFrame(
        {
            "flag": [FLAG_MARK if row["flagged"] else "" for row in rows],
            "thumbnail": [thumbnail_uri(row["thumbnail"]) for row in rows],
            "file": [file_name(row) for row in rows],
            "image type": [image_type_name(row) for row in rows],
            "how far out": pd.array([severity(row["score"], row["threshold"]) for row in rows], dtype="Float64"),
            "verdict": [VERDICT_MARKS.get(row["verdict"] or "", "") for row in rows],
            "reasons": [reason_summary([short_reason(r) for r in row["reasons"]], shown=1) for row in rows],
        },
        columns=TABLE_COLUMNS,
    )


def deviations_table(details: Mapping[str, Any]) -> pd.DataFrame:
    """The quality numbers and descriptor distance that deviate, largest first, as stored with the score.

    ``in words`` says how far out each number is against the frame's threshold (the
    score is the largest of these z-scores).
    """
    threshold = details.get("threshold")
    records = [
        {
            "quantity": f"{d['label']} [{d['unit']}]" if d.get("unit") else d["label"],
            "value": d.get("value"),
            "reference": d.get("reference"),
            "z": d.get("z"),
            "in words": "" if d.get("z") is None else distance_words(abs(d["z"]), threshold),
        }
        for d in details.get("deviations", [])
    ]
    return pd.DataFrame.from_records(records, columns=["quantity", "value", "reference", "z", "in words"]).astype(
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
    return pd.DataFrame.from_records(records, columns=["file", "ext", "distance", "path"]).astype({"ext": "Int64", "distance": "Float64"})


def difference_caption(details: Mapping[str, Any], short: bool = False) -> str:
    """What the difference picture shows and its grey scale.

    ``minus the median of the 3 nearest reference frames (white +12.5 ADU, black -12.5 ADU)``,
    or with ``short``, ``minus its 3 nearest frames (±12.5 ADU)``.
    """
    info = details.get("difference") or {}
    frames = info.get("frames", 0)
    scale = info.get("scale_adu")
    if short:
        text = f"minus its {_plural(frames, 'nearest frame')}"
        return f"{text} (±{scale:.3g} ADU)" if scale is not None else text
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
    if reference.get("certified_since"):
        text += f", since the change certified on {reference['certified_since']}"
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


# the Frame page ---------------------------------------------------------------------


def reference_name(frames: int, nights: int) -> str:
    """What a median profile is the median of: ``35 reference frames of 7 nights``."""
    text = _plural(frames, "reference frame")
    return f"{text} of {_plural(nights, 'night')}" if nights else text


def neighbour_caption(row: Row, distance: float | None) -> str:
    """A nearest reference frame named for a caption: file, night, verdict or flag, descriptor distance."""
    state = verdict_word(row["verdict"]) or ("flagged" if row["flagged"] else "not flagged")
    parts = [frame_name(row), row["night"], state]
    if distance is not None:
        parts.append(f"distance {distance:.4f}")
    return " · ".join(parts)


def deviating_metrics(details: Mapping[str, Any], metrics: Mapping[str, float]) -> list[Mapping[str, Any]]:
    """The stored deviations worth a chart: quality numbers of the frame that are ``DEVIATING_SIGMA`` or more out.

    Derived features (descriptor distance, profile shifts) have no history of their
    own in the store and are left to the deviations table. Largest first, at most
    ``CHARTED_AT_MOST``.
    """
    chosen = [
        d for d in details.get("deviations", []) if d.get("metric") in metrics and d.get("z") is not None and abs(d["z"]) >= DEVIATING_SIGMA
    ]
    return sorted(chosen, key=lambda d: -abs(d["z"]))[:CHARTED_AT_MOST]


def metric_history(history: Sequence[Any], values: Mapping[int, Mapping[str, float]], metric: str) -> list[tuple[Any, float, str]]:
    """``(time or night, value, status)`` of one quality number over earlier frames (:class:`core.store.ImageRow`).

    The status is ``rejected`` (an expert's verdict), ``flagged`` (flagged and not
    accepted) or ``good``; frames without that number are left out.
    """
    points = []
    for image in history:
        value = values.get(image.image_id, {}).get(metric)
        if value is None:
            continue
        if image.verdict == "reject":
            status = "rejected"
        elif image.flagged and image.verdict != "accept":
            status = "flagged"
        else:
            status = "good"
        points.append((image.date_obs or image.night, float(value), status))
    return points


def quality_table(
    metrics: Mapping[str, float], history: Sequence[Mapping[str, float]], category: str, details: Mapping[str, Any]
) -> pd.DataFrame:
    """Every quality number of a frame beside its history's median and 10-90 % range, and its z where it was scored.

    Bookkeeping numbers (profile binning, the period of periodic noise) are left out.
    Sorted by how far out the number is, then by name.
    """
    z = {d["metric"]: d.get("z") for d in details.get("deviations", [])}
    past = pd.DataFrame.from_records(list(history)) if history else pd.DataFrame()
    records = []
    for name, value in metrics.items():
        if IGNORED.match(name):
            continue
        label, unit = metric_label(name, category)
        column = past[name].dropna() if name in past else pd.Series(dtype=float)
        records.append(
            {
                "quantity": f"{label} [{unit}]" if unit else label,
                "value": value,
                "history median": column.median() if len(column) else None,
                "history 10 %": column.quantile(0.1) if len(column) else None,
                "history 90 %": column.quantile(0.9) if len(column) else None,
                "z": z.get(name),
            }
        )
    table = pd.DataFrame.from_records(records, columns=["quantity", "value", "history median", "history 10 %", "history 90 %", "z"]).astype(
        {c: "Float64" for c in ["value", "history median", "history 10 %", "history 90 %", "z"]}
    )
    order = table["z"].abs().fillna(-1.0).sort_values(ascending=False, kind="stable").index
    return table.loc[order].reset_index(drop=True)


def header_table(cards: Iterable[tuple[str, str, str]]) -> pd.DataFrame:
    """Header cards as a table of text: keyword, value, comment (blank keywords of COMMENT/HISTORY kept)."""
    return pd.DataFrame.from_records(list(cards), columns=["keyword", "value", "comment"]).astype(str)


def identity_table(image: Any) -> pd.DataFrame:
    """What the store keeps of a frame's identity (:class:`core.store.ImageRow`), as a two-column table of text."""
    ny, nx = image.shape
    facts = [
        ("instrument", image.instrument),
        ("arm", image.arm),
        ("image type", image.image_type),
        ("mode", image.mode),
        ("category", image.category),
        ("header type", image.header_type),
        ("size", f"{nx} x {ny} pixels"),
        ("observed", f"{image.date_obs:%Y-%m-%d %H:%M:%S} UT" if image.date_obs else ""),
        ("night", image.night),
        ("file", image.path),
        ("extension", str(image.ext)),
    ]
    return pd.DataFrame.from_records(facts, columns=["what", "value"])
