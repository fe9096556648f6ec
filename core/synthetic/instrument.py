"""The simulated UVES: arms, chips, grating settings, the layout of a raw chip, the chips as built.

Numbers close to the real instrument's (EEV and MIT-LL chips read through two outputs,
bias levels near 200 ADU, read noise of 2-3.5 ADU, two grating settings per arm), so that
calspot's numbers on simulated frames look like those of a real night. Building a chip
(:func:`build_chip`) fixes its electronic signature for a seed: levels, noise, column
pattern, hot columns and pixel response. Every random draw of the simulator comes from
:func:`random_stream`, keyed by what it is for, so that the same seed gives the same
bytes and a defect added to a frame changes nothing else in it.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

BIAS, FLAT, WAVE = "BIAS", "LAMP,FLAT", "LAMP,WAVE"
DPR_TYPES: tuple[str, ...] = (BIAS, FLAT, WAVE)
"""The ``HIERARCH ESO DPR TYPE`` values of the simulated calibrations."""


SATURATION = 65535.0
"""Largest value of the 16-bit analogue-to-digital converter."""


# Nominal sizes (scale 1) and the floors that keep tiny frames recognisable.
_NX, _PRESCAN, _OVERSCAN = 1024, 25, 25
_MIN_ROWS, _MIN_NX, _MIN_SCAN = 16, 8, 4
NOMINAL_WIDTH = 2 * _NX


@dataclass(frozen=True)
class ChipSpec:
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
class Setting:
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
class Arm:
    """One arm of the spectrograph: its chips, its grating settings and how long a read-out takes."""

    name: str
    grating_key: str
    readout_s: float
    chips: tuple[ChipSpec, ...]
    settings: tuple[Setting, ...]

    def setting(self, wlen: int) -> Setting:
        """The setting of central wavelength ``wlen`` (nm); a clear error for one the arm lacks."""
        for setting in self.settings:
            if setting.wlen == wlen:
                return setting
        raise ValueError(f"{self.name} has no setting {wlen}; known: {[s.wlen for s in self.settings]}")


ARMS: Mapping[str, Arm] = {
    "BLUE": Arm(
        name="BLUE",
        grating_key="GRAT1",
        readout_s=22.0,
        chips=(ChipSpec(0, "", 0, 1, "CCD-44b", "EEV44-82", 3000, (184.0, 207.0), (2.6, 2.9), (1.92, 1.86)),),
        settings=(
            Setting(390, "CD#2", 17000.0, 20.0, 30.0, 8.0, ((58.0, 86.0),), 80, 350.0, 10.0, 8.0),
            Setting(437, "CD#2", 26000.0, 12.0, 20.0, 9.0, ((68.0, 98.0),), 70, 450.0, -6.0, 10.0),
        ),
    ),
    "RED": Arm(
        name="RED",
        grating_key="GRAT2",
        readout_s=30.0,
        # As ESO writes the mosaic: the upper chip (REDU, redder orders) in extension 1.
        chips=(
            ChipSpec(1, "REDU", 2, 1, "CCD-20", "MIT-LL CCID-20", 4096, (219.0, 228.0), (2.3, 2.5), (0.85, 0.92)),
            ChipSpec(2, "REDL", 1, 2, "CCD-44", "EEV44-82", 4096, (176.0, 194.0), (3.2, 3.5), (1.45, 1.52)),
        ),
        settings=(
            Setting(580, "CD#3", 29000.0, 10.0, 8.0, 10.0, ((112.0, 138.0), (88.0, 112.0)), 60, 600.0, 14.0, 9.0),
            Setting(860, "CD#4", 21000.0, 15.0, 5.0, 11.0, ((128.0, 158.0), (104.0, 128.0)), 40, 800.0, -9.0, 12.0),
        ),
    ),
}


SETTINGS: Mapping[str, tuple[int, ...]] = {name: tuple(s.wlen for s in arm.settings) for name, arm in ARMS.items()}
"""Grating central wavelengths (nm) of each arm, the instrument modes of its flats and arcs."""


def arm_named(name: str) -> Arm:
    """The arm called ``name`` (``BLUE`` or ``RED``); a clear error for any other."""
    if name not in ARMS:
        raise ValueError(f"unknown arm {name!r}; known: {', '.join(ARMS)}")
    return ARMS[name]


def exposure_time(dpr_type: str, setting: Setting) -> float:
    """Exposure time (s) of a frame of this type in this setting: the lamp's time, 0 for a bias."""
    return {BIAS: 0.0, FLAT: setting.flat_exptime, WAVE: setting.arc_exptime}[dpr_type]


def random_stream(seed: int, *keys: int | str) -> np.random.Generator:
    """An independent random stream for ``seed`` and a path of keys (stable across runs)."""
    words = [seed] + [zlib.crc32(k.encode()) if isinstance(k, str) else int(k) for k in keys]
    return np.random.default_rng(np.random.SeedSequence(words))


def _scaled(nominal: float, scale: float, minimum: int) -> int:
    return max(minimum, round(nominal * scale))


@dataclass(frozen=True)
class Layout:
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
class Chip:
    """One detector as built: layout and the electronic signature fixed for its life."""

    spec: ChipSpec
    layout: Layout
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


def build_chip(spec: ChipSpec, scale: float, seed: int) -> Chip:
    """Manufacture a chip: its levels, noise, column pattern, hot columns and response."""
    layout = Layout(
        rows=_scaled(spec.rows, scale, _MIN_ROWS),
        nx=2 * _scaled(_NX / 2, scale, _MIN_NX // 2),
        prescan=_scaled(_PRESCAN, scale, _MIN_SCAN),
        overscan=_scaled(_OVERSCAN, scale, _MIN_SCAN),
    )
    rng = random_stream(seed, "chip", spec.key, spec.extname)
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

    prnu_rng = random_stream(seed, "chip", spec.key, spec.extname, "prnu")
    prnu = prnu_rng.standard_normal((layout.rows, layout.width), dtype=np.float32)
    prnu *= np.float32(0.01)
    prnu += np.float32(1.0)
    return Chip(spec, layout, levels, ron, conad, pattern, tuple(hot), 0.25, prnu)


def by_key(chips: Sequence[Chip]) -> list[Chip]:
    """The chips in the order of their random streams (the order of draws among them)."""
    return sorted(chips, key=lambda chip: chip.spec.key)
