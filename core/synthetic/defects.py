"""The faults the simulator injects: what each applies to, how its magnitude is drawn, what it does to pixels.

Each family of :data:`DEFECT_FAMILIES` is a fault an expert looks for on calibrations: a
jump of an amplifier's bias level, pick-up noise, a light leak, garbled rows, a lamp off,
orders or lines that moved, a cosmic-ray shower, a file cut short. A drawer picks the
magnitude for one exposure and writes the detail that goes to ``truth.csv``, at one of two
:data:`SEVERITIES`: ``gross`` (what any eye sees: a bias jump of 5-20 ADU, a lamp at 0-20 %)
or ``subtle`` (a few times the natural night-to-night scatter of what it changes: a bias
jump of 0.3-0.6 ADU, a lamp 1.5-3 % off, arc lines 4-7 % weaker, orders and lines moved
by 0.25-0.45 px; every family kept, a wrong type and a cut file stay what they are); the simulator
applies each family where it belongs in the chain of light and read-out, with the masks
and patterns at the end of this module for glows, vignetting, pick-up and garbled rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .frames import Exposure
from .instrument import BIAS, DPR_TYPES, FLAT, SATURATION, WAVE, Chip, Layout

DEFECT_FAMILIES: tuple[str, ...] = (
    "bias_level_jump",
    "read_noise",
    "pickup_noise",
    "light_leak",
    "corrupted_rows",
    "wrong_type",
    "low_flux_flat",
    "saturated_flat",
    "shifted_orders",
    "vignetted_flat",
    "lamp_off_arc",
    "shifted_lines",
    "cosmic_shower",
    "truncated_file",
)
"""Names of the faults the simulator can inject, as written in ``truth.csv``."""


SEVERITIES: tuple[str, ...] = ("gross", "subtle")
"""How strong the injected defects are (see the module's docstring)."""

# (low, high) of each family's magnitude per severity; positions in full-size pixels,
# row counts at full size, fractions of the normal flux or of the pixels.
MAGNITUDES: Mapping[str, Mapping[str, tuple[float, float]]] = {
    "gross": {
        "bias_level_jump": (5.0, 20.0),
        "read_noise": (1.5, 3.0),
        "pickup_noise": (1.0, 3.0),
        "light_leak": (5.0, 60.0),
        "corrupted_rows": (10.0, 200.0),
        "low_flux_flat": (0.0, 0.2),
        "saturated_flat": (5.0, 10.0),
        "shifted_orders": (3.0, 15.0),
        "vignetted_flat": (0.1, 0.6),
        "lamp_off_arc": (0.0, 0.5),
        "shifted_lines": (2.0, 10.0),
        "cosmic_shower": (3e-4, 1e-3),
        "truncated_file": (0.2, 0.9),
    },
    "subtle": {
        "bias_level_jump": (0.3, 0.6),
        "read_noise": (1.1, 1.25),
        "pickup_noise": (0.3, 0.6),
        "light_leak": (1.0, 3.0),
        "corrupted_rows": (2.0, 6.0),
        "low_flux_flat": (0.97, 0.985),
        "saturated_flat": (1.015, 1.03),
        "shifted_orders": (0.25, 0.45),
        "vignetted_flat": (0.9, 0.95),
        "lamp_off_arc": (0.93, 0.96),
        "shifted_lines": (0.25, 0.45),
        "cosmic_shower": (3e-5, 8e-5),
        "truncated_file": (0.95, 0.99),
    },
}
"""Where each family's magnitude is drawn from, per severity."""

_ALL_TYPES = frozenset(DPR_TYPES)
APPLIES_TO: Mapping[str, frozenset[str]] = {
    "bias_level_jump": frozenset({BIAS}),
    "read_noise": frozenset({BIAS}),
    "pickup_noise": frozenset({BIAS}),
    "light_leak": frozenset({BIAS}),
    "corrupted_rows": _ALL_TYPES,
    "wrong_type": _ALL_TYPES,
    "low_flux_flat": frozenset({FLAT}),
    "saturated_flat": frozenset({FLAT}),
    "shifted_orders": frozenset({FLAT, WAVE}),
    "vignetted_flat": frozenset({FLAT}),
    "lamp_off_arc": frozenset({WAVE}),
    "shifted_lines": frozenset({WAVE}),
    "cosmic_shower": _ALL_TYPES,
    "truncated_file": _ALL_TYPES,
}
# Faults of one chip's electronics or illumination hit one extension of a red file;
# the others (lamp, optics, exposure, file) hit every extension of the file.
PER_EXTENSION = frozenset({"bias_level_jump", "read_noise", "pickup_noise", "light_leak", "corrupted_rows", "vignetted_flat"})


def defects_for(dpr_type: str) -> tuple[str, ...]:
    """The defect families that can be injected into a frame of this type.

    Parameters
    ----------
    dpr_type
        ``BIAS``, ``LAMP,FLAT`` or ``LAMP,WAVE``.

    Returns
    -------
    tuple of str
        Families in the order of :data:`DEFECT_FAMILIES`.
    """
    if dpr_type not in DPR_TYPES:
        raise ValueError(f"unknown DPR TYPE {dpr_type!r}; known: {', '.join(DPR_TYPES)}")
    return tuple(family for family in DEFECT_FAMILIES if dpr_type in APPLIES_TO[family])


def check_family(family: str, dpr_type: str) -> None:
    """Refuse a family that is unknown or does not apply to frames of this type."""
    if family not in APPLIES_TO:
        raise ValueError(f"unknown defect family {family!r}; known: {', '.join(DEFECT_FAMILIES)}")
    if dpr_type not in APPLIES_TO[family]:
        raise ValueError(f"{family} does not apply to {dpr_type} frames")


@dataclass(frozen=True)
class Injection:
    """A defect drawn for one exposure: family, extensions hit, magnitudes, description."""

    family: str
    exts: tuple[int, ...]
    params: Mapping[str, Any]
    detail: str

    def hits(self, ext: int) -> bool:
        """Whether the defect is in this image extension."""
        return ext in self.exts


@dataclass(frozen=True)
class Target:
    """What the magnitude of a defect depends on: the exposure, the chip hit, the frame scale.

    ``scale`` converts full-size row counts, ``order_scale`` order positions and
    ``line_scale`` line positions to this frame's pixels; ``severity`` is one of
    :data:`SEVERITIES`.
    """

    exposure: Exposure
    chip: Chip
    scale: float
    order_scale: float
    line_scale: float
    severity: str = "gross"

    @property
    def subtle(self) -> bool:
        return self.severity == "subtle"

    def magnitude(self, rng: np.random.Generator, family: str) -> float:
        """A magnitude of ``family`` drawn uniformly from its range at this severity."""
        low, high = MAGNITUDES[self.severity][family]
        return float(rng.uniform(low, high))


_Drawn = tuple[dict[str, Any], str]
_AMP_NAMES = ("A", "B")
_REGIONS = ("lower-left", "lower-right", "upper-left", "upper-right", "left", "right", "bottom", "top")


def _sign(rng: np.random.Generator) -> float:
    return 1.0 if rng.random() < 0.5 else -1.0


def _region_name(where: str) -> str:
    return f"{where} {'corner' if '-' in where else 'edge'}"


def _draw_bias_level_jump(rng: np.random.Generator, target: Target) -> _Drawn:
    amp, delta = int(rng.integers(2)), _sign(rng) * target.magnitude(rng, "bias_level_jump")
    return {"amp": amp, "delta": delta}, f"amp {_AMP_NAMES[amp]} {delta:+.{2 if target.subtle else 1}f} ADU"


def _draw_read_noise(rng: np.random.Generator, target: Target) -> _Drawn:
    amps = (0, 1) if rng.random() < 0.4 else (int(rng.integers(2)),)
    factors = tuple(target.magnitude(rng, "read_noise") if a in amps else 1.0 for a in (0, 1))
    ron = target.chip.ron_adu
    detail = ", ".join(f"amp {_AMP_NAMES[a]} RON x{factors[a]:.2f} ({ron[a] * factors[a]:.1f} ADU)" for a in amps)
    return {"factors": factors}, detail


def _draw_pickup_noise(rng: np.random.Generator, target: Target) -> _Drawn:
    half = target.chip.layout.naxis1 // 2
    params = {
        "amplitude": target.magnitude(rng, "pickup_noise"),
        "period": rng.uniform(5.0, max(6.0, min(40.0, half / 3))),
        "phase": rng.uniform(0.0, 2 * np.pi),
    }
    # A row does not last a whole number of periods: the phase moves on from row to row
    # and the stripes run slanted, by this many pixels per row.
    params["slope"] = _sign(rng) * rng.uniform(0.5, min(3.0, params["period"] / 3))
    detail = f"{params['amplitude']:.1f} ADU sinusoid, period {params['period']:.1f} px, stripes slanted {params['slope']:+.1f} px per row"
    return params, detail


def _draw_light_leak(rng: np.random.Generator, target: Target) -> _Drawn:
    params = {"amplitude": target.magnitude(rng, "light_leak"), "where": str(rng.choice(_REGIONS)), "extent": rng.uniform(0.15, 0.4)}
    return params, f"glow +{params['amplitude']:.{1 if target.subtle else 0}f} ADU at the {_region_name(params['where'])}"


def _draw_corrupted_rows(rng: np.random.Generator, target: Target) -> _Drawn:
    rows = target.chip.layout.rows
    count = min(max(2, round(target.magnitude(rng, "corrupted_rows") * target.scale)), max(2, rows // 3))
    start, fill = int(rng.integers(0, rows - count + 1)), str(rng.choice(["zeros", "65535", "random values"]))
    detail = f"rows {start + 1}-{start + count} ({count} rows) set to {fill}"
    return {"start": start, "count": count, "fill": fill}, detail


def _draw_wrong_type(rng: np.random.Generator, target: Target) -> _Drawn:
    header_type = target.exposure.dpr_type
    pixels = str(rng.choice([t for t in DPR_TYPES if t != header_type]))
    return {"pixels": pixels}, f"pixels of a {pixels} frame under a {header_type} header"


def _draw_low_flux_flat(rng: np.random.Generator, target: Target) -> _Drawn:
    flux = target.magnitude(rng, "low_flux_flat")
    return {"flux": flux}, f"lamp flux {100 * flux:.{1 if target.subtle else 0}f} % of normal"


def _draw_saturated_flat(rng: np.random.Generator, target: Target) -> _Drawn:
    flux = target.magnitude(rng, "saturated_flat")
    if target.subtle:
        return {"flux": flux}, f"exposure x{flux:.3f}: {100 * (flux - 1):.1f} % more flux"
    return {"flux": flux}, f"exposure x{flux:.1f}, orders saturated"


def _draw_shifted_orders(rng: np.random.Generator, target: Target) -> _Drawn:
    shift = _sign(rng) * target.magnitude(rng, "shifted_orders") * target.order_scale
    return {"shift_px": shift}, f"orders shifted {shift:+.{2 if target.subtle else 1}f} px in y"


def _draw_vignetted_flat(rng: np.random.Generator, target: Target) -> _Drawn:
    params = {"where": str(rng.choice(_REGIONS)), "area": rng.uniform(0.15, 0.35), "level": target.magnitude(rng, "vignetted_flat")}
    detail = f"{_region_name(params['where'])} ({100 * params['area']:.0f} % of the chip) dimmed to {100 * params['level']:.0f} %"
    return params, detail


def _draw_lamp_off_arc(rng: np.random.Generator, target: Target) -> _Drawn:
    if target.subtle:
        intensity = target.magnitude(rng, "lamp_off_arc")
        return {"intensity": intensity}, f"arc lamp weak: lines at {100 * intensity:.0f} % of normal"
    return {"continuum": target.magnitude(rng, "lamp_off_arc")}, "arc lamp off: no lines"


def _draw_shifted_lines(rng: np.random.Generator, target: Target) -> _Drawn:
    shift = _sign(rng) * target.magnitude(rng, "shifted_lines") * target.line_scale
    return {"shift_px": shift}, f"lines shifted {shift:+.{2 if target.subtle else 1}f} px in x"


def _draw_cosmic_shower(rng: np.random.Generator, target: Target) -> _Drawn:
    pixels = target.chip.layout.rows * target.chip.layout.width
    hits = max(10 if target.subtle else 40, round(target.magnitude(rng, "cosmic_shower") * pixels))
    tracks = int(rng.integers(1, 3)) if target.subtle else int(rng.integers(3, 9))
    return {"hits": hits, "tracks": tracks}, f"cosmic-ray shower: {hits} hits and {tracks} long tracks per chip"


def _draw_truncated_file(rng: np.random.Generator, target: Target) -> _Drawn:
    keep = target.magnitude(rng, "truncated_file")
    return {"keep": keep}, f"file cut at {100 * keep:.0f} % of its length"


DRAWERS: Mapping[str, Callable[[np.random.Generator, Target], _Drawn]] = {
    "bias_level_jump": _draw_bias_level_jump,
    "read_noise": _draw_read_noise,
    "pickup_noise": _draw_pickup_noise,
    "light_leak": _draw_light_leak,
    "corrupted_rows": _draw_corrupted_rows,
    "wrong_type": _draw_wrong_type,
    "low_flux_flat": _draw_low_flux_flat,
    "saturated_flat": _draw_saturated_flat,
    "shifted_orders": _draw_shifted_orders,
    "vignetted_flat": _draw_vignetted_flat,
    "lamp_off_arc": _draw_lamp_off_arc,
    "shifted_lines": _draw_shifted_lines,
    "cosmic_shower": _draw_cosmic_shower,
    "truncated_file": _draw_truncated_file,
}


def _distances(layout: Layout, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Relative distance of every column and row from a corner or edge of the chip.

    ``where`` is a corner (``lower-left`` ...) or an edge (``left``, ``top`` ...); along an
    axis the region does not depend on, the distance is NaN.
    """
    x = (np.arange(layout.width) + 0.5) / layout.width
    y = (np.arange(layout.rows) + 0.5) / layout.rows
    dx = x if "left" in where else 1 - x if "right" in where else np.full_like(x, np.nan)
    lower, upper = "lower" in where or where == "bottom", "upper" in where or where == "top"
    dy = y if lower else 1 - y if upper else np.full_like(y, np.nan)
    return dx, dy


def vignette(layout: Layout, params: Mapping[str, Any]) -> np.ndarray:
    """Multiplicative mask dimming a corner or an edge band to ``level``, with a soft edge."""
    dx, dy = _distances(layout, params["where"])
    extent = math.sqrt(params["area"]) if "-" in params["where"] else params["area"]
    soft = 0.03
    inside_x = np.nan_to_num(1 / (1 + np.exp((dx - extent) / soft)), nan=1.0)
    inside_y = np.nan_to_num(1 / (1 + np.exp((dy - extent) / soft)), nan=1.0)
    return (1.0 - (1.0 - params["level"]) * np.outer(inside_y, inside_x)).astype(np.float32)


def glow(layout: Layout, params: Mapping[str, Any]) -> np.ndarray:
    """Smooth additive light from a leak, brightest at a corner or along an edge."""
    dx, dy = _distances(layout, params["where"])
    extent = params["extent"]
    gx = np.nan_to_num(np.exp(-0.5 * (dx / extent) ** 2), nan=1.0)
    gy = np.nan_to_num(np.exp(-0.5 * (dy / extent) ** 2), nan=1.0)
    return (params["amplitude"] * np.outer(gy, gx)).astype(np.float32)


def pickup(layout: Layout, params: Mapping[str, Any]) -> np.ndarray:
    """Periodic interference: a sinusoid in readout time, so stripes run diagonally."""
    k = 2 * np.pi / params["period"]
    a = k * layout.readout_order() + params["phase"]  # along a row
    b = k * params["slope"] * np.arange(layout.rows)  # phase carried from row to row
    # sin(a + b) = sin a cos b + cos a sin b, as two outer products.
    pattern = np.outer(np.cos(b), np.sin(a)) + np.outer(np.sin(b), np.cos(a))
    return (params["amplitude"] * pattern).astype(np.float32)


def corrupt_rows(pixels: np.ndarray, params: Mapping[str, Any], rng: np.random.Generator) -> None:
    """Replace a block of rows by garbage, as a readout or transfer glitch does."""
    block = pixels[params["start"] : params["start"] + params["count"]]
    if params["fill"] == "zeros":
        block[:] = 0
    elif params["fill"] == "65535":
        block[:] = int(SATURATION)
    else:
        block[:] = rng.integers(0, int(SATURATION) + 1, block.shape, dtype=np.uint16)
