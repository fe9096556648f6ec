""":class:`UvesSimulator`, the pixel model: light, cosmic rays, read-out, drifts from night to night.

A frame is rendered chip by chip: the lamp's light along the orders (or none on a bias)
times the pixel response, cosmic rays, then the read-out with bias levels, column pattern,
row noise, read and photon noise, hot columns, rounding and saturation of the 16-bit
converter; a defect drawn for the exposure changes its part of this chain. The instrument
drifts slowly from night to night (positions, bias levels, lamp ageing, a seasonal
temperature), and may jump at an intervention. Noise uses the Gaussian approximation of
photon statistics, exact enough at calibration flux levels and much faster than Poisson
draws.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from astropy.io import fits

from . import headers
from .defects import DRAWERS, PER_EXTENSION, SEVERITIES, Injection, Target, check_family, corrupt_rows, glow, pickup, vignette
from .frames import CALIBRATION_WINDOW, FIRST_NIGHT, Exposure, SimulatedFrame
from .instrument import ARMS, BIAS, DPR_TYPES, FLAT, NOMINAL_WIDTH, SATURATION, Chip, Setting, arm_named, build_chip, by_key, random_stream
from .optics import OrderMap, map_orders, order_blaze, order_centres, scattered_light

_READ_SPEED = "225kHz,1x1,low"


# Floors (px) that keep orders and lines recognisable on tiny frames; arc lines' width at scale 1.
_MIN_ORDER_FWHM, _MIN_ORDER_SPACING = 1.5, 5.0
_LINE_FWHM, _MIN_LINE_FWHM = 2.5, 1.5


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
    severity
        How strong the injected defects are: one of :data:`~core.synthetic.defects.SEVERITIES`.
    """

    def __init__(self, seed: int = 0, scale: float = 1.0, intervention_night: int | None = None, severity: str = "gross") -> None:
        if not scale > 0:
            raise ValueError(f"scale must be positive, got {scale}")
        if severity not in SEVERITIES:
            raise ValueError(f"unknown severity {severity!r}; use one of {', '.join(SEVERITIES)}")
        self.severity = severity
        self.seed = seed
        self.scale = scale
        self.intervention_night = intervention_night
        self._chips = {arm.name: tuple(build_chip(spec, scale, seed) for spec in arm.chips) for arm in ARMS.values()}
        self._order_maps: OrderedDict[tuple[Any, ...], OrderMap] = OrderedDict()

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
        arm_spec = arm_named(arm)
        if dpr_type not in DPR_TYPES:
            raise ValueError(f"unknown DPR TYPE {dpr_type!r}; known: {', '.join(DPR_TYPES)}")
        wlen = arm_spec.settings[0].wlen if setting is None else int(setting)
        arm_spec.setting(wlen)
        if date_obs is None:
            day = date.fromisoformat(FIRST_NIGHT) + timedelta(days=night + 1)
            date_obs = datetime.combine(day, CALIBRATION_WINDOW[0]) + timedelta(minutes=index)
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
            headers.chip_cards(header, _readout(chip))
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

    def _draw(self, exposure: Exposure, family: str, ext: int | None) -> Injection:
        """Draw a defect for an exposure: which extensions it hits and how strongly."""
        check_family(family, exposure.dpr_type)
        chips = self._chips[exposure.arm]
        exts = tuple(chip.ext for chip in chips)
        if ext is not None and ext not in exts:
            raise ValueError(f"{exposure.arm} frames have image extensions {exts}, not {ext}")
        rng = self._stream("defect", exposure, family)
        if family in PER_EXTENSION:
            drawn = by_key(chips)[int(rng.integers(len(chips)))].ext
            exts = (ext if ext is not None else drawn,)
        chip = next(c for c in chips if c.ext == exts[0])
        target = Target(exposure, chip, self.scale, self._order_scale(exposure.arm, "fwhm"), self._line_scale(), self.severity)
        params, detail = DRAWERS[family](rng, target)
        return Injection(family, exts, params, detail)

    # --- drifts

    def _after_intervention(self, night: int) -> bool:
        return self.intervention_night is not None and night >= self.intervention_night

    def _drift(self, night: int) -> dict[str, float]:
        """The state of the instrument on a night: positions (nominal px), bias offsets, lamps.

        Mean-reverting random walks (steps ~0.05 px or ADU per night), a seasonal
        temperature term, lamp ageing, and the intervention's jump.
        """
        names = ["temperature"] + [f"{arm}_{axis}" for arm in ARMS for axis in "yx"]
        chips = [chip for arm_chips in self._chips.values() for chip in by_key(arm_chips)]
        names += [f"bias_{chip.spec.key}_{amp}" for chip in chips for amp in (0, 1)]
        steps = random_stream(self.seed, "drift").standard_normal((night + 1, len(names)))
        weights = _DRIFT_MEMORY ** np.arange(night, -1, -1)
        walk = dict(zip(names, (weights @ steps).tolist(), strict=True))
        phase = float(random_stream(self.seed, "season").uniform(0, 2 * np.pi))
        temperature = _SEASONAL_TEMPERATURE * math.sin(2 * math.pi * night / 365.25 + phase)
        temperature += _TEMPERATURE_STEP * walk["temperature"]
        after = self._after_intervention(night)
        state = {"temperature": temperature, "lamp": _LAMP_AGEING**night * (_INTERVENTION_FLUX if after else 1.0)}
        jump = random_stream(self.seed, "intervention")
        for arm in ARMS:
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
        return random_stream(self.seed, purpose, exposure.night, exposure.arm, exposure.dpr_type, setting, exposure.index, *keys)

    def _chip_pixels(self, exposure: Exposure, chip: Chip, injection: Injection | None) -> np.ndarray:
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
            light += glow(chip.layout, params)
        elif family == "vignetted_flat":
            light *= vignette(chip.layout, params)
        elif family == "cosmic_shower":
            _add_cosmics(light, params["hits"], params["tracks"], defect_rng)

        offsets = [drift[f"bias_{chip.spec.key}_{amp}"] + 0.05 * rng.standard_normal() for amp in (0, 1)]
        if family == "bias_level_jump":
            offsets[params["amp"]] += params["delta"]
        raw = _read_out(chip, light, offsets, params.get("factors", (1.0, 1.0)), rng)
        if family == "pickup_noise":
            raw += pickup(chip.layout, params)

        np.rint(raw, out=raw)
        np.clip(raw, 0.0, SATURATION, out=raw)
        pixels = raw.astype(np.uint16)
        if family == "corrupted_rows":
            corrupt_rows(pixels, params, defect_rng)
        return pixels

    def _light(
        self,
        exposure: Exposure,
        chip: Chip,
        pixel_type: str,
        drift: Mapping[str, float],
        lamp_jitter: float,
        hit: Injection | None,
    ) -> np.ndarray:
        """Photo-electrons (in ADU) on the illuminated area of a chip, before noise."""
        layout = chip.layout
        if pixel_type == BIAS:
            return np.zeros((layout.rows, layout.width), dtype=np.float32)
        family = hit.family if hit else ""
        params = hit.params if hit else {}
        setting = ARMS[exposure.arm].setting(exposure.setting)
        y_shift = drift[f"{exposure.arm}_y"] * self._order_scale(exposure.arm, "fwhm")
        x_shift = drift[f"{exposure.arm}_x"] * self._line_scale()
        y_shift += params["shift_px"] if family == "shifted_orders" else 0.0
        x_shift += params["shift_px"] if family == "shifted_lines" else 0.0
        orders = self._orders(exposure.arm, chip, setting, y_shift)
        if pixel_type == FLAT:
            flux = setting.flat_peak * drift["lamp"] * lamp_jitter * params.get("flux", 1.0)
            table = order_blaze(layout, orders.centres, self._setting_rng(setting, chip, "blaze"))
            table *= np.float32(flux)
            light = np.take(table.ravel(), orders.index)
            light *= orders.profile
            light += scattered_light(layout, 0.008 * flux)
        else:
            # A lamp off leaves a weaker continuum; a weak lamp (subtle) dims the lines only.
            lamp = drift["lamp"] * lamp_jitter * (params.get("intensity", 0.0) if family == "lamp_off_arc" else 1.0)
            continuum = 15.0 * params.get("continuum", drift["lamp"])
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
        settings = ARMS[arm].settings
        if what == "fwhm":
            return max(self.scale, _MIN_ORDER_FWHM / min(s.order_fwhm for s in settings))
        smallest = min(bottom for s in settings for bottom, _ in s.spacing)
        return max(self.scale, _MIN_ORDER_SPACING / smallest)

    def _line_scale(self) -> float:
        return max(self.scale, _MIN_LINE_FWHM / _LINE_FWHM)

    def _setting_rng(self, setting: Setting, chip: Chip, what: str) -> np.random.Generator:
        return random_stream(self.seed, "setting", setting.wlen, chip.spec.key, what)

    def _orders(self, arm: str, chip: Chip, setting: Setting, y_shift: float) -> OrderMap:
        """The order map of a setting on a chip, shifted in y (kept for a few reuses)."""
        key = (chip.ext, setting.wlen, round(y_shift, 6))
        if key in self._order_maps:
            self._order_maps.move_to_end(key)
            return self._order_maps[key]
        layout = chip.layout
        spacing_scale = self._order_scale(arm, "spacing")
        spacing = setting.spacing[ARMS[arm].chips.index(chip.spec)]
        rng = self._setting_rng(setting, chip, "orders")
        t = np.linspace(-1.0, 1.0, layout.width)
        trace = spacing_scale * (setting.tilt * t + setting.curvature * t**2)
        margin = spacing_scale * (abs(setting.tilt) + abs(setting.curvature))
        centres = order_centres(layout.rows, (spacing[0] * spacing_scale, spacing[1] * spacing_scale), margin, rng.uniform(0.0, 1.0))
        fwhm = setting.order_fwhm * self._order_scale(arm, "fwhm")
        order_map = map_orders(layout, centres + y_shift, trace, fwhm)
        self._order_maps[key] = order_map
        while len(self._order_maps) > 2:
            self._order_maps.popitem(last=False)
        return order_map

    def _arc_table(self, chip: Chip, setting: Setting, orders: OrderMap, x_shift: float, lamp: float, continuum: float) -> np.ndarray:
        """Flux along each order of an arc (n_orders, width): ThAr-like lines plus continuum.

        Line positions and intensities are fixed per setting and chip (the lamp's
        spectrum); a few dozen lines per order at full size, log-normal intensities
        from tens of ADU to ~40000, a handful saturated.
        """
        layout = chip.layout
        n_orders, width = len(orders.centres), layout.width
        rng = self._setting_rng(setting, chip, "lines")
        per_order = max(3, round(setting.lines_per_order * width / NOMINAL_WIDTH))
        order = np.repeat(np.arange(n_orders), per_order)
        position = rng.uniform(0.0, 1.0, order.size) * width
        intensity = np.minimum(rng.lognormal(math.log(setting.line_median), 1.3, order.size), 40000.0)
        bright = rng.choice(order.size, size=max(1, round(0.002 * order.size)), replace=False)
        intensity[bright] = rng.uniform(80000.0, 200000.0, bright.size)

        sigma = _LINE_FWHM * self._line_scale() / 2.3548
        reach = math.ceil(4 * sigma)
        columns = np.floor(position + x_shift).astype(int)[:, None] + np.arange(-reach, reach + 1)
        values = (lamp * intensity)[:, None] * np.exp(-0.5 * ((columns - (position + x_shift)[:, None]) / sigma) ** 2)
        inside = (columns >= 0) & (columns < width)
        flat_index = (order[:, None] * width + columns)[inside]
        table = np.bincount(flat_index, weights=values[inside], minlength=n_orders * width)
        table = table.reshape(n_orders, width).astype(np.float32)
        table += np.float32(continuum) * order_blaze(layout, orders.centres, self._setting_rng(setting, chip, "blaze"))
        return table


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
    severity: str = "gross",
) -> SimulatedFrame:
    """Simulate one raw file in memory, optionally with a defect (``gross`` or ``subtle``).

    A shortcut for ``UvesSimulator(seed, scale, intervention_night, severity).frame(...)``; build
    the simulator once when rendering many frames. The same arguments with and
    without ``defect`` give frames that differ only by the defect.

    Examples
    --------
    >>> good = simulate_frame("RED", "BIAS", scale=0.05)
    >>> bad = simulate_frame("RED", "BIAS", scale=0.05, defect="bias_level_jump", defect_ext=1)
    >>> bad.details[1]  # doctest: +SKIP
    'amp B +12.3 ADU'
    """
    simulator = UvesSimulator(seed=seed, scale=scale, intervention_night=intervention_night, severity=severity)
    return simulator.frame(arm, dpr_type, setting, night=night, index=index, defect=defect, defect_ext=defect_ext, date_obs=date_obs)


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
    chip: Chip,
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


def _primary_header(exposure: Exposure, chips: Sequence[Chip]) -> fits.Header:
    """ESO primary header of a calibration: what, when, which arm, grating and detector."""
    arm = ARMS[exposure.arm]
    setting = arm.setting(exposure.setting)
    written = exposure.date_obs + timedelta(seconds=exposure.exptime + arm.readout_s)
    return headers.primary_header(
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


def _readout(chip: Chip) -> headers.ChipReadout:
    """How the headers describe a chip: ESO's chip number, names, layout and outputs."""
    layout, spec = chip.layout, chip.spec
    outputs = tuple(headers.Output(conad, ron) for conad, ron in zip(chip.conad, chip.ron_adu, strict=True))
    return headers.ChipReadout(spec.index, spec.chip_id, spec.name, layout.rows, layout.nx, layout.prescan, layout.overscan, outputs)
