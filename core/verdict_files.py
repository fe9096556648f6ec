"""Verdicts in files: ``calspot export labels`` writes them, ``calspot import labels`` reads them back.

The experts' verdicts are what calspot cannot compute again. A file of verdict records
(CSV or JSON, one record per verdict ever given, oldest first) is their backup and
their way between stores: each record names its frame by the file's content hash and
the image extension, so it still finds the frame after the raw files moved.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .store.labels import VERDICT_FIELDS

FORMATS = ("csv", "json")


def format_verdicts(records: Sequence[dict[str, Any]], fmt: str) -> str:
    """The records as CSV (a header of ``VERDICT_FIELDS``) or as a JSON list."""
    if fmt == "json":
        return json.dumps(list(records), indent=1, ensure_ascii=False) + "\n"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=VERDICT_FIELDS, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({name: "" if record.get(name) is None else record[name] for name in VERDICT_FIELDS})
    return out.getvalue()


def read_verdicts(path: Path) -> list[dict[str, Any]]:
    """The records of a file that ``format_verdicts`` wrote (JSON when it starts with ``[``, else CSV).

    Raises
    ------
    ValueError
        The file is neither a JSON list of records nor a CSV file with a
        ``content_hash`` column.
    """
    text = Path(path).read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not valid JSON: {exc}") from None
        if not all(isinstance(r, dict) for r in records):
            raise ValueError(f"{path} holds a JSON list, but not of verdict records")
        return records
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "content_hash" not in reader.fieldnames:
        raise ValueError(f"{path} is not a file of verdicts: no content_hash column (write one with 'calspot export labels')")
    return list(reader)
