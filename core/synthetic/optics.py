"""Where the lamps' light falls on a chip: echelle orders of a setting, blaze, scattered light.

Flats and arcs are drawn along the orders: every illuminated pixel belongs to its nearest
order (:func:`map_orders`), whose flux along the dispersion is a table per order
(:func:`order_blaze` for flats, lines plus continuum for arcs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .instrument import Layout


@dataclass(frozen=True, eq=False)
class OrderMap:
    """Where the echelle orders of one setting fall on one chip.

    ``index`` gives, per illuminated pixel, ``order * width + x``: the entry of a
    per-order table (blaze, lines) that lights it; ``profile`` the cross-dispersion
    profile (1 on the order's centre, 0 between orders).
    """

    centres: np.ndarray
    index: np.ndarray
    profile: np.ndarray


def order_centres(rows: int, spacing: tuple[float, float], margin: float, phase: float) -> np.ndarray:
    """Rows of the order centres, spacing growing slowly from the bottom to the top."""
    bottom, top = spacing
    centres, y = [], -margin - phase * bottom
    while y < rows + margin + top:
        centres.append(y)
        y += bottom + (top - bottom) * min(max(y / rows, 0.0), 1.0)
    return np.asarray(centres)


def map_orders(layout: Layout, centres: np.ndarray, trace: np.ndarray, fwhm: float) -> OrderMap:
    """Assign every illuminated pixel to its nearest order and evaluate the order profile."""
    centres32 = centres.astype(np.float32)
    u = np.arange(layout.rows, dtype=np.float32)[:, None] - trace.astype(np.float32)[None, :]
    order = np.searchsorted((centres32[1:] + centres32[:-1]) / 2, u).astype(np.int32)
    # A flat-topped (super-Gaussian) slit image: 1/2 at +-fwhm/2.
    t = u - centres32[order]
    t *= np.float32(2.0 / fwhm)
    t *= t
    t *= t
    t *= np.float32(-math.log(2.0))
    profile = np.exp(t, out=t)
    order *= layout.width
    order += np.arange(layout.width, dtype=np.int32)
    return OrderMap(centres, order, profile)


def order_blaze(layout: Layout, centres: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Relative flux along each order (n_orders, width): blaze function times lamp colour."""
    x = np.arange(layout.width)
    height = centres / layout.rows
    peak_x = layout.width * (0.5 + 0.04 * (height - 0.5) + rng.uniform(-0.02, 0.02))
    free_range = layout.width * (1.05 + 0.25 * height)
    blaze = np.sinc((x[None, :] - peak_x[:, None]) / free_range[:, None]) ** 2
    colour = 1.0 - 0.3 * np.clip((height - 0.6) / 0.6, -1, 1) ** 2
    return (blaze * colour[:, None]).astype(np.float32)


def scattered_light(layout: Layout, level: float) -> np.ndarray:
    """A smooth, low glow of light scattered between the orders (peak ``level`` ADU)."""
    x = np.sin(np.pi * (np.arange(layout.width) + 0.5) / layout.width)
    y = np.sin(np.pi * (np.arange(layout.rows) + 0.5) / layout.rows)
    return np.outer(level * (0.7 + 0.3 * y), 0.6 + 0.4 * x).astype(np.float32)
