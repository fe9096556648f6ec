"""Simulator of UVES-like raw calibration frames with injected defects.

calspot needs nights of calibrations whose faults are known, to test the pipeline,
to demonstrate the dashboard and to measure detection quality. This module writes
raw files laid out like those of ESO's UVES echelle spectrograph (blue chip in the
primary HDU; red mosaic of two chips, REDU in extension 1 and REDL in 2; two amplifiers
per chip with pre- and overscans; the header keywords ESO writes and its pipeline reads,
see :mod:`core.uves_headers`), with the physics an expert checks
(bias levels and read noise per amplifier, column pattern and hot columns, echelle
orders on flats, ThAr-like lines on arcs, photon noise, cosmic rays, saturation),
slow drifts from night to night, an optional intervention, and one of
:data:`DEFECT_FAMILIES` injected into some frames of the last nights. What was
injected, with its magnitude, goes to ``truth.csv``.

Everything is vectorised float32 numpy and seeded: the same seed gives the same
bytes. Noise uses the Gaussian approximation of photon statistics, which is exact
enough at calibration flux levels and much faster than Poisson draws.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import zlib
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import ncompress
import numpy as np
from astropy.io import fits

from . import uves_headers

__all__ = [
    "COMPRESSIONS",
    "DEFECT_FAMILIES",
    "DPR_TYPES",
    "SETTINGS",
    "TRUTH_COLUMNS",
    "TRUTH_FILE",
    "Exposure",
    "SimulatedFrame",
    "UvesSimulator",
    "defects_for",
    "simulate_frame",
    "simulate_nights",
]

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

BIAS, FLAT, WAVE = "BIAS", "LAMP,FLAT", "LAMP,WAVE"
DPR_TYPES: tuple[str, ...] = (BIAS, FLAT, WAVE)
"""The ``HIERARCH ESO DPR TYPE`` values of the simulated calibrations."""

COMPRESSIONS: Mapping[str, str] = {"none": ".fits", "Z": ".fits.Z", "gz": ".fits.gz"}
"""File name suffix of each supported compression."""

TRUTH_FILE = "truth.csv"
TRUTH_COLUMNS: tuple[str, ...] = ("path", "ext", "night", "arm", "dpr_type", "setting", "defect", "detail")
"""Columns of ``truth.csv``: one row per image extension of every simulated file."""

SATURATION = 65535.0
"""Largest value of the 16-bit analogue-to-digital converter."""

_ALL_TYPES = frozenset(DPR_TYPES)
_APPLIES_TO: Mapping[str, frozenset[str]] = {
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
_PER_EXTENSION = frozenset(
    {"bias_level_jump", "read_noise", "pickup_noise", "light_leak", "corrupted_rows", "vignetted_flat"}
)
_READ_SPEED = "225kHz,1x1,low"
_CALIBRATION_WINDOW = (time(10, 0), time(12, 0))  # UT, the morning after the night
_FIRST_NIGHT = "2025-01-01"

# Nominal sizes (scale 1) and the floors that keep tiny frames recognisable.
_NX, _PRESCAN, _OVERSCAN = 1024, 25, 25
_MIN_ROWS, _MIN_NX, _MIN_SCAN = 16, 8, 4
_MIN_ORDER_FWHM, _MIN_ORDER_SPACING = 1.5, 5.0
_LINE_FWHM, _MIN_LINE_FWHM = 2.5, 1.5
_NOMINAL_WIDTH = 2 * _NX

# Slow drifts per night (nominal pixels / ADU), mean-reverting so that long runs stay bounded.
_DRIFT_MEMORY = 0.995
_POSITION_STEP, _BIAS_STEP, _TEMPERATURE_STEP = 0.05, 0.05, 0.05
_SEASONAL_TEMPERATURE = 0.3  # K, half amplitude over a year
_PX_PER_KELVIN, _ADU_PER_KELVIN = 0.4, 0.3
_LAMP_AGEING = 0.999  # lamp flux kept per night
_INTERVENTION_FLUX = 1.15

# Cosmic rays on 15 um pixels at 2600 m: about 2 events / cm^2 / min.
_COSMIC_RATE = 7.5e-8  # hits per pixel per second
_READOUT_EXPOSURE_S = 3.0  # cosmics also arrive while a chip is read


# ----------------------------------------------------------------------------- instrument


@dataclass(frozen=True)
class _ChipSpec:
    """Nominal properties of one detector of an arm (scale 1).

    ``key`` names the chip's random streams: a chip keeps its electronic signature, lines
    and noise whichever extension holds it. ``index`` is ESO's number of the chip
    (``DET CHIPn``), ``chip_id`` and ``name`` its ``DET CHIPn ID`` and ``NAME``.
    """

    ext: int
    extname: str
    key: int
    index: int
    chip_id: str
    name: str
    rows: int
    bias_levels: tuple[float, float]
    ron_adu: tuple[float, float]
    conad: tuple[float, float]


@dataclass(frozen=True)
class _Setting:
    """One grating setting of an arm: what its flats and arcs look like (scale 1).

    ``spacing`` gives, per chip of the arm, the order spacing at the bottom and the top
    of the chip; ``tilt`` and ``curvature`` the trace's rise across the chip.
    """

    wlen: int
    grating: str
    flat_peak: float
    flat_exptime: float
    arc_exptime: float
    order_fwhm: float
    spacing: tuple[tuple[float, float], ...]
    lines_per_order: int
    line_median: float
    tilt: float
    curvature: float


@dataclass(frozen=True)
class _Arm:
    name: str
    grating_key: str
    readout_s: float
    chips: tuple[_ChipSpec, ...]
    settings: tuple[_Setting, ...]

    def setting(self, wlen: int) -> _Setting:
        for setting in self.settings:
            if setting.wlen == wlen:
                return setting
        raise ValueError(f"{self.name} has no setting {wlen}; known: {[s.wlen for s in self.settings]}")


_ARMS: Mapping[str, _Arm] = {
    "BLUE": _Arm(
        name="BLUE",
        grating_key="GRAT1",
        readout_s=22.0,
        chips=(_ChipSpec(0, "", 0, 1, "CCD-44b", "EEV44-82", 3000, (184.0, 207.0), (2.6, 2.9), (1.92, 1.86)),),
        settings=(
            _Setting(390, "CD#2", 17000.0, 20.0, 30.0, 8.0, ((58.0, 86.0),), 80, 350.0, 10.0, 8.0),
            _Setting(437, "CD#2", 26000.0, 12.0, 20.0, 9.0, ((68.0, 98.0),), 70, 450.0, -6.0, 10.0),
        ),
    ),
    "RED": _Arm(
        name="RED",
        grating_key="GRAT2",
        readout_s=30.0,
        # As ESO writes the mosaic: the upper chip (REDU, redder orders) in extension 1.
        chips=(
            _ChipSpec(1, "REDU", 2, 1, "CCD-20", "MIT-LL CCID-20", 4096, (219.0, 228.0), (2.3, 2.5), (0.85, 0.92)),
            _ChipSpec(2, "REDL", 1, 2, "CCD-44", "EEV44-82", 4096, (176.0, 194.0), (3.2, 3.5), (1.45, 1.52)),
        ),
        settings=(
            _Setting(580, "CD#3", 29000.0, 10.0, 8.0, 10.0, ((112.0, 138.0), (88.0, 112.0)), 60, 600.0, 14.0, 9.0),
            _Setting(860, "CD#4", 21000.0, 15.0, 5.0, 11.0, ((128.0, 158.0), (104.0, 128.0)), 40, 800.0, -9.0, 12.0),
        ),
    ),
}

SETTINGS: Mapping[str, tuple[int, ...]] = {name: tuple(s.wlen for s in arm.settings) for name, arm in _ARMS.items()}
"""Grating central wavelengths (nm) of each arm, the instrument modes of its flats and arcs."""


def _rng(seed: int, *keys: int | str) -> np.random.Generator:
    """An independent random stream for ``seed`` and a path of keys (stable across runs)."""
    words = [seed] + [zlib.crc32(k.encode()) if isinstance(k, str) else int(k) for k in keys]
    return np.random.default_rng(np.random.SeedSequence(words))


def _scaled(nominal: float, scale: float, minimum: int) -> int:
    return max(minimum, round(nominal * scale))


@dataclass(frozen=True)
class _Layout:
    """Columns of a raw chip: [prescan A][data A][overscan A][overscan B][data B][prescan B]."""

    rows: int
    nx: int
    prescan: int
    overscan: int

    @property
    def naxis1(self) -> int:
        return 2 * (self.prescan + self.nx + self.overscan)

    @property
    def width(self) -> int:
        """Illuminated columns of the chip (both amplifiers' data, side by side)."""
        return 2 * self.nx

    def amp_columns(self, amp: int) -> slice:
        half = self.naxis1 // 2
        return slice(0, half) if amp == 0 else slice(half, self.naxis1)

    def data_columns(self, amp: int) -> slice:
        if amp == 0:
            return slice(self.prescan, self.prescan + self.nx)
        start = self.naxis1 // 2 + self.overscan
        return slice(start, start + self.nx)

    def light_columns(self, amp: int) -> slice:
        return slice(amp * self.nx, (amp + 1) * self.nx)

    def readout_order(self) -> np.ndarray:
        """Per raw column, how many pixels its amplifier reads before it in a row."""
        left = np.arange(self.naxis1 // 2)
        return np.concatenate([left, left[::-1]])


@dataclass(frozen=True, eq=False)
class _Chip:
    """One detector as built: layout and the electronic signature fixed for its life."""

    spec: _ChipSpec
    layout: _Layout
    bias_levels: tuple[float, float]
    ron_adu: tuple[float, float]
    conad: tuple[float, float]
    bias_pattern: np.ndarray  # (naxis1,) column offsets: fixed pattern and readout ramp
    hot_columns: tuple[tuple[int, int, float], ...]  # raw column, first row, ADU
    row_noise: float
    prnu: np.ndarray  # (rows, width) pixel response

    @property
    def ext(self) -> int:
        return self.spec.ext


def _build_chip(spec: _ChipSpec, scale: float, seed: int) -> _Chip:
    """Manufacture a chip: its levels, noise, column pattern, hot columns and response."""
    layout = _Layout(
        rows=_scaled(spec.rows, scale, _MIN_ROWS),
        nx=2 * _scaled(_NX / 2, scale, _MIN_NX // 2),
        prescan=_scaled(_PRESCAN, scale, _MIN_SCAN),
        overscan=_scaled(_OVERSCAN, scale, _MIN_SCAN),
    )
    rng = _rng(seed, "chip", spec.key, spec.extname)
    levels = tuple(float(level + rng.uniform(-6.0, 6.0)) for level in spec.bias_levels)
    ron = tuple(float(r * rng.uniform(0.95, 1.05)) for r in spec.ron_adu)
    conad = tuple(float(c * rng.uniform(0.97, 1.03)) for c in spec.conad)

    pattern = np.zeros(layout.naxis1, dtype=np.float32)
    column_sigma = rng.uniform(0.3, 0.8)
    ramp_adu, ramp_length = rng.uniform(1.5, 4.0), max(2.0, 30.0 * scale)
    for amp in (0, 1):
        data = layout.data_columns(amp)
        pattern[data] = rng.normal(0.0, column_sigma, layout.nx)
        from_output = np.arange(layout.nx) if amp == 0 else np.arange(layout.nx)[::-1]
        pattern[data] += ramp_adu * np.exp(-from_output / ramp_length)

    hot = []
    for _ in range(max(1, round(rng.uniform(3, 8) * scale))):
        amp = int(rng.integers(2))
        data = layout.data_columns(amp)
        column = int(rng.integers(data.start, data.stop))
        first_row = 0 if rng.random() < 0.5 else int(rng.integers(layout.rows // 2))
        hot.append((column, first_row, float(np.exp(rng.uniform(np.log(10.0), np.log(200.0))))))

    prnu_rng = _rng(seed, "chip", spec.key, spec.extname, "prnu")
    prnu = prnu_rng.standard_normal((layout.rows, layout.width), dtype=np.float32)
    prnu *= np.float32(0.01)
    prnu += np.float32(1.0)
    return _Chip(spec, layout, levels, ron, conad, pattern, tuple(hot), 0.25, prnu)


# ----------------------------------------------------------------------------- exposures


@dataclass(frozen=True)
class Exposure:
    """What the observatory was asked to take: one raw file.

    Parameters
    ----------
    night
        Index of the night since the start of the simulation (drives the drifts).
    arm
        ``BLUE`` or ``RED``.
    dpr_type
        ``BIAS``, ``LAMP,FLAT`` or ``LAMP,WAVE`` (as in ``HIERARCH ESO DPR TYPE``).
    setting
        Grating central wavelength in nm. Biases carry the grating in place, which
        does not change their pixels.
    index
        Number of this exposure among those of the same night, arm, type and setting.
    date_obs
        Start of the exposure, UT.
    """

    night: int
    arm: str
    dpr_type: str
    setting: int
    index: int
    date_obs: datetime

    @property
    def exptime(self) -> float:
        """Exposure time in seconds (the setting's lamp time; 0 for a bias)."""
        return _exptime(self.dpr_type, _ARMS[self.arm].setting(self.setting))

    @property
    def date_obs_iso(self) -> str:
        """``DATE-OBS`` as ESO writes it: ISO 8601, UT, milliseconds."""
        return self.date_obs.isoformat(timespec="milliseconds")

    @property
    def stem(self) -> str:
        """The archive file name without suffix: ``UVES.<DATE-OBS>``."""
        return f"UVES.{self.date_obs_iso}"

    @property
    def image_exts(self) -> tuple[int, ...]:
        """HDU numbers that hold pixels: ``(0,)`` for blue, ``(1, 2)`` for red."""
        return tuple(chip.ext for chip in _ARMS[self.arm].chips)


def _exptime(dpr_type: str, setting: _Setting) -> float:
    return {BIAS: 0.0, FLAT: setting.flat_exptime, WAVE: setting.arc_exptime}[dpr_type]


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
    return tuple(family for family in DEFECT_FAMILIES if dpr_type in _APPLIES_TO[family])


# ----------------------------------------------------------------------------- defects


@dataclass(frozen=True)
class _Injection:
    """A defect drawn for one exposure: family, extensions hit, magnitudes, description."""

    family: str
    exts: tuple[int, ...]
    params: Mapping[str, Any]
    detail: str

    def hits(self, ext: int) -> bool:
        return ext in self.exts


@dataclass(frozen=True)
class _Target:
    """What the magnitude of a defect depends on: the exposure, the chip hit, the frame scale.

    ``scale`` converts full-size row counts, ``order_scale`` order positions and
    ``line_scale`` line positions to this frame's pixels.
    """

    exposure: Exposure
    chip: _Chip
    scale: float
    order_scale: float
    line_scale: float


_Drawn = tuple[dict[str, Any], str]
_AMP_NAMES = ("A", "B")
_REGIONS = ("lower-left", "lower-right", "upper-left", "upper-right", "left", "right", "bottom", "top")


def _sign(rng: np.random.Generator) -> float:
    return 1.0 if rng.random() < 0.5 else -1.0


def _region_name(where: str) -> str:
    return f"{where} {'corner' if '-' in where else 'edge'}"


def _draw_bias_level_jump(rng: np.random.Generator, target: _Target) -> _Drawn:
    amp, delta = int(rng.integers(2)), _sign(rng) * rng.uniform(5.0, 20.0)
    return {"amp": amp, "delta": delta}, f"amp {_AMP_NAMES[amp]} {delta:+.1f} ADU"


def _draw_read_noise(rng: np.random.Generator, target: _Target) -> _Drawn:
    amps = (0, 1) if rng.random() < 0.4 else (int(rng.integers(2)),)
    factors = tuple(rng.uniform(1.5, 3.0) if a in amps else 1.0 for a in (0, 1))
    ron = target.chip.ron_adu
    detail = ", ".join(f"amp {_AMP_NAMES[a]} RON x{factors[a]:.2f} ({ron[a] * factors[a]:.1f} ADU)" for a in amps)
    return {"factors": factors}, detail


def _draw_pickup_noise(rng: np.random.Generator, target: _Target) -> _Drawn:
    half = target.chip.layout.naxis1 // 2
    params = {
        "amplitude": rng.uniform(1.0, 3.0),
        "period": rng.uniform(5.0, max(6.0, min(40.0, half / 3))),
        "phase": rng.uniform(0.0, 2 * np.pi),
    }
    # A row does not last a whole number of periods: the phase moves on from row to row
    # and the stripes run slanted, by this many pixels per row.
    params["slope"] = _sign(rng) * rng.uniform(0.5, min(3.0, params["period"] / 3))
    detail = (
        f"{params['amplitude']:.1f} ADU sinusoid, period {params['period']:.1f} px, "
        f"stripes slanted {params['slope']:+.1f} px per row"
    )
    return params, detail


def _draw_light_leak(rng: np.random.Generator, target: _Target) -> _Drawn:
    params = {"amplitude": rng.uniform(5.0, 60.0), "where": str(rng.choice(_REGIONS)), "extent": rng.uniform(0.15, 0.4)}
    return params, f"glow +{params['amplitude']:.0f} ADU at the {_region_name(params['where'])}"


def _draw_corrupted_rows(rng: np.random.Generator, target: _Target) -> _Drawn:
    rows = target.chip.layout.rows
    count = min(max(2, round(rng.uniform(10, 200) * target.scale)), max(2, rows // 3))
    start, fill = int(rng.integers(0, rows - count + 1)), str(rng.choice(["zeros", "65535", "random values"]))
    detail = f"rows {start + 1}-{start + count} ({count} rows) set to {fill}"
    return {"start": start, "count": count, "fill": fill}, detail


def _draw_wrong_type(rng: np.random.Generator, target: _Target) -> _Drawn:
    header_type = target.exposure.dpr_type
    pixels = str(rng.choice([t for t in DPR_TYPES if t != header_type]))
    return {"pixels": pixels}, f"pixels of a {pixels} frame under a {header_type} header"


def _draw_low_flux_flat(rng: np.random.Generator, target: _Target) -> _Drawn:
    flux = rng.uniform(0.0, 0.2)
    return {"flux": flux}, f"lamp flux {100 * flux:.0f} % of normal"


def _draw_saturated_flat(rng: np.random.Generator, target: _Target) -> _Drawn:
    flux = rng.uniform(5.0, 10.0)
    return {"flux": flux}, f"exposure x{flux:.1f}, orders saturated"


def _draw_shifted_orders(rng: np.random.Generator, target: _Target) -> _Drawn:
    shift = _sign(rng) * rng.uniform(3.0, 15.0) * target.order_scale
    return {"shift_px": shift}, f"orders shifted {shift:+.1f} px in y"


def _draw_vignetted_flat(rng: np.random.Generator, target: _Target) -> _Drawn:
    params = {"where": str(rng.choice(_REGIONS)), "area": rng.uniform(0.15, 0.35), "level": rng.uniform(0.1, 0.6)}
    detail = (
        f"{_region_name(params['where'])} ({100 * params['area']:.0f} % of the chip) "
        f"dimmed to {100 * params['level']:.0f} %"
    )
    return params, detail


def _draw_lamp_off_arc(rng: np.random.Generator, target: _Target) -> _Drawn:
    return {"continuum": rng.uniform(0.0, 0.5)}, "arc lamp off: no lines"


def _draw_shifted_lines(rng: np.random.Generator, target: _Target) -> _Drawn:
    shift = _sign(rng) * rng.uniform(2.0, 10.0) * target.line_scale
    return {"shift_px": shift}, f"lines shifted {shift:+.1f} px in x"


def _draw_cosmic_shower(rng: np.random.Generator, target: _Target) -> _Drawn:
    pixels = target.chip.layout.rows * target.chip.layout.width
    hits, tracks = max(40, round(rng.uniform(3e-4, 1e-3) * pixels)), int(rng.integers(3, 9))
    return {"hits": hits, "tracks": tracks}, f"cosmic-ray shower: {hits} hits and {tracks} long tracks per chip"


def _draw_truncated_file(rng: np.random.Generator, target: _Target) -> _Drawn:
    keep = rng.uniform(0.2, 0.9)
    return {"keep": keep}, f"file cut at {100 * keep:.0f} % of its length"


_DRAWERS: Mapping[str, Callable[[np.random.Generator, _Target], _Drawn]] = {
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


def _check_family(family: str, dpr_type: str) -> None:
    if family not in _APPLIES_TO:
        raise ValueError(f"unknown defect family {family!r}; known: {', '.join(DEFECT_FAMILIES)}")
    if dpr_type not in _APPLIES_TO[family]:
        raise ValueError(f"{family} does not apply to {dpr_type} frames")


# ----------------------------------------------------------------------------- optics


@dataclass(frozen=True, eq=False)
class _OrderMap:
    """Where the echelle orders of one setting fall on one chip.

    ``index`` gives, per illuminated pixel, ``order * width + x``: the entry of a
    per-order table (blaze, lines) that lights it; ``profile`` the cross-dispersion
    profile (1 on the order's centre, 0 between orders).
    """

    centres: np.ndarray
    index: np.ndarray
    profile: np.ndarray


def _order_centres(rows: int, spacing: tuple[float, float], margin: float, phase: float) -> np.ndarray:
    """Rows of the order centres, spacing growing slowly from the bottom to the top."""
    bottom, top = spacing
    centres, y = [], -margin - phase * bottom
    while y < rows + margin + top:
        centres.append(y)
        y += bottom + (top - bottom) * min(max(y / rows, 0.0), 1.0)
    return np.asarray(centres)


def _order_map(layout: _Layout, centres: np.ndarray, trace: np.ndarray, fwhm: float) -> _OrderMap:
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
    return _OrderMap(centres, order, profile)


def _blaze(layout: _Layout, centres: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Relative flux along each order (n_orders, width): blaze function times lamp colour."""
    x = np.arange(layout.width)
    height = centres / layout.rows
    peak_x = layout.width * (0.5 + 0.04 * (height - 0.5) + rng.uniform(-0.02, 0.02))
    free_range = layout.width * (1.05 + 0.25 * height)
    blaze = np.sinc((x[None, :] - peak_x[:, None]) / free_range[:, None]) ** 2
    colour = 1.0 - 0.3 * np.clip((height - 0.6) / 0.6, -1, 1) ** 2
    return (blaze * colour[:, None]).astype(np.float32)


# ----------------------------------------------------------------------------- results


@dataclass(eq=False)
class SimulatedFrame:
    """One simulated raw file, with what was injected into it.

    Attributes
    ----------
    hdul
        The file's HDUs (blue: pixels in the primary; red: empty primary, ext 1 and 2).
    exposure
        What was taken: night, arm, type, setting, time.
    defect
        The injected family, or ``''`` for a good frame.
    details
        Image extension -> description of the defect there, with its magnitude. Only
        the extensions the defect hit are present.
    truncate_at
        For ``truncated_file``: the fraction of the written bytes that is kept.
    after_intervention
        Whether this lamp frame was taken after an intervention (orders, lines and
        lamp flux have jumped: a new normal, not a defect). Biases do not change.
    """

    hdul: fits.HDUList
    exposure: Exposure
    defect: str = ""
    details: dict[int, str] = field(default_factory=dict)
    truncate_at: float | None = None
    after_intervention: bool = False

    def filename(self, compress: str = "none") -> str:
        """Archive file name, e.g. ``UVES.2025-01-02T10:03:04.567.fits.Z``."""
        return self.exposure.stem + _suffix(compress)

    def to_bytes(self, compress: str = "none") -> bytes:
        """The file as written to disk: FITS, compressed, truncated if that is the defect."""
        buffer = io.BytesIO()
        uves_headers.as_eso_writes(self.hdul).writeto(buffer)
        data = _compress(buffer.getvalue(), compress)
        if self.truncate_at is not None:
            data = data[: int(len(data) * self.truncate_at)]
        return data

    def truth_rows(self, path: str, night: str) -> list[dict[str, str]]:
        """Rows of ``truth.csv`` for this file (one per image extension).

        Parameters
        ----------
        path
            The file's path relative to the simulation folder (posix).
        night
            The night's name, ``YYYY-MM-DD``.
        """
        exposure = self.exposure
        rows = []
        for ext in exposure.image_exts:
            hit = ext in self.details
            rows.append(
                {
                    "path": path,
                    "ext": str(ext),
                    "night": night,
                    "arm": exposure.arm,
                    "dpr_type": exposure.dpr_type,
                    "setting": "" if exposure.dpr_type == BIAS else str(exposure.setting),
                    "defect": self.defect if hit else "",
                    "detail": self.details[ext] if hit else ("after intervention" if self.after_intervention else ""),
                }
            )
        return rows


def _suffix(compress: str) -> str:
    if compress not in COMPRESSIONS:
        raise ValueError(f"unknown compression {compress!r}; known: {', '.join(COMPRESSIONS)}")
    return COMPRESSIONS[compress]


def _compress(data: bytes, compress: str) -> bytes:
    _suffix(compress)
    if compress == "Z":
        return ncompress.compress(data)
    if compress == "gz":
        return gzip.compress(data, compresslevel=1, mtime=0)
    return data


# ----------------------------------------------------------------------------- simulator


class UvesSimulator:
    """A simulated UVES: chips, optics and their drifts, for one seed and scale.

    Building it manufactures the chips (fixed electronic signature and pixel
    response per seed); :meth:`frame` then renders any exposure of any night.

    Parameters
    ----------
    seed
        Seed of everything random: chips, drifts, lines, noise, defects.
    scale
        Linear size of the frames relative to the real instrument (1 = 4096 x 2148 red
        chips). Spatial features shrink with it but keep a floor of about 1.5 px so that
        small frames still show orders and lines.
    intervention_night
        Night index from which orders and lines have jumped by several pixels and the
        lamps give 15 % more flux (e.g. after an instrument intervention), or ``None``.
    """

    def __init__(self, seed: int = 0, scale: float = 1.0, intervention_night: int | None = None) -> None:
        if not scale > 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.seed = seed
        self.scale = scale
        self.intervention_night = intervention_night
        self._chips = {
            arm.name: tuple(_build_chip(spec, scale, seed) for spec in arm.chips) for arm in _ARMS.values()
        }
        self._order_maps: OrderedDict[tuple[Any, ...], _OrderMap] = OrderedDict()

    # --- public

    def frame(
        self,
        arm: str,
        dpr_type: str,
        setting: int | None = None,
        *,
        night: int = 0,
        index: int = 0,
        defect: str = "",
        defect_ext: int | None = None,
        date_obs: datetime | None = None,
    ) -> SimulatedFrame:
        """Render one raw file.

        Parameters
        ----------
        arm, dpr_type, setting
            What is observed; ``setting`` (grating wavelength in nm) defaults to the
            arm's first one. For a bias it is only the grating named in the header.
        night, index
            Night index (drifts) and exposure number within the night: together with
            the seed they fix the noise, so the same frame with and without a defect
            differ only by the defect.
        defect
            A family of :data:`DEFECT_FAMILIES` that applies to ``dpr_type``, or ``''``.
        defect_ext
            For defects of one chip (e.g. ``bias_level_jump``) on a red file, the
            extension to hit; ``None`` draws one.
        date_obs
            Exposure start (UT); default: 10:00 UT on the morning after the night
            (night 0 = 2025-01-01), plus one minute per ``index``.

        Returns
        -------
        SimulatedFrame
        """
        arm_spec = _arm(arm)
        if dpr_type not in DPR_TYPES:
            raise ValueError(f"unknown DPR TYPE {dpr_type!r}; known: {', '.join(DPR_TYPES)}")
        wlen = arm_spec.settings[0].wlen if setting is None else int(setting)
        arm_spec.setting(wlen)
        if date_obs is None:
            day = date.fromisoformat(_FIRST_NIGHT) + timedelta(days=night + 1)
            date_obs = datetime.combine(day, _CALIBRATION_WINDOW[0]) + timedelta(minutes=index)
        exposure = Exposure(night, arm_spec.name, dpr_type, wlen, index, date_obs)
        return self.render(exposure, defect, defect_ext)

    def render(self, exposure: Exposure, defect: str = "", defect_ext: int | None = None) -> SimulatedFrame:
        """Render an :class:`Exposure`, optionally with a defect (see :meth:`frame`)."""
        chips = self._chips[exposure.arm]
        injection = self._draw(exposure, defect, defect_ext) if defect else None
        hdus: list[fits.PrimaryHDU | fits.ImageHDU] = []
        primary = _primary_header(exposure, chips)
        if all(chip.ext > 0 for chip in chips):  # a mosaic: empty primary, chips in extensions
            hdus.append(fits.PrimaryHDU(header=primary))
        for chip in chips:
            pixels = self._chip_pixels(exposure, chip, injection)
            header = primary if chip.ext == 0 else fits.Header()
            uves_headers.chip_cards(header, _readout(chip))
            hdu_type = fits.PrimaryHDU if chip.ext == 0 else fits.ImageHDU
            hdu = hdu_type(data=pixels, header=header)
            if chip.spec.extname:
                hdu.name = chip.spec.extname
            hdus.append(hdu)
        return SimulatedFrame(
            hdul=fits.HDUList(hdus),
            exposure=exposure,
            defect=injection.family if injection else "",
            details={ext: injection.detail for ext in injection.exts} if injection else {},
            truncate_at=injection.params["keep"] if injection and injection.family == "truncated_file" else None,
            after_intervention=self._after_intervention(exposure.night) and exposure.dpr_type != BIAS,
        )

    def _draw(self, exposure: Exposure, family: str, ext: int | None) -> _Injection:
        """Draw a defect for an exposure: which extensions it hits and how strongly."""
        _check_family(family, exposure.dpr_type)
        chips = self._chips[exposure.arm]
        exts = tuple(chip.ext for chip in chips)
        if ext is not None and ext not in exts:
            raise ValueError(f"{exposure.arm} frames have image extensions {exts}, not {ext}")
        rng = self._stream("defect", exposure, family)
        if family in _PER_EXTENSION:
            drawn = _by_key(chips)[int(rng.integers(len(chips)))].ext
            exts = (ext if ext is not None else drawn,)
        chip = next(c for c in chips if c.ext == exts[0])
        target = _Target(exposure, chip, self.scale, self._order_scale(exposure.arm, "fwhm"), self._line_scale())
        params, detail = _DRAWERS[family](rng, target)
        return _Injection(family, exts, params, detail)

    # --- drifts

    def _after_intervention(self, night: int) -> bool:
        return self.intervention_night is not None and night >= self.intervention_night

    def _drift(self, night: int) -> dict[str, float]:
        """The state of the instrument on a night: positions (nominal px), bias offsets, lamps.

        Mean-reverting random walks (steps ~0.05 px or ADU per night), a seasonal
        temperature term, lamp ageing, and the intervention's jump.
        """
        names = ["temperature"] + [f"{arm}_{axis}" for arm in _ARMS for axis in "yx"]
        chips = [chip for arm_chips in self._chips.values() for chip in _by_key(arm_chips)]
        names += [f"bias_{chip.spec.key}_{amp}" for chip in chips for amp in (0, 1)]
        steps = _rng(self.seed, "drift").standard_normal((night + 1, len(names)))
        weights = _DRIFT_MEMORY ** np.arange(night, -1, -1)
        walk = dict(zip(names, (weights @ steps).tolist(), strict=True))
        phase = float(_rng(self.seed, "season").uniform(0, 2 * np.pi))
        temperature = _SEASONAL_TEMPERATURE * math.sin(2 * math.pi * night / 365.25 + phase)
        temperature += _TEMPERATURE_STEP * walk["temperature"]
        after = self._after_intervention(night)
        state = {"temperature": temperature, "lamp": _LAMP_AGEING**night * (_INTERVENTION_FLUX if after else 1.0)}
        jump = _rng(self.seed, "intervention")
        for arm in _ARMS:
            jump_y = float(jump.choice([-1, 1]) * jump.uniform(4.0, 8.0))
            jump_x = float(jump.choice([-1, 1]) * jump.uniform(3.0, 6.0))
            state[f"{arm}_y"] = _POSITION_STEP * walk[f"{arm}_y"] + _PX_PER_KELVIN * temperature + after * jump_y
            state[f"{arm}_x"] = _POSITION_STEP * walk[f"{arm}_x"] + after * jump_x
        for name in names:
            if name.startswith("bias_"):
                state[name] = _BIAS_STEP * walk[name] + _ADU_PER_KELVIN * temperature
        return state

    # --- pixels

    def _stream(self, purpose: str, exposure: Exposure, *keys: int | str) -> np.random.Generator:
        setting = 0 if exposure.dpr_type == BIAS else exposure.setting
        return _rng(self.seed, purpose, exposure.night, exposure.arm, exposure.dpr_type, setting,
                    exposure.index, *keys)

    def _chip_pixels(self, exposure: Exposure, chip: _Chip, injection: _Injection | None) -> np.ndarray:
        """The raw uint16 image of one chip for an exposure, defect included."""
        hit = injection if injection is not None and injection.hits(chip.ext) else None
        family = hit.family if hit else ""
        params = hit.params if hit else {}
        rng = self._stream("exposure", exposure, chip.spec.key)
        defect_rng = self._stream("defect-pixels", exposure, chip.spec.key, family)
        drift = self._drift(exposure.night)

        lamp_jitter = 1.0 + 0.002 * rng.standard_normal()
        pixel_type = params.get("pixels", exposure.dpr_type)
        light = self._light(exposure, chip, pixel_type, drift, lamp_jitter, hit)
        n_cosmics = rng.poisson(_COSMIC_RATE * light.size * (exposure.exptime + _READOUT_EXPOSURE_S))
        _add_cosmics(light, n_cosmics, 0, rng)
        if family == "light_leak":
            light += _glow(chip.layout, params)
        elif family == "vignetted_flat":
            light *= _vignette(chip.layout, params)
        elif family == "cosmic_shower":
            _add_cosmics(light, params["hits"], params["tracks"], defect_rng)

        offsets = [drift[f"bias_{chip.spec.key}_{amp}"] + 0.05 * rng.standard_normal() for amp in (0, 1)]
        if family == "bias_level_jump":
            offsets[params["amp"]] += params["delta"]
        raw = _read_out(chip, light, offsets, params.get("factors", (1.0, 1.0)), rng)
        if family == "pickup_noise":
            raw += _pickup(chip.layout, params)

        np.rint(raw, out=raw)
        np.clip(raw, 0.0, SATURATION, out=raw)
        pixels = raw.astype(np.uint16)
        if family == "corrupted_rows":
            _corrupt_rows(pixels, params, defect_rng)
        return pixels

    def _light(
        self,
        exposure: Exposure,
        chip: _Chip,
        pixel_type: str,
        drift: Mapping[str, float],
        lamp_jitter: float,
        hit: _Injection | None,
    ) -> np.ndarray:
        """Photo-electrons (in ADU) on the illuminated area of a chip, before noise."""
        layout = chip.layout
        if pixel_type == BIAS:
            return np.zeros((layout.rows, layout.width), dtype=np.float32)
        family = hit.family if hit else ""
        params = hit.params if hit else {}
        setting = _ARMS[exposure.arm].setting(exposure.setting)
        y_shift = drift[f"{exposure.arm}_y"] * self._order_scale(exposure.arm, "fwhm")
        x_shift = drift[f"{exposure.arm}_x"] * self._line_scale()
        y_shift += params["shift_px"] if family == "shifted_orders" else 0.0
        x_shift += params["shift_px"] if family == "shifted_lines" else 0.0
        orders = self._orders(exposure.arm, chip, setting, y_shift)
        if pixel_type == FLAT:
            flux = setting.flat_peak * drift["lamp"] * lamp_jitter * params.get("flux", 1.0)
            table = _blaze(layout, orders.centres, self._setting_rng(setting, chip, "blaze"))
            table *= np.float32(flux)
            light = np.take(table.ravel(), orders.index)
            light *= orders.profile
            light += _scattered_light(layout, 0.008 * flux)
        else:
            lamp = 0.0 if family == "lamp_off_arc" else drift["lamp"] * lamp_jitter
            continuum = 15.0 * (params["continuum"] if family == "lamp_off_arc" else drift["lamp"])
            table = self._arc_table(chip, setting, orders, x_shift, lamp, continuum)
            light = np.take(table.ravel(), orders.index)
            light *= orders.profile
        light *= chip.prnu
        return light

    def _order_scale(self, arm: str, what: str) -> float:
        """How much order widths ("fwhm") or spacings ("spacing") of an arm shrink at this scale.

        Small frames keep orders at least ~1.5 px wide and 5 px apart; the factor is
        common to the arm's settings so that they still differ as at full size.
        """
        settings = _ARMS[arm].settings
        if what == "fwhm":
            return max(self.scale, _MIN_ORDER_FWHM / min(s.order_fwhm for s in settings))
        smallest = min(bottom for s in settings for bottom, _ in s.spacing)
        return max(self.scale, _MIN_ORDER_SPACING / smallest)

    def _line_scale(self) -> float:
        return max(self.scale, _MIN_LINE_FWHM / _LINE_FWHM)

    def _setting_rng(self, setting: _Setting, chip: _Chip, what: str) -> np.random.Generator:
        return _rng(self.seed, "setting", setting.wlen, chip.spec.key, what)

    def _orders(self, arm: str, chip: _Chip, setting: _Setting, y_shift: float) -> _OrderMap:
        """The order map of a setting on a chip, shifted in y (kept for a few reuses)."""
        key = (chip.ext, setting.wlen, round(y_shift, 6))
        if key in self._order_maps:
            self._order_maps.move_to_end(key)
            return self._order_maps[key]
        layout = chip.layout
        spacing_scale = self._order_scale(arm, "spacing")
        spacing = setting.spacing[_ARMS[arm].chips.index(chip.spec)]
        rng = self._setting_rng(setting, chip, "orders")
        t = np.linspace(-1.0, 1.0, layout.width)
        trace = spacing_scale * (setting.tilt * t + setting.curvature * t**2)
        margin = spacing_scale * (abs(setting.tilt) + abs(setting.curvature))
        centres = _order_centres(layout.rows, (spacing[0] * spacing_scale, spacing[1] * spacing_scale),
                                 margin, rng.uniform(0.0, 1.0))
        fwhm = setting.order_fwhm * self._order_scale(arm, "fwhm")
        order_map = _order_map(layout, centres + y_shift, trace, fwhm)
        self._order_maps[key] = order_map
        while len(self._order_maps) > 2:
            self._order_maps.popitem(last=False)
        return order_map

    def _arc_table(
        self, chip: _Chip, setting: _Setting, orders: _OrderMap, x_shift: float, lamp: float, continuum: float
    ) -> np.ndarray:
        """Flux along each order of an arc (n_orders, width): ThAr-like lines plus continuum.

        Line positions and intensities are fixed per setting and chip (the lamp's
        spectrum); a few dozen lines per order at full size, log-normal intensities
        from tens of ADU to ~40000, a handful saturated.
        """
        layout = chip.layout
        n_orders, width = len(orders.centres), layout.width
        rng = self._setting_rng(setting, chip, "lines")
        per_order = max(3, round(setting.lines_per_order * width / _NOMINAL_WIDTH))
        order = np.repeat(np.arange(n_orders), per_order)
        position = rng.uniform(0.0, 1.0, order.size) * width
        intensity = np.minimum(rng.lognormal(math.log(setting.line_median), 1.3, order.size), 40000.0)
        bright = rng.choice(order.size, size=max(1, round(0.002 * order.size)), replace=False)
        intensity[bright] = rng.uniform(80000.0, 200000.0, bright.size)

        sigma = _LINE_FWHM * self._line_scale() / 2.3548
        reach = int(math.ceil(4 * sigma))
        columns = np.floor(position + x_shift).astype(int)[:, None] + np.arange(-reach, reach + 1)
        values = (lamp * intensity)[:, None] * np.exp(-0.5 * ((columns - (position + x_shift)[:, None]) / sigma) ** 2)
        inside = (columns >= 0) & (columns < width)
        flat_index = (order[:, None] * width + columns)[inside]
        table = np.bincount(flat_index, weights=values[inside], minlength=n_orders * width)
        table = table.reshape(n_orders, width).astype(np.float32)
        table += np.float32(continuum) * _blaze(layout, orders.centres, self._setting_rng(setting, chip, "blaze"))
        return table


def _by_key(chips: Sequence[_Chip]) -> list[_Chip]:
    """The chips in the order of their random streams (the order of draws among them)."""
    return sorted(chips, key=lambda chip: chip.spec.key)


def _arm(name: str) -> _Arm:
    if name not in _ARMS:
        raise ValueError(f"unknown arm {name!r}; known: {', '.join(_ARMS)}")
    return _ARMS[name]


# ----------------------------------------------------------------------------- pixel physics


def _scattered_light(layout: _Layout, level: float) -> np.ndarray:
    """A smooth, low glow of light scattered between the orders (peak ``level`` ADU)."""
    x = np.sin(np.pi * (np.arange(layout.width) + 0.5) / layout.width)
    y = np.sin(np.pi * (np.arange(layout.rows) + 0.5) / layout.rows)
    return np.outer(level * (0.7 + 0.3 * y), 0.6 + 0.4 * x).astype(np.float32)


def _add_cosmics(light: np.ndarray, hits: int, tracks: int, rng: np.random.Generator) -> None:
    """Deposit cosmic-ray hits (1-2 px blobs) and long straight tracks into ``light``."""
    rows, width = light.shape
    flat = light.reshape(-1)
    y, x = rng.integers(0, rows, hits), rng.integers(0, width, hits)
    energy = rng.lognormal(math.log(1500.0), 0.8, hits)
    np.add.at(flat, y * width + x, energy)
    # Part of the charge lands in a neighbouring pixel.
    dy, dx = rng.integers(-1, 2, hits), rng.integers(-1, 2, hits)
    ny, nx = np.clip(y + dy, 0, rows - 1), np.clip(x + dx, 0, width - 1)
    np.add.at(flat, ny * width + nx, energy * rng.uniform(0.05, 0.5, hits))
    for _ in range(tracks):
        length = rng.uniform(100.0, 600.0) * max(rows, width) / 4096 + 8
        angle = rng.uniform(0.0, np.pi)
        start_y, start_x = rng.uniform(0, rows), rng.uniform(0, width)
        steps = np.linspace(0.0, length, int(2 * length))
        ty = np.round(start_y + steps * math.sin(angle)).astype(int)
        tx = np.round(start_x + steps * math.cos(angle)).astype(int)
        keep = (ty >= 0) & (ty < rows) & (tx >= 0) & (tx < width)
        np.add.at(flat, ty[keep] * width + tx[keep], rng.uniform(150.0, 600.0, int(keep.sum())))


def _read_out(
    chip: _Chip,
    light: np.ndarray,
    offsets: Sequence[float],
    ron_factors: Sequence[float],
    rng: np.random.Generator,
) -> np.ndarray:
    """Read a chip: bias levels, column pattern, row noise, read and photon noise (ADU)."""
    layout = chip.layout
    raw = rng.standard_normal((layout.rows, layout.naxis1), dtype=np.float32)
    row_noise = rng.standard_normal((2, layout.rows), dtype=np.float32) * np.float32(chip.row_noise)
    for amp in (0, 1):
        region = raw[:, layout.amp_columns(amp)]
        ron = chip.ron_adu[amp] * ron_factors[amp]
        region *= np.float32(ron)
        data = raw[:, layout.data_columns(amp)]
        signal = light[:, layout.light_columns(amp)]
        # Photon noise in quadrature with read noise: sqrt(ron^2 + S / conad).
        np.maximum(signal, 0.0, out=signal)
        data *= np.sqrt(1.0 + signal * np.float32(1.0 / (chip.conad[amp] * ron**2)))
        data += signal
        region += np.float32(chip.bias_levels[amp] + offsets[amp])
        region += row_noise[amp][:, None]
    raw += chip.bias_pattern
    for column, first_row, adu in chip.hot_columns:
        raw[first_row:, column] += np.float32(adu)
    return raw


def _distances(layout: _Layout, where: str) -> tuple[np.ndarray, np.ndarray]:
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


def _vignette(layout: _Layout, params: Mapping[str, Any]) -> np.ndarray:
    """Multiplicative mask dimming a corner or an edge band to ``level``, with a soft edge."""
    dx, dy = _distances(layout, params["where"])
    extent = math.sqrt(params["area"]) if "-" in params["where"] else params["area"]
    soft = 0.03
    inside_x = np.nan_to_num(1 / (1 + np.exp((dx - extent) / soft)), nan=1.0)
    inside_y = np.nan_to_num(1 / (1 + np.exp((dy - extent) / soft)), nan=1.0)
    return (1.0 - (1.0 - params["level"]) * np.outer(inside_y, inside_x)).astype(np.float32)


def _glow(layout: _Layout, params: Mapping[str, Any]) -> np.ndarray:
    """Smooth additive light from a leak, brightest at a corner or along an edge."""
    dx, dy = _distances(layout, params["where"])
    extent = params["extent"]
    gx = np.nan_to_num(np.exp(-0.5 * (dx / extent) ** 2), nan=1.0)
    gy = np.nan_to_num(np.exp(-0.5 * (dy / extent) ** 2), nan=1.0)
    return (params["amplitude"] * np.outer(gy, gx)).astype(np.float32)


def _pickup(layout: _Layout, params: Mapping[str, Any]) -> np.ndarray:
    """Periodic interference: a sinusoid in readout time, so stripes run diagonally."""
    k = 2 * np.pi / params["period"]
    a = k * layout.readout_order() + params["phase"]  # along a row
    b = k * params["slope"] * np.arange(layout.rows)  # phase carried from row to row
    # sin(a + b) = sin a cos b + cos a sin b, as two outer products.
    pattern = np.outer(np.cos(b), np.sin(a)) + np.outer(np.sin(b), np.cos(a))
    return (params["amplitude"] * pattern).astype(np.float32)


def _corrupt_rows(pixels: np.ndarray, params: Mapping[str, Any], rng: np.random.Generator) -> None:
    """Replace a block of rows by garbage, as a readout or transfer glitch does."""
    block = pixels[params["start"] : params["start"] + params["count"]]
    if params["fill"] == "zeros":
        block[:] = 0
    elif params["fill"] == "65535":
        block[:] = int(SATURATION)
    else:
        block[:] = rng.integers(0, int(SATURATION) + 1, block.shape, dtype=np.uint16)


# ----------------------------------------------------------------------------- headers


def _primary_header(exposure: Exposure, chips: Sequence[_Chip]) -> fits.Header:
    """ESO primary header of a calibration: what, when, which arm, grating and detector."""
    arm = _ARMS[exposure.arm]
    setting = arm.setting(exposure.setting)
    written = exposure.date_obs + timedelta(seconds=exposure.exptime + arm.readout_s)
    return uves_headers.primary_header(
        arm=arm.name,
        dpr_type=exposure.dpr_type,
        date_obs=exposure.date_obs,
        exptime=exposure.exptime,
        written=written,
        arcfile=exposure.stem + ".fits",
        chips=[_readout(chip) for chip in chips],
        grating=(arm.grating_key, setting.grating, setting.wlen),
        read_speed=_READ_SPEED,
    )


def _readout(chip: _Chip) -> uves_headers.ChipReadout:
    """How the headers describe a chip: ESO's chip number, names, layout and outputs."""
    layout, spec = chip.layout, chip.spec
    outputs = tuple(uves_headers.Output(conad, ron) for conad, ron in zip(chip.conad, chip.ron_adu, strict=True))
    return uves_headers.ChipReadout(
        spec.index, spec.chip_id, spec.name, layout.rows, layout.nx, layout.prescan, layout.overscan, outputs
    )


# ----------------------------------------------------------------------------- nights


def _night_plan(
    night: int, night_date: date, counts: Mapping[str, int], rng: np.random.Generator
) -> list[Exposure]:
    """The calibration plan of a night, timed in the morning after it (10:00-12:00 UT).

    Per arm: the biases, then for each grating setting its flats and its arcs. Each
    exposure starts when the previous one is read out, plus a few seconds; if the
    plan would not fit in the window, the gaps are compressed (at least 1 s apart).
    """
    plan: list[tuple[str, str, int, int]] = []
    for arm in _ARMS.values():
        in_place = arm.settings[int(rng.integers(len(arm.settings)))].wlen
        plan += [(arm.name, BIAS, in_place, i) for i in range(counts[BIAS])]
        for setting in arm.settings:
            plan += [(arm.name, FLAT, setting.wlen, i) for i in range(counts[FLAT])]
            plan += [(arm.name, WAVE, setting.wlen, i) for i in range(counts[WAVE])]
    durations = np.array(
        [_exptime(kind, _ARMS[arm].setting(wlen)) + _ARMS[arm].readout_s for arm, kind, wlen, _ in plan]
    )
    durations += rng.uniform(1.0, 5.0, len(plan))
    morning = datetime.combine(night_date + timedelta(days=1), _CALIBRATION_WINDOW[0])
    start = timedelta(seconds=round(rng.uniform(0.0, 600.0), 3))
    window = (datetime.combine(morning.date(), _CALIBRATION_WINDOW[1]) - morning - start).total_seconds()
    if len(plan) > window:
        raise ValueError(f"{len(plan)} exposures do not fit in the morning calibration window")
    if durations.sum() > window:
        durations = np.maximum(1.0, durations * (window - len(plan)) / durations.sum())
    offsets = np.concatenate([[0.0], np.cumsum(durations[:-1])])
    return [
        Exposure(night, arm, kind, wlen, index, morning + start + timedelta(milliseconds=round(1000 * offset)))
        for (arm, kind, wlen, index), offset in zip(plan, offsets, strict=True)
    ]


def _assign_defects(
    exposures: Sequence[Exposure], families: Sequence[str], rate: float, rng: np.random.Generator
) -> dict[int, str]:
    """Choose which exposures get which defect family.

    Each exposure is picked with probability ``rate``. Every family is then given to
    at least one picked exposure it applies to (the scarcest families first, picking
    an extra exposure if none is left), and the remaining picks get the family that
    has been used least so far, so that all families are represented.
    """
    if rate <= 0 or not families:
        return {}
    order = [int(i) for i in rng.permutation(len(exposures))]
    picked = [i for i in order if rng.random() < rate]
    chosen = set(picked)
    spare = [i for i in order if i not in chosen]
    family_order = [families[int(i)] for i in rng.permutation(len(families))]

    def applies(i: int, family: str) -> bool:
        return exposures[i].dpr_type in _APPLIES_TO[family]

    assigned: dict[int, str] = {}
    scarcity = sorted(family_order, key=lambda f: sum(applies(i, f) for i in picked))
    for family in scarcity:
        free = [i for i in picked if i not in assigned and applies(i, family)]
        if not free:
            free = [i for i in spare if i not in assigned and applies(i, family)]
        if free:
            assigned[free[0]] = family
    used = Counter(assigned.values())
    for i in picked:
        if i in assigned:
            continue
        options = [f for f in family_order if applies(i, f)]
        if options:
            family = min(options, key=lambda f: used[f])
            assigned[i] = family
            used[family] += 1
    return assigned


def _read_truth(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _forget_nights(outdir: Path, rows: Sequence[dict[str, str]], nights: set[str]) -> list[dict[str, str]]:
    """Delete the files an earlier simulation wrote for ``nights``; return the other truth rows.

    Only files that the truth file lists, in a night folder and named ``UVES.*``, are
    touched: anything else in the folder is left alone.
    """
    kept = []
    for row in rows:
        if row.get("night") not in nights:
            kept.append(row)
            continue
        parts = Path(row["path"]).parts
        if len(parts) == 2 and parts[0] == row["night"] and parts[1].startswith("UVES."):
            (outdir / row["path"]).unlink(missing_ok=True)
    return kept


def _write_truth(path: Path, rows: Sequence[Mapping[str, str]]) -> None:
    ordered = sorted(rows, key=lambda r: (r["night"], r["path"], int(r["ext"] or 0)))
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=TRUTH_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(ordered)


def simulate_nights(
    outdir: str | Path,
    nights: int = 12,
    test_nights: int = 2,
    *,
    start: str | date = _FIRST_NIGHT,
    seed: int = 0,
    scale: float = 1.0,
    compress: str = "none",
    defect_rate: float = 0.4,
    defects: Sequence[str] | None = None,
    biases: int = 5,
    flats: int = 3,
    arcs: int = 2,
    intervention_night: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write nights of UVES-like calibrations, with defects in the last ones, and their truth.

    The first ``nights - test_nights`` nights are history: every frame is good. In
    each of the last ``test_nights`` nights, every file gets a defect with probability
    ``defect_rate``; over those nights every requested family that applies to some
    frame appears at least once (an extra frame is picked if needed).

    Parameters
    ----------
    outdir
        Folder to write into: ``<outdir>/<night YYYY-MM-DD>/UVES.<DATE-OBS>.fits[.Z|.gz]``
        and ``<outdir>/truth.csv``. Files this function wrote earlier for the same
        nights are replaced; truth rows of other nights are kept.
    nights, test_nights
        Number of nights, and how many of the last ones get defects.
    start
        Date of the first night (a night is named by the date on which it began; its
        calibrations are taken between 10:00 and 12:00 UT the next day).
    seed
        Seed of everything: same seed, same bytes.
    scale
        Frame size relative to the real instrument (0.05 makes tiny, fast frames).
    compress
        ``"none"``, ``"Z"`` (Unix compress, as ESO's archive delivers) or ``"gz"``.
    defect_rate
        Probability that a file of a test night is defective.
    defects
        Families to inject (default: all of :data:`DEFECT_FAMILIES`).
    biases, flats, arcs
        Biases per arm, and flats and arcs per arm and grating setting, per night.
    intervention_night
        Index of the night (0 = ``start``) from which orders, lines and lamp flux have
        jumped: good frames, truth detail ``after intervention`` on flats and arcs.
    progress
        Called as ``progress(files_done, files_total)`` after each file.

    Returns
    -------
    Path
        The truth file, with columns :data:`TRUTH_COLUMNS`.
    """
    if not 0 <= test_nights <= nights:
        raise ValueError(f"test_nights must be between 0 and nights ({nights}), got {test_nights}")
    if not 0.0 <= defect_rate <= 1.0:
        raise ValueError(f"defect_rate must be between 0 and 1, got {defect_rate}")
    if min(biases, flats, arcs) < 0:
        raise ValueError("biases, flats and arcs must not be negative")
    families = list(DEFECT_FAMILIES if defects is None else defects)
    unknown = sorted(set(families) - set(DEFECT_FAMILIES))
    if unknown:
        raise ValueError(f"unknown defect families {unknown}; known: {', '.join(DEFECT_FAMILIES)}")
    suffix = _suffix(compress)
    first = date.fromisoformat(start) if isinstance(start, str) else start
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    truth_path = outdir / TRUTH_FILE

    night_dates = [first + timedelta(days=n) for n in range(nights)]
    night_names = {d.isoformat() for d in night_dates}
    kept = _forget_nights(outdir, _read_truth(truth_path), night_names)

    counts = {BIAS: biases, FLAT: flats, WAVE: arcs}
    plans = [_night_plan(n, d, counts, _rng(seed, "plan", d.isoformat())) for n, d in enumerate(night_dates)]
    testing = [e for plan in plans[nights - test_nights :] for e in plan]
    assigned = _assign_defects(testing, families, defect_rate, _rng(seed, "assign"))
    defect_of = {testing[i]: family for i, family in assigned.items()}

    simulator = UvesSimulator(seed=seed, scale=scale, intervention_night=intervention_night)
    total, done, rows = sum(len(p) for p in plans), 0, list(kept)
    for night_date, plan in zip(night_dates, plans, strict=True):
        folder = outdir / night_date.isoformat()
        folder.mkdir(exist_ok=True)
        for exposure in plan:
            frame = simulator.render(exposure, defect_of.get(exposure, ""))
            path = folder / (exposure.stem + suffix)
            path.write_bytes(frame.to_bytes(compress))
            rows += frame.truth_rows(path.relative_to(outdir).as_posix(), night_date.isoformat())
            done += 1
            if progress is not None:
                progress(done, total)
    _write_truth(truth_path, rows)
    return truth_path


def simulate_frame(
    arm: str,
    dpr_type: str,
    setting: int | None = None,
    *,
    night: int = 0,
    index: int = 0,
    defect: str = "",
    defect_ext: int | None = None,
    seed: int = 0,
    scale: float = 1.0,
    intervention_night: int | None = None,
    date_obs: datetime | None = None,
) -> SimulatedFrame:
    """Simulate one raw file in memory, optionally with a defect.

    A shortcut for ``UvesSimulator(seed, scale, intervention_night).frame(...)``; build
    the simulator once when rendering many frames. The same arguments with and
    without ``defect`` give frames that differ only by the defect.

    Examples
    --------
    >>> good = simulate_frame("RED", "BIAS", scale=0.05)
    >>> bad = simulate_frame("RED", "BIAS", scale=0.05, defect="bias_level_jump", defect_ext=1)
    >>> bad.details[1]  # doctest: +SKIP
    'amp B +12.3 ADU'
    """
    simulator = UvesSimulator(seed=seed, scale=scale, intervention_night=intervention_night)
    return simulator.frame(arm, dpr_type, setting, night=night, index=index, defect=defect,
                           defect_ext=defect_ext, date_obs=date_obs)
