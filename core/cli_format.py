"""How the command line writes the night's report and the clusters: CSV, JSON, a table for the terminal.

The CSV's first columns are the CLI contract (see the design): scripts rely on them;
extend, never break.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CSV_COLUMNS = (
    "path",
    "ext",
    "image_type",
    "night",
    "score",
    "threshold",
    "flagged",
    "reasons",
    "category",
    "mode",
    "reference",
    "verdict",
)
CLUSTER_COLUMNS = ("path", "ext", "image_type", "cluster", "cluster_name", "agrees", "reason", "night", "header_type")


def _csv_value(row: dict[str, Any], column: str) -> str:
    value = row.get(column)
    if column == "flagged":
        return "true" if value else "false"
    if column == "reasons":
        return "; ".join(value or [])
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def format_csv(rows: Sequence[dict[str, Any]]) -> str:
    """The report as CSV: a header row and one row per image extension (contract columns first)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([_csv_value(row, c) for c in CSV_COLUMNS])
    return buffer.getvalue()


def format_json(rows: Sequence[dict[str, Any]]) -> str:
    """The report as JSON: the CSV's fields plus the stored explanations of every score."""
    out = []
    for row in rows:
        item = {c: row.get(c) for c in CSV_COLUMNS}
        item["explanation"] = row.get("details") or {}
        item["model_version"] = row.get("model_version", "")
        out.append(item)
    return json.dumps(out, indent=2, default=str) + "\n"


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The report for a terminal: flagged rows first, the first reason and the verdict of each.

    The last line counts image extensions and unreadable files apart (an unreadable
    file is a file, not an image), then the flags.
    """
    ordered = sorted(rows, key=lambda r: (not r["flagged"], r["path"], r["ext"] if r["ext"] is not None else -1))
    lines = [f"{'flag':4}  {'score':>7}  {'thr':>5}  {'image type':26}  {'file':40} {'ext':>3}  {'verdict':8}  reason"]
    for row in ordered:
        score = "" if row["score"] is None else f"{row['score']:.1f}"
        threshold = "" if row["threshold"] is None else f"{row['threshold']:.1f}"
        reason = (row["reasons"] or [""])[0]
        ext = "" if row["ext"] is None else str(row["ext"])
        verdict = {"accept": "accepted", "reject": "rejected"}.get(row.get("verdict") or "", "")
        image_type = row["image_type"] or "unreadable file"
        lines.append(
            f"{'FLAG' if row['flagged'] else '':4}  {score:>7}  {threshold:>5}  {image_type[:26]:26}  "
            f"{Path(row['path']).name[:40]:40} {ext:>3}  {verdict:8}  {reason}"
        )
    images = sum(r["ext"] is not None for r in rows)
    unreadable = len(rows) - images
    flagged = sum(bool(r["flagged"]) for r in rows)
    lines.append(
        f"{images} image{'s' if images != 1 else ''}, {unreadable} unreadable file{'s' if unreadable != 1 else ''}, {flagged} flagged"
    )
    return "\n".join(lines) + "\n"


def _flag(value: bool | None) -> str:
    return "" if value is None else ("true" if value else "false")


def format_clusters_csv(frames: Sequence[Any]) -> str:
    """Clusters as CSV: one row per image extension, the contract's columns first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CLUSTER_COLUMNS)
    for frame in frames:
        cluster = "" if frame.cluster is None else frame.cluster
        values = {**vars(frame), "agrees": _flag(frame.agrees), "cluster": cluster}
        writer.writerow([values[c] for c in CLUSTER_COLUMNS])
    return buffer.getvalue()


def format_clusters_table(clustering: Any) -> str:
    """Clusters for a terminal: frames by cluster, disagreements marked with their reason."""
    ordered = sorted(clustering.frames, key=lambda f: (f.cluster is None, f.cluster or 0, f.path, f.ext))
    lines = [f"{'cluster':>7}  {'cluster name':26}  {'agrees':6}  {'image type':26}  {'file':40} {'ext':>3}  reason"]
    for f in ordered:
        cluster = "" if f.cluster is None else str(f.cluster)
        agrees = {None: "", True: "yes", False: "NO"}[f.agrees]
        lines.append(
            f"{cluster:>7}  {f.cluster_name[:26]:26}  {agrees:6}  {f.image_type[:26]:26}  "
            f"{Path(f.path).name[:40]:40} {f.ext:>3}  {f.reason}"
        )
    lines.append(
        f"{len(clustering.frames)} images in {clustering.n_clusters} clusters ({clustering.method}); "
        f"disagreeing with their cluster's image type: {len(clustering.disagreements)}"
    )
    return "\n".join(lines) + "\n"


def format_type_identification(result: Any) -> str:
    """The proof of concept's table of image-type identification: per type, then the average."""
    width = max(10, *(len(r.image_type) for r in result.rows))
    lines = [
        f"image-type identification by {result.method} clustering: {result.average.frames} images, "
        f"{result.average.clusters} clusters, adjusted Rand index {result.adjusted_rand:.3f}",
        f"{'image type':{width}}  {'frames':>6}  {'clusters':>8}  {'recall':>6}  {'precision':>9}  {'F1':>5}",
    ]
    for row in [*result.rows, result.average]:
        lines.append(
            f"{row.image_type:{width}}  {row.frames:6d}  {row.clusters:8d}  {row.recall:6.3f}  {row.precision:9.3f}  {row.f1:5.3f}"
        )
    return "\n".join(lines) + "\n"
