"""Which original files the dashboard may hand out: only paths the store holds, under the configured data roots.

The dashboard never opens a path that comes from the browser: it serves the raw file
of a frame the store knows. With ``data_roots`` set (a shared deployment should set
them), that file's real location, symbolic links followed, must also lie under one of
those folders, so that a store row pointing elsewhere (a link planted among the raw
files, a path edited in the database) serves nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def servable_file(stored_path: str, data_roots: Sequence[Path]) -> Path | None:
    """The real file behind a path the store holds, if it may be served; None if it is gone or lies outside the roots."""
    try:
        real = Path(stored_path).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not real.is_file():
        return None
    if data_roots and not any(real.is_relative_to(Path(root).expanduser().resolve()) for root in data_roots):
        return None
    return real
