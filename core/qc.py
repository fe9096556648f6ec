"""Physical quality numbers of one raw calibration image.

What experts check on calibrations every morning (ESO QC1, DESI Nightwatch, Rubin
cp_verify, LCO BANZAI), measured on the raw pixels with numpy and scipy only:

- per amplifier: bias level and read-out noise in the overscan, level and noise of the
  light-sensitive pixels;
- the whole image: percentiles, saturation, non-finite pixels, row and column
  structure, corrupted rows, periodic pick-up noise, cosmic-ray load, large-scale
  illumination (a 3x3 grid and gradients); on biases and darks, hot or dead columns;
- flats: flux, number and contrast of the orders; arcs: flux, number, flux and peaks of
  the emission lines;
- 1-D profiles along both axes, from which the detector measures shifts of orders and
  lines against the reference frames.

Conventions
-----------
- Pixel ``(row, column)`` is numpy's ``(y, x)`` of the array as read from FITS: row 0
  is FITS ``y = 1``, the bottom of the image in ds9.
- *Data* are the light-sensitive pixels of all amplifiers, side by side (pre- and
  overscans removed). *Bias-subtracted* means minus the median of the amplifier's
  overscan where the layout has one, and the raw value otherwise.
- *Robust sigma* is 1.4826 times the median absolute deviation. The *noise* of pixels
  is the robust sigma of differences of horizontal neighbours divided by sqrt(2): the
  read-out order's neighbours, so that structure on scales larger than a pixel (row
  offsets, gradients, orders along the rows) does not inflate it.
- The frame's own noise model, variance = a + b * level (read noise of the overscan
  plus photon noise), fitted on neighbour differences in bins of level, sets the
  thresholds of the cosmic-ray and corrupted-row tests, so that they mean the same on
  a bias and on a bright flat (see :func:`_fit_noise_model`).
- Integer pixels get a seeded +-0.5 ADU dither before medians are taken, so that
  levels and noise are not stuck to whole ADU (see :func:`_dither`).
- Cosmic rays are replaced by their neighbours' level before profiles, structure,
  grids and lines are measured.

Speed: order statistics use a strided subsample of rows (about 2^17 pixels) and
single-pass partitions; full-frame work (bias subtraction, cosmic rays, profiles)
runs in float32, the cosmic-ray test in blocks of rows that stay in the CPU cache. A
4096x2148 uint16 frame takes 55-110 ms of one core (bias fastest, arc slowest). scipy
is imported by the functions that use it: reading :data:`QC_VERSION` (a re-ingest of
known files) must not cost a second of imports.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from astropy.io import fits

__all__ = [
    "CATEGORIES",
    "QC_VERSION",
    "Amplifier",
    "Quality",
    "amplifier_layout",
    "measure_quality",
    "metric_label",
]

QC_VERSION = "2"
"""Version of the definitions of the numbers; stored with them, bumped when they change."""

CATEGORIES = frozenset({"bias", "flat", "arc", "dark", "science", "unknown"})
"""Image categories :func:`measure_quality` knows."""

MAD_TO_SIGMA = 1.4826
MAX_PROFILE = 1024  # samples per profile at most; longer axes are binned by an integer factor
SAMPLE_PIXELS = 2**17  # data pixels of the strided row subsample used for order statistics
SCAN_PIXELS = 2**15  # overscan pixels per amplifier used for its bias level and read noise
ROW_SAMPLES = 128  # pairs of neighbouring pixels per row in the corrupted-row test
NOISE_PAIRS = 2**15  # pairs of neighbours in the noise-model fit
DITHER_SEED = 0  # the same image always gets the same dither, hence the same numbers
BLOCK_ROWS = 64  # rows per block of the full-frame cosmic-ray test (fits the CPU cache)
NOISE_EDGES = (0.25, 0.5, 0.75, 0.9, 0.97, 0.99, 0.997, 0.999)  # level quantiles between the fit's bins
NOISE_MAX_SLOPE = 10.0  # ADU^2 per ADU (a gain of 0.1 e-/ADU): steeper is structure or garbage
COSMIC_SIGMA = 8.0  # a cosmic ray stands this many sigma above its neighbours
COSMIC_SPREAD = 1.16  # sigma of the neighbour test, in units of the pixel noise
COSMIC_GROWTH = 1  # times the test is repeated around the hits once they are cleaned (not on arcs)
BAD_ROW_SIGMA = 8.0  # a corrupted row deviates this many robust sigma from its neighbours
BAD_COLUMN_SIGMA = 8.0  # a hot or dead column's mean deviates this many sigma from its neighbours
BAD_COLUMN_WINDOW = 15  # columns of the running median: up to 7 adjacent bad columns stand out
LINE_SIGMA = 10.0  # an arc line stands this many sigma above the background at its peak
LINE_GROW_SIGMA = 3.0  # ... and extends as far as it stays this many sigma above it
LINE_WINDOW = 32  # px along the dispersion over which the arc background is estimated
LINE_MIN_PIXELS = 2  # (binned) pixels of a line at least
PERIODIC_ROWS = 128  # rows whose power spectra are combined
PERIODIC_MIN_CYCLES = 16  # slower waves (fewer cycles per row) are left to the structure numbers
PERIODIC_SIGNIFICANT = 3.0  # peak/median power below this: no period is reported
ORDER_PROMINENCE = 0.1  # an order stands out by this fraction of the profile's range
PEAK_RELATIVE = 0.05  # ... and by this fraction of its own height
GRID = 3

_RATIO_GRID = frozenset({"flat", "arc"})  # illumination as cell mean / image mean
_ILLUMINATED = frozenset({"flat", "arc", "science"})  # level changes from row to row by design
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


@dataclass(frozen=True)
class Quality:
    """The quality numbers and profiles of one image.

    Attributes
    ----------
    metrics
        Name -> finite value; what cannot be measured on an image is absent. Names are
        a contract (the detector and the reports use them); see :func:`metric_label`.
    profiles
        ``rows``: bias-subtracted mean of each row over the data columns (a function of
        y); ``cols``: mean of each column over the data rows (a function of x). float32,
        binned by the integer factors ``metrics["profile_bin_rows"]`` and
        ``metrics["profile_bin_cols"]`` to at most 1024 samples, cosmic rays removed.
    """

    metrics: dict[str, float]
    profiles: dict[str, np.ndarray]


@dataclass(frozen=True)
class _NoiseModel:
    """Pixel noise as a function of the bias-subtracted level.

    variance = read_var + slope * (level - pedestal), and read_var below the pedestal:
    the pedestal is 0 where an overscan gave the bias, and the darkest level seen where
    the raw values still carry it.
    """

    read_var: float
    slope: float
    pedestal: float = 0.0

    def sigma(self, level: np.ndarray | float) -> np.ndarray:
        return np.sqrt(self.read_var + self.slope * np.maximum(np.subtract(level, self.pedestal), 0.0))


# ----------------------------------------------------------------------------- layout


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


def _int_card(header: fits.Header, key: str) -> int | None:
    """An integer header value, or None when it is absent or not a whole number."""
    value = header.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    if not math.isfinite(value) or value != int(value):
        return None
    return int(value)


def _float_card(header: fits.Header, key: str) -> float | None:
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
    outputs = _int_card(header, "HIERARCH ESO DET OUTPUTS")
    if outputs is None or outputs < 1:
        return None
    rows, cols = shape
    found = []
    for i in range(1, outputs + 1):
        key = f"HIERARCH ESO DET OUT{i}"
        nx, ny, x = (_int_card(header, f"{key} {k}") for k in ("NX", "NY", "X"))
        prescan = _int_card(header, f"{key} PRSCX") or 0
        overscan = _int_card(header, f"{key} OVSCX") or 0
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
    if not same_rows or any(b.start < a.stop for a, b in zip(spans, spans[1:])):
        return None
    return found


def _iraf_layout(header: fits.Header, shape: tuple[int, int]) -> list[Amplifier] | None:
    data, bias = _section(header.get("DATASEC"), shape), _section(header.get("BIASSEC"), shape)
    if data is None or bias is None:
        return None
    return [Amplifier("1", data, bias)]


def _lick_layout(header: fits.Header, shape: tuple[int, int]) -> list[Amplifier] | None:
    n, cover = _int_card(header, "AMPSROW"), _int_card(header, "COVER")
    data = _section(header.get("DATASEC"), shape)
    if n is None or cover is None or data is None or n < 1 or cover < 0:
        return None
    if _int_card(header, "AMPSCOL") not in (None, 1):
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


# ----------------------------------------------------------------------------- robust statistics


def _finite(values: np.ndarray) -> np.ndarray:
    """The finite values of an array, flattened."""
    flat = values.ravel()
    if flat.dtype.kind != "f":
        return flat
    ok = np.isfinite(flat)
    return flat if ok.all() else flat[ok]


def _quantile(values: np.ndarray, q: float) -> float:
    """The value of rank round(q (n - 1)) among the finite values (NaN when there are none).

    One partition, no interpolation: ten times faster than ``np.median`` and
    ``np.percentile``, and the same on the 10^4-10^5 values it is used on.
    """
    v = _finite(values)
    if v.size == 0:
        return math.nan
    k = round(q * (v.size - 1))
    return float(np.partition(v, k)[k])


def _median(values: np.ndarray) -> float:
    return _quantile(values, 0.5)


def _robust_sigma(values: np.ndarray) -> float:
    """1.4826 x the median absolute deviation of the finite values (NaN when there are none)."""
    v = _finite(values)
    if v.size == 0:
        return math.nan
    return MAD_TO_SIGMA * _median(np.abs(v - _median(v)))


def _difference_sigma(block: np.ndarray, dithered: bool) -> float:
    """Pixel noise from differences of horizontal neighbours: robust sigma / sqrt(2).

    The variance of the dither (1/12 ADU^2 per pixel, see :func:`_dither`) is removed.
    """
    if block.shape[1] < 2:
        return math.nan
    variance = (_robust_sigma(np.diff(block, axis=1)) / math.sqrt(2.0)) ** 2 - (1 / 12 if dithered else 0.0)
    return math.sqrt(max(variance, 0.0))


def _dither(values: np.ndarray, rng: np.random.Generator | None) -> None:
    """Add uniform noise of +-0.5 ADU in place, when ``rng`` is given (integer-valued data).

    Medians of integer data jump by whole ADU (a read noise of 3.0 or 4.2, never 3.4);
    the dither, seeded so that the same image gives the same numbers, makes medians and
    MADs continuous at the cost of 1/12 ADU^2 of variance.
    """
    if rng is not None:
        values += rng.random(values.shape, dtype=np.float32) - np.float32(0.5)


def _row_medians(values: np.ndarray) -> np.ndarray:
    """Median of each row (the lower of the two middle values for an even count).

    One partition per row: ten times faster than ``np.median(axis=1)`` on short rows.
    """
    middle = (values.shape[1] - 1) // 2
    return np.partition(values, middle, axis=1)[:, middle]


def _running_median(profile: np.ndarray, window: int) -> np.ndarray:
    """Median of each sample's neighbourhood of ``window`` samples (odd, edges repeated)."""
    from scipy import ndimage

    window = min(window, len(profile)) | 1
    return ndimage.median_filter(profile, size=window, mode="nearest")


def _binned(profile: np.ndarray, factor: int) -> np.ndarray:
    """Means of consecutive groups of ``factor`` samples (the incomplete last group dropped)."""
    n = len(profile) // factor * factor
    return profile[:n].reshape(-1, factor).mean(axis=1).astype(np.float32)


# ----------------------------------------------------------------------------- measurement


def measure_quality(image: np.ndarray, header: fits.Header, category: str) -> Quality:
    """Measure the physical quality numbers and profiles of one raw image.

    Parameters
    ----------
    image
        The raw 2-D pixels as read (any dtype; NaN and infinities allowed).
    header
        Its merged header (primary cards updated by the extension's): read for the
        amplifier layout (:func:`amplifier_layout`) and the saturation level
        (``SATURATE``, ``DATAMAX``, ``HIERARCH ESO DET OUTi SATLEVEL``).
    category
        One of :data:`CATEGORIES`; chooses the category's own numbers (flats: flux
        and orders; arcs: flux and lines) and the form of the illumination grid.

    Returns
    -------
    Quality
        Every number that could be measured (see :func:`metric_label` for their
        meaning); a tiny, constant or all-NaN image gives fewer numbers, never an error.

    Raises
    ------
    ValueError
        If ``category`` is unknown or the image is not two-dimensional.
    """
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; known: {', '.join(sorted(CATEGORIES))}")
    raw = _native_2d(image)
    if raw.size == 0:
        return Quality({}, {})
    nonfinite = raw.size - int(np.count_nonzero(np.isfinite(raw))) if raw.dtype.kind == "f" else 0
    metrics: dict[str, float] = {"nan_fraction": 100.0 * nonfinite / raw.size}

    amplifiers = amplifier_layout(header, raw.shape)
    sample, below, step = _row_samples(raw, amplifiers)
    rng = np.random.default_rng(DITHER_SEED) if _integer_valued(raw, sample) else None
    _dither(sample, rng)
    _dither(below, rng)
    biases, numbers = _amplifier_metrics(raw, amplifiers, sample, rng)
    metrics.update(numbers)
    values = _finite(sample)
    if values.size == 0:
        return Quality(_only_finite(metrics), {})
    metrics.update(_distribution(values))
    saturation = _saturation_level(header, raw.dtype)
    metrics.update(_saturation(raw, amplifiers, saturation))

    offsets = np.concatenate([np.full(_width(a), b or 0.0, np.float32) for a, b in zip(amplifiers, biases)])
    sample -= offsets
    below -= offsets
    fill = _median(sample)
    if nonfinite:
        for rows in (sample, below):
            rows[~np.isfinite(rows)] = fill
    noise = _fit_noise_model(sample, below, _read_variance(numbers), saturation - float(offsets.max()) - 1.0)
    data = _bias_subtracted_data(raw, amplifiers, biases, fill if nonfinite else None)
    uncleaned = _bin_arc(data) if category == "arc" else None
    cosmics = _clean_cosmic_rays(data, noise, growth=0 if category == "arc" else COSMIC_GROWTH)
    if cosmics is not None:
        metrics["cosmic_ray_fraction"] = cosmics
    if category in ("flat", "arc") and None not in biases:
        metrics["flux"], metrics["flux_p99"] = _median(sample), _quantile(sample, 0.99)

    band_sums = _column_sums_by_band(data)
    means = {"rows": data.mean(axis=1), "cols": band_sums.sum(axis=0) / data.shape[0]}
    factors = {axis: max(1, math.ceil(len(m) / MAX_PROFILE)) for axis, m in means.items()}
    profiles = {axis: _binned(m, factors[axis]) for axis, m in means.items()}
    metrics.update({f"profile_bin_{axis}": float(factor) for axis, factor in factors.items()})

    metrics.update(_structure(means["rows"], means["cols"]))
    metrics.update(_bad_rows(data, noise, rng, check_level=category not in _ILLUMINATED))
    if category not in _ILLUMINATED:
        metrics.update(_bad_columns(band_sums, data.shape[0], noise))
    metrics.update(_periodic_noise(data, means["cols"]))
    if category in _RATIO_GRID:
        metrics.update(_relative_grid(data.shape, band_sums, noise))
    else:
        metrics.update(_difference_grid(sample, step, data.shape))
    if category == "flat":
        metrics.update(_order_metrics(profiles))
    elif uncleaned is not None:
        metrics.update(_line_metrics(data, uncleaned, _dispersion_axis(profiles, factors)))
    return Quality(_only_finite(metrics), profiles)


def _native_2d(image: np.ndarray) -> np.ndarray:
    """The image as a 2-D array in native byte order (FITS data are big-endian)."""
    raw = np.asarray(image)
    while raw.ndim > 2 and raw.shape[0] == 1:
        raw = raw[0]
    if raw.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {raw.shape}")
    if not raw.dtype.isnative:
        raw = raw.astype(raw.dtype.newbyteorder("="))
    return raw


def _integer_valued(raw: np.ndarray, sample: np.ndarray) -> bool:
    """Whether the pixels are whole ADU: an integer type, or floats that hold integers."""
    if raw.dtype.kind in "iu":
        return True
    values = _finite(sample)
    return bool(np.array_equal(values, np.rint(values)))


def _only_finite(metrics: Mapping[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if math.isfinite(v)}


def _width(amplifier: Amplifier) -> int:
    return amplifier.data[1].stop - amplifier.data[1].start


def _row_samples(raw: np.ndarray, amplifiers: list[Amplifier]) -> tuple[np.ndarray, np.ndarray, int]:
    """Every ``step``-th row of the data (about 2^17 pixels) and the rows just below them, in float32.

    The amplifiers' data side by side, as in :func:`_bias_subtracted_data`; the second
    array gives vertical neighbours to the noise model.
    """
    rows = amplifiers[0].data[0]
    step = max(1, math.ceil((rows.stop - rows.start) * sum(map(_width, amplifiers)) / SAMPLE_PIXELS))
    sample = np.hstack([raw[a.data][::step] for a in amplifiers]).astype(np.float32)
    below = np.hstack([raw[a.data][1::step] for a in amplifiers]).astype(np.float32)
    return sample, below, step


def _amplifier_metrics(
    raw: np.ndarray, amplifiers: list[Amplifier], sample: np.ndarray, rng: np.random.Generator | None
) -> tuple[list[float | None], dict[str, float]]:
    """Per amplifier: bias level and read noise in the overscan, level and noise of its sample rows.

    Returns the bias levels (None without overscan) and the numbers, named ``amp{i}.*``.
    """
    biases: list[float | None] = []
    numbers = {}
    column = 0
    for amplifier in amplifiers:
        bias = None
        if amplifier.overscan is not None:
            scan_rows, scan_cols = amplifier.overscan
            pixels = (scan_rows.stop - scan_rows.start) * (scan_cols.stop - scan_cols.start)
            scan = raw[amplifier.overscan][:: max(1, math.ceil(pixels / SCAN_PIXELS))].astype(np.float32)
            _dither(scan, rng)
            if _finite(scan).size:
                bias = _median(scan)
                numbers[f"amp{amplifier.name}.bias_level"] = bias
                numbers[f"amp{amplifier.name}.read_noise"] = _difference_sigma(scan, rng is not None)
        biases.append(bias)
        data = sample[:, column : column + _width(amplifier)]
        column += _width(amplifier)
        if _finite(data).size:
            numbers[f"amp{amplifier.name}.level"] = _median(data)
            numbers[f"amp{amplifier.name}.noise"] = _difference_sigma(data, rng is not None)
    return biases, numbers


def _read_variance(numbers: Mapping[str, float]) -> float | None:
    """Mean read-noise variance of the amplifiers that have an overscan, None if none has."""
    noise = [v for k, v in numbers.items() if k.endswith(".read_noise") and v > 0]
    return float(np.mean(np.square(noise))) if noise else None


def _distribution(values: np.ndarray) -> dict[str, float]:
    """Median level and percentiles of the raw data values."""
    p01, p05, p50, p95, p99 = (_quantile(values, q) for q in (0.01, 0.05, 0.5, 0.95, 0.99))
    return {"level": p50, "p01": p01, "p05": p05, "p50": p50, "p95": p95, "p99": p99}


def _saturation_level(header: fits.Header, dtype: np.dtype) -> float:
    """The level at which the detector saturates: header, else what the data type can hold."""
    for key in ("SATURATE", "DATAMAX"):
        level = _float_card(header, key)
        if level is not None:
            return level
    outputs = _int_card(header, "HIERARCH ESO DET OUTPUTS") or 0
    levels = [_float_card(header, f"HIERARCH ESO DET OUT{i} SATLEVEL") for i in range(1, outputs + 1)]
    levels = [v for v in levels if v is not None]
    if levels:
        return min(levels)
    if dtype.kind in "iu":
        return float(min(65535, np.iinfo(dtype).max))
    return 65535.0


def _saturation(raw: np.ndarray, amplifiers: list[Amplifier], level: float) -> dict[str, float]:
    """Maximum of the data and the percentage of data pixels at or above saturation."""
    saturated, total, peak = 0, 0, -math.inf
    for amplifier in amplifiers:
        region = raw[amplifier.data]
        total += region.size
        if region.dtype.kind == "f":
            top = float(np.fmax.reduce(region, axis=None))
            if not math.isfinite(top):
                finite = _finite(region)
                top = float(finite.max()) if finite.size else -math.inf
        else:
            top = float(region.max())
        if top >= level:
            saturated += int(np.count_nonzero(region >= level))
        peak = max(peak, top)
    return {"max": peak, "saturated_fraction": 100.0 * saturated / total}


def _fit_noise_model(sample: np.ndarray, below: np.ndarray, read_var: float | None, ceiling: float) -> _NoiseModel:
    """Fit variance = a + b * level to pairs of neighbouring pixels in bins of level.

    ``a`` is the read-noise variance of the overscans where there are any; ``b`` the
    median slope of the bins clearly above the bias (both by Theil-Sen where there is
    no overscan; ``a`` is then the darkest bin's variance, and the level is counted
    from that bin's, since the raw values still carry the bias): ~0 on a bias; on a
    flat photon noise, ~1 / gain, plus the pixel-to-pixel response; on an arc, what is
    left of the lines' structure too. A slope too steep only makes the cosmic-ray test
    stricter on bright pixels; it is capped at 10 (0.1 e-/ADU), beyond which it is
    made by structure or corrupted rows, not by noise.

    In each 2x2 block (a sample row over the row below it) the horizontal pair is
    binned by the level of the two pixels under it and the vertical pair by the level
    of the two pixels beside it, so that the bin does not select the difference
    (integer pixels: the sum and the difference of a pair have the same parity). In
    each bin the quieter direction counts, so that structure along one axis (arc lines
    along the slit, orders along the rows) does not pass for noise. The bins are finer
    towards the brightest pixels, so that the few lit pixels of an arc still give a
    slope. Blocks with a pixel at or above ``ceiling`` (saturation, bias-subtracted)
    are left out: saturated pixels have no noise.
    """
    from scipy import stats

    thin = max(1, math.ceil(sample.size / (2 * NOISE_PAIRS)))
    top, bottom = sample[: below.shape[0]][::thin], below[::thin]
    a, b, c, d = top[:, 0:-1:2], top[:, 1::2], bottom[:, 0:-1:2], bottom[:, 1::2]
    unsaturated = (np.maximum(np.maximum(a, b), np.maximum(c, d)) < ceiling).ravel()
    pairs = [((b - a).ravel()[unsaturated], (0.5 * (c + d)).ravel()[unsaturated]),
             ((c - a).ravel()[unsaturated], (0.5 * (b + d)).ravel()[unsaturated])]
    level = pairs[0][1]
    if level.size < 64:
        variance = read_var if read_var else _difference_sigma(sample, False) ** 2
        return _NoiseModel(variance if variance > 0 else 1.0, 0.0)
    edges = np.array([_quantile(level, q) for q in NOISE_EDGES])
    bins = [np.searchsorted(edges, mean) for _, mean in pairs]
    found = []  # per bin: (variance, level) of the quieter direction
    for k in range(len(NOISE_EDGES) + 1):
        candidates = []
        for (difference, mean), which in zip(pairs, bins):
            inside = which == k
            if np.count_nonzero(inside) >= 16:
                candidates.append((_robust_sigma(difference[inside]) ** 2 / 2, _median(mean[inside])))
        if candidates:
            found.append(min(candidates))
    variances, centres = np.array(found).T
    if read_var:
        lit = centres > 3 * math.sqrt(read_var)
        slope = float(np.median((variances[lit] - read_var) / centres[lit])) if lit.any() else 0.0
        return _NoiseModel(read_var, min(max(slope, 0.0), NOISE_MAX_SLOPE))
    slope = stats.theilslopes(variances, centres)[0] if np.ptp(centres) > 0 else 0.0
    if slope <= 0:
        return _NoiseModel(max(float(np.median(variances)), 1e-6), 0.0)
    darkest = int(np.argmin(centres))
    return _NoiseModel(max(float(variances[darkest]), 1e-6), min(float(slope), NOISE_MAX_SLOPE), float(centres[darkest]))


def _bias_subtracted_data(
    raw: np.ndarray, amplifiers: list[Amplifier], biases: list[float | None], fill: float | None
) -> np.ndarray:
    """The amplifiers' data side by side in float32, each minus its bias; non-finite pixels set to ``fill``."""
    rows = amplifiers[0].data[0]
    widths = [_width(a) for a in amplifiers]
    data = np.empty((rows.stop - rows.start, sum(widths)), dtype=np.float32)
    column = 0
    for amplifier, bias, width in zip(amplifiers, biases, widths):
        np.subtract(raw[amplifier.data], np.float32(bias or 0.0), out=data[:, column : column + width])
        column += width
    if fill is not None:
        data[~np.isfinite(data)] = fill
    return data


def _clean_cosmic_rays(data: np.ndarray, noise: _NoiseModel, growth: int) -> float | None:
    """Replace cosmic rays by their neighbours' level, in place; return their per mille of the pixels.

    A pixel is a cosmic ray (or a hot pixel) when it exceeds the brighter of the mean
    of its upper and lower neighbours and the mean of its left and right neighbours by
    more than 8 sigma (of this difference, 1.16 pixel sigma, at the neighbours' level).
    Taking the brighter direction leaves features extended along a row or a column
    alone (orders, arc lines, hot columns); a hit of two adjacent pixels still stands
    out by half its height. The test is repeated on the neighbours of the hits once
    these are cleaned (``growth`` times, once by default): the fainter pixel of a
    two-pixel hit stands out then; a track along a row or column is not followed to its
    end. A hit is replaced by the brighter of min(up, down) and
    min(left, right), which skips its own bright neighbours. Arc lines narrower than
    ~2 px in both directions can look like cosmic rays and lose their peak pixel; on
    arcs cleaning matters all the same, or every hit would count as a line, but hits
    are not grown there, or such lines would be eaten. The test runs on blocks
    of rows that stay in the CPU cache.
    """
    rows, cols = data.shape
    if rows < 3 or cols < 3:
        return None
    scale = COSMIC_SIGMA * COSMIC_SPREAD
    found = []
    for start in range(1, rows - 1, BLOCK_ROWS):
        stop = min(start + BLOCK_ROWS, rows - 1)
        level = np.add(data[start - 1 : stop - 1, 1:-1], data[start + 1 : stop + 1, 1:-1])
        across = np.add(data[start:stop, :-2], data[start:stop, 2:])
        np.maximum(level, across, out=level)
        level *= np.float32(0.5)
        hit = _above_noise(np.subtract(data[start:stop, 1:-1], level, out=across), level, noise, scale)
        if np.count_nonzero(hit):  # much faster than np.nonzero on a block without hits
            ys, xs = np.nonzero(hit)
            found.append(_replace_by_neighbours(data, ys + start, xs + 1))
    hits = sum(ys.size for ys, _ in found)
    ys, xs = (np.concatenate(c) for c in zip(*found)) if found else (np.empty(0, int), np.empty(0, int))
    for _ in range(growth):
        if ys.size == 0:
            break
        ys, xs = np.concatenate([ys - 1, ys + 1, ys, ys]), np.concatenate([xs, xs, xs - 1, xs + 1])
        inside = (ys >= 1) & (ys < rows - 1) & (xs >= 1) & (xs < cols - 1)
        ys, xs = np.divmod(np.unique(ys[inside] * cols + xs[inside]), cols)
        level = np.maximum(data[ys - 1, xs] + data[ys + 1, xs], data[ys, xs - 1] + data[ys, xs + 1]) / 2
        hit = _above_noise(data[ys, xs] - level, level, noise, scale)
        ys, xs = _replace_by_neighbours(data, ys[hit], xs[hit])
        hits += ys.size
    return 1000.0 * hits / ((rows - 2) * (cols - 2))


def _replace_by_neighbours(data: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Set the pixels (ys, xs) to the brighter of min(up, down) and min(left, right), in place.

    The minimum of each pair skips a bright neighbour that belongs to the same hit;
    the brighter direction keeps the level of an order or a line under the hit.
    Returns the coordinates.
    """
    data[ys, xs] = np.maximum(np.minimum(data[ys - 1, xs], data[ys + 1, xs]),
                              np.minimum(data[ys, xs - 1], data[ys, xs + 1]))
    return ys, xs


def _above_noise(excess: np.ndarray, level: np.ndarray, noise: _NoiseModel, scale: float) -> np.ndarray:
    """Where ``excess`` is more than ``scale`` sigma of the noise at ``level``.

    Tested first against the noise at zero level, the smallest: the limit at each
    pixel's level is computed only for blocks where some pixel passes that.
    """
    hit = excess > np.float32(scale * math.sqrt(noise.read_var))
    if noise.slope > 0 and np.count_nonzero(hit):
        limit = np.maximum(level - np.float32(noise.pedestal), 0.0)
        limit *= np.float32(noise.slope * scale**2)
        limit += np.float32(noise.read_var * scale**2)
        np.greater(excess, np.sqrt(limit, out=limit), out=hit)
    return hit


def _bands(n: int) -> np.ndarray:
    """Edges of the 3 bands of the grid along an axis of ``n`` pixels."""
    return np.linspace(0, n, GRID + 1).round().astype(int)


def _column_sums_by_band(data: np.ndarray) -> np.ndarray:
    """``(3, columns)`` sums of each column over each third of the rows."""
    edges = _bands(data.shape[0])
    return np.array([data[a:b].sum(axis=0) for a, b in zip(edges[:-1], edges[1:])], dtype=np.float64)


def _structure(row_means: np.ndarray, col_means: np.ndarray) -> dict[str, float]:
    """Row and column structure: fixed pattern and banding, not gradients.

    The robust sigma of the row (column) means of the cleaned data around their smooth
    trend: a local quadratic over 1/16 of the axis (Savitzky-Golay) fitted after a
    5-sample running median has removed isolated outliers (hot columns). Means of all
    pixels, not medians of a subsample: a pattern of 0.2 ADU under 3 ADU of read noise
    needs them.
    """
    from scipy import signal

    out = {}
    for name, means in (("row_structure", row_means), ("column_structure", col_means)):
        if len(means) >= 5:
            window = min(max(5, len(means) // 16), len(means))
            window -= 1 - window % 2  # odd, at least 5
            trend = signal.savgol_filter(_running_median(means, 5), window, 2, mode="interp")
            out[name] = _robust_sigma(means - trend)
    return out


def _bad_rows(
    data: np.ndarray, noise: _NoiseModel, rng: np.random.Generator | None, check_level: bool
) -> dict[str, float]:
    """Percentage of corrupted rows, from ~128 pairs of neighbouring pixels per row.

    A row is corrupted when its noise (median absolute difference of neighbours),
    relative to the noise model at its median level, is 8 robust sigma away from the
    other rows' (garbage, constant or saturated rows); or - on frames without light,
    where all rows should look alike - when its median is 8 robust sigma away from the
    running median of the rows around it (over 1/8 of the frame, so that blocks of up
    to 1/16 of the rows stand out).
    """
    rows, cols = data.shape
    if rows < 5 or cols < 2:
        return {}
    stride = max(1, cols // ROW_SAMPLES)
    left = data[:, :-1:stride].copy()
    difference = data[:, 1::stride] - left
    _dither(left, rng)
    _dither(difference, rng)
    row_medians = _row_medians(left)
    roughness = _row_medians(np.abs(difference))
    relative = roughness / noise.sigma(row_medians)
    typical = float(np.median(relative))
    log_q = np.log(np.maximum(relative, 1e-3 * typical) if typical > 0 else relative + 1.0)
    deviation = np.abs(log_q - np.median(log_q))
    pairs = left.shape[1]
    bad = deviation > BAD_ROW_SIGMA * max(MAD_TO_SIGMA * float(np.median(deviation)), 1.5 / math.sqrt(pairs))
    if check_level:
        residual = row_medians - _running_median(row_medians, max(5, rows // 8))
        floor = math.sqrt(math.pi / 2 * noise.read_var / pairs)
        bad |= np.abs(residual) > BAD_ROW_SIGMA * max(_robust_sigma(residual), floor)
    return {"bad_row_fraction": 100.0 * float(np.count_nonzero(bad)) / rows}


def _bad_columns(band_sums: np.ndarray, rows: int, noise: _NoiseModel) -> dict[str, float]:
    """Summed excess level of the hot and dead columns of a frame without light.

    In each third of the rows, a column whose mean stands more than 8 sigma from the
    running median of the 15 columns around it is bad; its excess is what lies beyond
    those 8 sigma, and the number is the sum over the columns of their largest excess
    in any third (a column bad over part of its length counts). A sum of excesses,
    not a count: a warm column flickering around the limit adds almost nothing, a new
    hot column adds its whole level.
    """
    edges = _bands(rows)
    heights = np.diff(edges)
    if band_sums.shape[1] < 5 or heights.min() < 1:
        return {}
    excess = np.zeros(band_sums.shape[1])
    for sums, height in zip(band_sums, heights):
        means = sums / height
        residual = means - _running_median(means, BAD_COLUMN_WINDOW)
        sigma = max(_robust_sigma(residual), math.sqrt(noise.read_var / height))
        excess = np.maximum(excess, np.abs(residual) - BAD_COLUMN_SIGMA * sigma)
    return {"bad_column_excess": float(excess[excess > 0].sum())}


def _periodic_noise(data: np.ndarray, col_means: np.ndarray) -> dict[str, float]:
    """Strength and period of periodic noise along the rows.

    The power spectra of up to 128 rows (column means and each row's mean removed,
    Hann window) are combined by their median over the rows, so that one odd row (a
    cosmic-ray track along it) does not count; the highest peak among waves of at least
    16 cycles per row is divided by the median power. Pick-up whose phase drifts from
    row to row (diagonal stripes) survives the column means; white noise gives ~1.4.
    The period is given only where the peak is significant (ratio >= 3).
    """
    from scipy import fft

    rows, cols = data.shape
    if cols < 4 * PERIODIC_MIN_CYCLES or rows < 2:
        return {}
    chosen = np.unique(np.linspace(0, rows - 1, min(rows, PERIODIC_ROWS)).round().astype(int))
    residual = data[chosen] - col_means.astype(np.float32)
    residual -= residual.mean(axis=1, keepdims=True)
    residual *= np.hanning(cols).astype(np.float32)
    spectra = np.abs(fft.rfft(residual, axis=1)[:, PERIODIC_MIN_CYCLES:]) ** 2
    power = _row_medians(np.ascontiguousarray(spectra.T))
    typical = float(np.median(power))
    if typical <= 0:
        return {}
    peak = int(np.argmax(power))
    ratio = float(power[peak]) / typical
    out = {"periodic_noise": ratio}
    if ratio >= PERIODIC_SIGNIFICANT:
        out["periodic_period"] = cols / (peak + PERIODIC_MIN_CYCLES)
    return out


def _grid_metrics(cells: np.ndarray, shape: tuple[int, int]) -> dict[str, float]:
    """``grid{r}{c}`` of a 3x3 array and the slopes of a plane fitted to it, per 1000 px."""
    out = {f"grid{r}{c}": float(cells[r, c]) for r in range(GRID) for c in range(GRID)}
    y_edges, x_edges = _bands(shape[0]), _bands(shape[1])
    y = np.repeat(0.5 * (y_edges[:-1] + y_edges[1:]), GRID)
    x = np.tile(0.5 * (x_edges[:-1] + x_edges[1:]), GRID)
    design = np.column_stack([np.ones(GRID * GRID), x, y])
    (_, slope_x, slope_y), *_ = np.linalg.lstsq(design, cells.ravel(), rcond=None)
    out["gradient_x"], out["gradient_y"] = 1000.0 * slope_x, 1000.0 * slope_y
    return out


def _difference_grid(sample: np.ndarray, step: int, shape: tuple[int, int]) -> dict[str, float]:
    """Median of each ninth of the data minus the overall median (ADU): glows and light leaks."""
    row_edges = -(-_bands(shape[0]) // step)  # first sample row at or after each band edge
    col_edges = _bands(shape[1])
    if np.any(np.diff(row_edges) == 0) or np.any(np.diff(col_edges) == 0):
        return {}
    overall = _median(sample)
    cells = np.array([
        [_median(sample[row_edges[r] : row_edges[r + 1], col_edges[c] : col_edges[c + 1]]) for c in range(GRID)]
        for r in range(GRID)
    ])
    return _grid_metrics(cells - overall, shape)


def _relative_grid(shape: tuple[int, int], band_sums: np.ndarray, noise: _NoiseModel) -> dict[str, float]:
    """Mean of each ninth of the data over the overall mean: vignetting, lamp illumination.

    Means rather than medians: on echelle flats and arcs a ninth's median falls between
    orders or lines. Not measured when the overall mean is below the read noise.
    """
    rows, cols = shape
    row_edges, col_edges = _bands(rows), _bands(cols)
    overall = float(band_sums.sum()) / (rows * cols)
    if np.any(np.diff(row_edges) == 0) or np.any(np.diff(col_edges) == 0) or overall <= math.sqrt(noise.read_var):
        return {}
    cells = np.array([
        [band_sums[r, col_edges[c] : col_edges[c + 1]].sum()
         / ((row_edges[r + 1] - row_edges[r]) * (col_edges[c + 1] - col_edges[c])) for c in range(GRID)]
        for r in range(GRID)
    ])
    return _grid_metrics(cells / overall, shape)


def _profile_peaks(profile: np.ndarray) -> np.ndarray:
    """Indices of the peaks of a profile that stand out from it.

    A peak must stand out by 10 % of the profile's range, 5 % of its own height and 10
    sigma of the profile's noise.
    """
    from scipy import signal

    if profile.size < 3:
        return np.empty(0, dtype=int)
    low, high = np.percentile(profile, [2, 98])
    noise = _robust_sigma(np.diff(profile)) / math.sqrt(2.0)
    prominence = max(ORDER_PROMINENCE * (high - low), 10.0 * noise)
    if not prominence > 0:
        return np.empty(0, dtype=int)
    peaks, properties = signal.find_peaks(profile, prominence=prominence)
    return peaks[properties["prominences"] >= PEAK_RELATIVE * np.abs(profile[peaks])]


def _order_metrics(profiles: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Number of orders and their median peak/valley ratio, across the dispersion.

    The cross-dispersion axis is the profile with more peaks (ties: ``rows``, i.e.
    orders stacked in y as on UVES). A peak's valley is the mean of the minima between
    it and its neighbouring peaks (or the profile's ends), floored at 0.1 % of the peak
    so that the ratio stays finite where the gaps between orders are dark.
    """
    found = [(p, _profile_peaks(p)) for p in (profiles[a].astype(np.float64) for a in ("rows", "cols"))]
    profile, peaks = max(found, key=lambda f: f[1].size)
    out = {"order_count": float(peaks.size)}
    if peaks.size:
        edges = np.concatenate([[0], peaks, [profile.size]])
        minima = np.array([profile[a:b].min() for a, b in zip(edges[:-1], edges[1:])])
        heights, valleys = profile[peaks], 0.5 * (minima[:-1] + minima[1:])
        out["order_contrast"] = float(np.median(heights / np.maximum(valleys, 1e-3 * np.abs(heights))))
    return out


def _dispersion_axis(profiles: Mapping[str, np.ndarray], factors: Mapping[str, int]) -> int:
    """The axis along which arc lines are narrowest: 1 (x, the ``cols`` profile) or 0 (y).

    Lines are sharp along the dispersion; across it the profile shows the slit or the
    orders, several times wider. x when neither profile has peaks.
    """
    from scipy import signal

    widths = {}
    for axis, name in ((1, "cols"), (0, "rows")):
        profile = profiles[name].astype(np.float64)
        peaks = _profile_peaks(profile)
        if peaks.size:
            widths[axis] = float(np.median(signal.peak_widths(profile, peaks, rel_height=0.5)[0])) * factors[name]
    return min(widths, key=widths.__getitem__) if widths else 1


def _grey_opening(values: np.ndarray, window: int, axis: int) -> np.ndarray:
    """Grey opening along one axis: the running maximum of the running minimum (``window`` odd).

    Removes whatever is narrower than the window and keeps the floor under it.
    """
    eroded = _running_extreme(values, window, axis, np.minimum, np.inf)
    return _running_extreme(eroded, window, axis, np.maximum, -np.inf)


def _running_extreme(values: np.ndarray, window: int, axis: int, ufunc: np.ufunc, pad: float) -> np.ndarray:
    """Minimum or maximum (``ufunc``) over the centred ``window`` of each sample along ``axis``.

    Windows are merged by doubling (log2(window) passes), five times faster than
    ``scipy.ndimage.minimum_filter1d``; beyond the ends the window is cut (``pad``).
    """
    half = window // 2
    moved = np.moveaxis(values, axis, -1)
    n = moved.shape[-1]
    padded = np.full(moved.shape[:-1] + (n + 2 * half,), pad, dtype=values.dtype)
    padded[..., half : half + n] = moved
    span = 1
    while span < window:
        step = min(span, window - span)
        ufunc(padded[..., :-step], padded[..., step:], out=padded[..., :-step])
        span += step
    return np.moveaxis(padded[..., :n], -1, axis)


def _block_reduce(data: np.ndarray, b: int, ufunc: np.ufunc) -> np.ndarray:
    """Reduce ``b`` x ``b`` blocks with ``ufunc`` (np.add, np.maximum); incomplete blocks dropped.

    Strided accumulation, rows first: several times faster than reducing a reshaped view.
    """
    rows, cols = data.shape[0] // b * b, data.shape[1] // b * b
    if b == 1:
        return data[:rows, :cols].copy()
    out = ufunc(data[0:rows:b, :cols], data[1:rows:b, :cols])
    for i in range(2, b):
        ufunc(out, data[i:rows:b, :cols], out=out)
    blocks = ufunc(out[:, 0::b], out[:, 1::b])
    for i in range(2, b):
        ufunc(blocks, out[:, i::b], out=blocks)
    return blocks


@dataclass(frozen=True)
class _BinnedArc:
    """An arc binned ``factor`` x ``factor`` before its cosmic rays are cleaned: block means and maxima."""

    factor: int
    mean: np.ndarray
    peak: np.ndarray


def _bin_arc(data: np.ndarray) -> _BinnedArc:
    """Bin an arc by 4 on a full-size frame (by ``min(shape) // 512``, at least 1)."""
    b = max(1, min(data.shape) // 512)
    return _BinnedArc(b, _block_reduce(data, b, np.add) / np.float32(b * b), _block_reduce(data, b, np.maximum))


def _line_metrics(cleaned: np.ndarray, uncleaned: _BinnedArc, dispersion_axis: int) -> dict[str, float]:
    """Arc lines found in 2-D: number, total flux and 90th percentile of their peaks.

    The cleaned data are binned like ``uncleaned`` and the background estimated by a
    grey opening along the dispersion (32 px, see :func:`_dispersion_axis`): lines
    are narrower than that along the dispersion, the continuum of an order and
    scattered light are not. The opening sits under the noise; the median of the data
    above it is added back. Sigma is the robust sigma of the binned data around the
    background (lines are a minority of the pixels). A line is a connected group of at
    least two binned pixels more than 3 sigma above the background, one of them more
    than 10 sigma (hysteresis: a faint line along the slit stays one line). Lines are
    found after cosmic rays are cleaned (a shower must not pass for a second lamp), but
    their flux (summed above the background) and peak (brightest pixel minus the
    background) are read before, as a line narrower than ~2 px can lose its peak to
    the cleaning.
    """
    from scipy import ndimage

    b = uncleaned.factor
    binned = _block_reduce(cleaned, b, np.add)
    binned /= np.float32(b * b)
    window = max(5, LINE_WINDOW // b) | 1
    background = _grey_opening(binned, window, dispersion_axis)
    background += np.float32(_median(binned - background))  # the opening sits ~2 sigma under the noise
    excess = binned - background
    sigma = _robust_sigma(excess)
    labels, count = ndimage.label(excess > LINE_GROW_SIGMA * sigma, structure=np.ones((3, 3), dtype=bool))
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    seeded = np.zeros(count + 1, dtype=bool)
    seeded[labels[excess > LINE_SIGMA * sigma]] = True
    seeded[0] = False
    seeded &= sizes >= LINE_MIN_PIXELS  # single pixels: hot pixels, what cleaning left of cosmic rays
    lines = seeded[labels]
    flux = float((uncleaned.mean - background)[lines].sum(dtype=np.float64)) * b * b
    out = {"line_count": float(seeded.sum()), "line_flux": flux}
    if seeded.any():
        peaks = ndimage.maximum((uncleaned.peak - background)[lines], labels[lines], np.flatnonzero(seeded))
        out["line_peak_p90"] = float(np.percentile(peaks, 90))
    return out


# ----------------------------------------------------------------------------- labels

_LABELS: Mapping[str, tuple[str, str]] = {
    "bias_level": ("bias level", "ADU"),
    "read_noise": ("read-out noise", "ADU"),
    "level": ("level", "ADU"),
    "noise": ("pixel noise", "ADU"),
    "p01": ("1st percentile", "ADU"),
    "p05": ("5th percentile", "ADU"),
    "p50": ("median", "ADU"),
    "p95": ("95th percentile", "ADU"),
    "p99": ("99th percentile", "ADU"),
    "max": ("maximum", "ADU"),
    "saturated_fraction": ("saturated fraction", "%"),
    "nan_fraction": ("fraction of NaN or infinite pixels", "%"),
    "row_structure": ("row structure (scatter of the row means)", "ADU"),
    "column_structure": ("column structure (scatter of the column means)", "ADU"),
    "bad_row_fraction": ("fraction of corrupted rows", "%"),
    "bad_column_excess": ("summed excess level of hot or dead columns over their neighbours", "ADU"),
    "periodic_noise": ("periodic noise (peak / median power)", ""),
    "periodic_period": ("period of the periodic noise", "px"),
    "cosmic_ray_fraction": ("cosmic-ray fraction", "‰"),
    "flux": ("flux above bias", "ADU"),
    "flux_p99": ("99th percentile of the flux above bias", "ADU"),
    "order_count": ("number of orders", ""),
    "order_contrast": ("order peak / valley ratio", ""),
    "line_count": ("number of arc lines", ""),
    "line_flux": ("total flux in arc lines", "ADU"),
    "line_peak_p90": ("90th percentile of arc-line peaks", "ADU"),
    "profile_bin_rows": ("binning of the row profile", "px"),
    "profile_bin_cols": ("binning of the column profile", "px"),
}
_GRID_ROWS = ("bottom", "middle", "top")
_GRID_COLS = ("left", "centre", "right")


def metric_label(name: str, category: str | None = None) -> tuple[str, str]:
    """Human label and unit of a quality number, for the reasons shown to astronomers.

    Parameters
    ----------
    name
        A metric name, e.g. ``"amp2.level"``, ``"saturated_fraction"``, ``"grid02"``.
    category
        The image category, when known: the grid and gradients are in ADU on biases
        and darks and relative on flats and arcs.

    Returns
    -------
    tuple of str
        ``(label, unit)``, e.g. ``("level, amplifier 2", "ADU")``; an unknown name is
        returned with underscores as spaces and no unit.

    Examples
    --------
    >>> metric_label("amp1.read_noise")
    ('read-out noise, amplifier 1', 'ADU')
    >>> metric_label("grid02", "flat")
    ('level of the bottom-right ninth relative to the whole image', '')
    """
    amplifier = re.fullmatch(r"amp(\w+)\.(\w+)", name)
    if amplifier:
        label, unit = metric_label(amplifier.group(2), category)
        return f"{label}, amplifier {amplifier.group(1)}", unit
    if name in _LABELS:
        return _LABELS[name]
    relative = category in _RATIO_GRID
    grid = re.fullmatch(r"grid([0-2])([0-2])", name)
    if grid:
        where = f"{_GRID_ROWS[int(grid.group(1))]}-{_GRID_COLS[int(grid.group(2))]}"
        where = "central" if where == "middle-centre" else where
        if category is None:
            return f"level of the {where} ninth against the whole image (ADU on biases, ratio on flats)", ""
        if relative:
            return f"level of the {where} ninth relative to the whole image", ""
        return f"level of the {where} ninth minus the whole image's", "ADU"
    gradient = re.fullmatch(r"gradient_([xy])", name)
    if gradient:
        label = "horizontal gradient" if gradient.group(1) == "x" else "vertical gradient"
        if category is None:
            return f"{label} (ADU on biases, fraction on flats)", "per 1000 px"
        return (label, "fraction per 1000 px") if relative else (label, "ADU per 1000 px")
    return name.replace("_", " "), ""
