"""Where each read-out amplifier's pixels lie in a raw image, read from its header.

Every number is measured per amplifier or on the amplifiers' light-sensitive pixels side
by side, so the layout comes first: which columns hold data, and which hold the overscan
that gives each amplifier's bias level. ESO, IRAF and Lick (Kast) headers say it in
keywords of their own; :func:`amplifier_layout` tries them in turn, each only where its
keywords fit the image's shape, and falls back to the whole image as one amplifier.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from astropy.io import fits


_SECTION = re.compile(r"^\s*\[\s*(\d+)\s*:\s*(\d+)\s*,\s*(\d+)\s*:\s*(\d+)\s*\]\s*$")


@dataclass(frozen=True)
class Amplifier:
    """Where one read-out amplifier's pixels lie in the raw image.

    Attributes
    ----------
    name
        ``"1"``, ``"2"``, ... numbered from left to right.
    data
        ``(rows, columns)`` of the light-sensitive pixels it reads.
    overscan
        ``(rows, columns)`` of its pre- or overscan (pixels that hold only the bias),
        None when the header does not say.
    """

    name: str
    data: tuple[slice, slice]
    overscan: tuple[slice, slice] | None


def amplifier_layout(header: fits.Header, shape: tuple[int, int]) -> list[Amplifier]:
    """The amplifiers of a raw image, from its header.

    Tried in this order, each only when its keywords fit the image's shape:

    1. ESO: ``HIERARCH ESO DET OUTPUTS`` and per output ``OUTi NX, NY, PRSCX, OVSCX, X``.
       An output at the left edge (``X = 1``) has, from column 0, [prescan][data]
       [overscan]; any other is mirrored from the last column. The overscan is used
       as the bias region, the prescan where there is no overscan.
    2. IRAF: ``BIASSEC`` and ``DATASEC`` (1-based inclusive ``[x1:x2,y1:y2]``): one
       amplifier.
    3. Lick (Kast): ``AMPSROW`` amplifiers along a row share ``DATASEC`` equally; each
       has ``COVER`` overscan columns, appended after the data in amplifier order.
    4. ``DATASEC`` alone: one amplifier without overscan.
    5. The whole image: one amplifier without overscan.

    Parameters
    ----------
    header
        The merged header of the image (primary cards updated by the extension's).
    shape
        ``(rows, columns)`` of the image.

    Returns
    -------
    list of Amplifier
        Left to right, all spanning the same rows.
    """
    rows, cols = shape
    for layout in (_eso_layout, _iraf_layout, _lick_layout, _datasec_layout):
        amplifiers = layout(header, (rows, cols))
        if amplifiers:
            return amplifiers
    return [Amplifier("1", (slice(0, rows), slice(0, cols)), None)]


def int_card(header: fits.Header, key: str) -> int | None:
    """An integer header value, or None when it is absent or not a whole number."""
    value = header.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    if not math.isfinite(value) or value != int(value):
        return None
    return int(value)


def float_card(header: fits.Header, key: str) -> float | None:
    """A positive finite header value, or None."""
    value = header.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    return float(value) if math.isfinite(value) and value > 0 else None


def _section(value: object, shape: tuple[int, int]) -> tuple[slice, slice] | None:
    """numpy ``(rows, columns)`` of a FITS section ``[x1:x2,y1:y2]``, None unless it fits ``shape``."""
    match = _SECTION.match(value) if isinstance(value, str) else None
    if match is None:
        return None
    x1, x2, y1, y2 = (int(g) for g in match.groups())
    (x1, x2), (y1, y2) = sorted((x1, x2)), sorted((y1, y2))
    if x1 < 1 or y1 < 1 or x2 > shape[1] or y2 > shape[0]:
        return None
    return slice(y1 - 1, y2), slice(x1 - 1, x2)


def _numbered(amplifiers: list[Amplifier]) -> list[Amplifier]:
    """The amplifiers sorted left to right and named "1", "2", ..."""
    ordered = sorted(amplifiers, key=lambda a: a.data[1].start)
    return [Amplifier(str(i), a.data, a.overscan) for i, a in enumerate(ordered, start=1)]


def _eso_layout(header: fits.Header, shape: tuple[int, int]) -> list[Amplifier] | None:
    outputs = int_card(header, "HIERARCH ESO DET OUTPUTS")
    if outputs is None or outputs < 1:
        return None
    rows, cols = shape
    found = []
    for i in range(1, outputs + 1):
        key = f"HIERARCH ESO DET OUT{i}"
        nx, ny, x = (int_card(header, f"{key} {k}") for k in ("NX", "NY", "X"))
        prescan = int_card(header, f"{key} PRSCX") or 0
        overscan = int_card(header, f"{key} OVSCX") or 0
        if nx is None or ny is None or x is None or nx < 1 or not 1 <= ny <= rows or min(prescan, overscan) < 0:
            return None
        if x == 1:
            start = prescan
            bias = (start + nx, start + nx + overscan) if overscan else (0, prescan)
        else:
            start = cols - prescan - nx
            bias = (start - overscan, start) if overscan else (cols - prescan, cols)
        if start < 0 or start + nx > cols or bias[0] < 0 or bias[1] > cols:
            return None
        rows_ = slice(0, ny)
        scan = (rows_, slice(*bias)) if bias[1] > bias[0] else None
        found.append(Amplifier(str(i), (rows_, slice(start, start + nx)), scan))
    found = _numbered(found)
    spans = [a.data[1] for a in found]
    same_rows = len({(a.data[0].start, a.data[0].stop) for a in found}) == 1
    if not same_rows or any(b.start < a.stop for a, b in pairwise(spans)):
        return None
    return found


def _iraf_layout(header: fits.Header, shape: tuple[int, int]) -> list[Amplifier] | None:
    data, bias = _section(header.get("DATASEC"), shape), _section(header.get("BIASSEC"), shape)
    if data is None or bias is None:
        return None
    return [Amplifier("1", data, bias)]


def _lick_layout(header: fits.Header, shape: tuple[int, int]) -> list[Amplifier] | None:
    n, cover = int_card(header, "AMPSROW"), int_card(header, "COVER")
    data = _section(header.get("DATASEC"), shape)
    if n is None or cover is None or data is None or n < 1 or cover < 0:
        return None
    if int_card(header, "AMPSCOL") not in (None, 1):
        return None
    rows, columns = data
    width = columns.stop - columns.start
    if width % n or columns.stop + n * cover > shape[1]:
        return None
    share = width // n
    return [
        Amplifier(
            str(k + 1),
            (rows, slice(columns.start + k * share, columns.start + (k + 1) * share)),
            (rows, slice(columns.stop + k * cover, columns.stop + (k + 1) * cover)) if cover else None,
        )
        for k in range(n)
    ]


def _datasec_layout(header: fits.Header, shape: tuple[int, int]) -> list[Amplifier] | None:
    data = _section(header.get("DATASEC"), shape)
    return [Amplifier("1", data, None)] if data is not None else None


def data_width(amplifier: Amplifier) -> int:
    """Columns of light-sensitive pixels the amplifier reads."""
    return amplifier.data[1].stop - amplifier.data[1].start
