"""Pixels to network input and thumbnails.

A raw image (thousands of pixels a side) is reduced by block averaging to a small
float32 copy, then turned into the three channels the network sees. The channels keep
absolute levels in ADU on fixed scales, because a descriptor that normalises every
image away cannot see a flat taken with a dying lamp:

0. level: ``asinh(adu / 1000)`` on a fixed scale (0 to 65535 ADU);
1. structure: the image minus its median in units of its own robust scatter
   (like a zscale display: orders, lines, gradients, bad rows);
2. small offsets: ``asinh((adu - median) / 10)`` on a fixed scale, which shows a few
   ADU of glow or banding on a bias.

For people rather than the network, :func:`display_image` gives a block-averaged copy
small enough for a browser, scaled as ds9 scales it (zscale, asinh or min-max), and
:func:`pixel_histogram` and :func:`median_profile` the histogram and reference
profile drawn beside it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from astropy.visualization import AsinhStretch, MinMaxInterval, PercentileInterval, ZScaleInterval
from PIL import Image
from scipy import ndimage

FULL_SCALE_ADU = 65535.0
LEVEL_SOFTENING_ADU = 1000.0
OFFSET_SOFTENING_ADU = 10.0
STRUCTURE_CLIP_SIGMA = 10.0
HOT_PIXEL_QUANTILE = 0.9999
THUMBNAIL_SIDE = 256
PREVIEW_SIDE = 128
DISPLAY_SIDE = 800
STRETCHES = ("zscale", "asinh", "minmax")
ASINH_SOFTENING = 0.05  # astropy's AsinhStretch ``a``: linear below about 5 % of the range, logarithmic above
ASINH_PERCENTILE = 99.9  # the asinh stretch spans this central share of the pixels (cosmic rays left out)
HISTOGRAM_BINS = 200
HISTOGRAM_TAIL = 1e-4  # share of pixels left out of the histogram's range at each end (counted apart)
COLOUR_TICKS = 5


def finite_pixels(image: np.ndarray) -> np.ndarray:
    """A float32 copy with non-finite pixels replaced by the median of the finite ones."""
    pixels = np.asarray(image, dtype=np.float32)
    finite = np.isfinite(pixels)
    if finite.all():
        return pixels
    fill = float(np.median(pixels[finite])) if finite.any() else 0.0
    return np.where(finite, pixels, np.float32(fill))


def block_reduce(image: np.ndarray, target: tuple[int, int], cap: float | None = None) -> np.ndarray:
    """Average blocks of pixels so that each side is at least ``target`` and less than twice it.

    Block averaging (not subsampling) keeps the mean level and lowers the noise, and it
    is one cheap pass over the pixels. Pixels above ``cap`` count as ``cap``. Integer
    pixels (up to 32 bits) are summed exactly, as they are read
    (:mod:`core.pixel_blocks`); non-finite float pixels are replaced first (see
    :func:`finite_pixels`).
    """
    fy = max(1, image.shape[0] // target[0])
    fx = max(1, image.shape[1] // target[1])
    ny, nx = image.shape[0] // fy * fy, image.shape[1] // fx * fx
    if image.dtype.kind not in "iu" or image.dtype.itemsize > 4 or (fy == 1 and fx == 1):
        pixels = finite_pixels(image)
        if cap is not None:
            pixels = np.minimum(pixels, np.float32(cap))
        if fy == 1 and fx == 1:
            return pixels
        return pixels[:ny, :nx].reshape(ny // fy, fy, nx // fx, fx).mean(axis=(1, 3), dtype=np.float32)
    from . import pixel_blocks

    pixels = np.ascontiguousarray(image)
    limits = np.iinfo(pixels.dtype)
    if cap is not None and cap < limits.max:
        sums = pixel_blocks.capped_block_sums(pixels, fy, fx, int(max(np.floor(cap), limits.min)), float(cap))
    else:
        sums = pixel_blocks.block_sums(pixels, fy, fx).astype(np.float64)
    return (sums / (fy * fx)).astype(np.float32)


def resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resample a 2-D float32 array to exactly ``shape`` (bilinear)."""
    if image.shape == shape:
        return image
    zoom = (shape[0] / image.shape[0], shape[1] / image.shape[1])
    out = ndimage.zoom(image, zoom, order=1, mode="nearest", grid_mode=True)
    return out[: shape[0], : shape[1]].astype(np.float32, copy=False)


def robust_sigma(values: np.ndarray) -> float:
    """Scatter estimate insensitive to outliers: 1.4826 times the median absolute deviation."""
    median = np.median(values)
    return float(1.4826 * np.median(np.abs(values - median)))


def network_channels(reduced: np.ndarray) -> np.ndarray:
    """The three channels (level, structure, small offsets) of a reduced image, each in [0, 1]."""
    median = float(np.median(reduced))
    sigma = max(robust_sigma(reduced), 1e-3)
    level = np.arcsinh(np.clip(reduced, 0, FULL_SCALE_ADU) / LEVEL_SOFTENING_ADU) / np.arcsinh(FULL_SCALE_ADU / LEVEL_SOFTENING_ADU)
    structure = (np.clip((reduced - median) / sigma, -STRUCTURE_CLIP_SIGMA, STRUCTURE_CLIP_SIGMA) / STRUCTURE_CLIP_SIGMA + 1) / 2
    offset_scale = np.arcsinh(FULL_SCALE_ADU / OFFSET_SOFTENING_ADU)
    offsets = (np.arcsinh((reduced - median) / OFFSET_SOFTENING_ADU) / offset_scale + 1) / 2
    return np.stack([level, structure, offsets], axis=-1).astype(np.float32)


def hot_pixel_cap(pixels: np.ndarray, quantile: float = HOT_PIXEL_QUANTILE) -> float:
    """The level at which a few cosmic-ray hits stop dominating the picture: a high quantile.

    The quantile is estimated on every fourth row. Saturated regions, bright orders and
    arc lines cover far more than the top 0.01 % of pixels and are kept; the quality
    numbers count cosmic rays separately. Unsigned 16-bit pixels (most raw frames) are
    counted in a histogram rather than sorted: the same value, several times faster.
    """
    if pixels.dtype != np.uint16:
        return float(np.float32(np.quantile(finite_pixels(pixels)[::4], quantile)))
    from .pixel_blocks import histogram_u16

    cumulative = np.cumsum(histogram_u16(np.ascontiguousarray(pixels), 4))
    rank = quantile * (cumulative[-1] - 1)  # numpy's default (linear) quantile
    low, high = np.searchsorted(cumulative, [np.floor(rank), np.ceil(rank)], side="right")
    return float(np.float32(low + (rank - np.floor(rank)) * (high - low)))


def reduce_image(image: np.ndarray, size: int = 224) -> np.ndarray:
    """The image with cosmic rays capped, block-averaged and resampled to ``(size, size)`` float32 ADU.

    Every image type shares one square geometry, whatever its aspect ratio, so that
    descriptors and difference images of any two frames can be compared.
    """
    return resize(block_reduce(image, (size, size), cap=hot_pixel_cap(image)), (size, size))


def network_input(reduced: np.ndarray) -> np.ndarray:
    """A reduced image as the network's input: ``(size, size, 3)`` float32 in [0, 255]."""
    return network_channels(reduced) * np.float32(255.0)


def preview(reduced: np.ndarray, side: int = PREVIEW_SIDE) -> np.ndarray:
    """A small float32 copy of a reduced image, kept for difference images against the reference."""
    return resize(reduced, (side, side))


def thumbnail(image: np.ndarray, side: int = THUMBNAIL_SIDE) -> np.ndarray:
    """A small uint8 picture of an image, zscale-stretched as astronomers display raw frames.

    The aspect ratio is kept; the longer side is at most ``side`` pixels.
    """
    factor = max(1, int(np.ceil(max(image.shape) / side)))
    reduced = block_reduce(image, (max(1, image.shape[0] // factor), max(1, image.shape[1] // factor)))
    low, high = ZScaleInterval().get_limits(reduced)
    if not high > low:
        high = low + 1.0
    scaled = np.clip((reduced - low) / (high - low), 0, 1)
    # Row 0 is FITS y=1, shown at the bottom as astronomers' viewers do.
    return np.flipud(scaled * 255).astype(np.uint8)


def png_bytes(picture: np.ndarray) -> bytes:
    """Encode a 2-D uint8 array as PNG, at zlib's fastest level.

    A thumbnail compresses to ~15 % more bytes than at the default level 6, in a quarter
    of the time (1 ms rather than 4 of every image's ingest).
    """
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG", optimize=False, compress_level=1)
    return buffer.getvalue()


@dataclass(frozen=True)
class DisplayImage:
    """An image made small enough for a browser and scaled for the eye.

    Attributes
    ----------
    values
        ``(ny, nx)`` float32 in [0, 1]: the brightness shown (row 0 is FITS y = 1).
    adu
        The block-averaged pixels in ADU, same shape (what a cursor reads).
    factor
        ``(fy, fx)``: raw pixels per displayed pixel along y and x.
    limits
        The ADU shown as black and white.
    stretch
        ``zscale``, ``asinh`` or ``minmax``.
    ticks
        ``(brightness, ADU)`` pairs for a colour bar labelled in ADU.
    """

    values: np.ndarray
    adu: np.ndarray
    factor: tuple[int, int]
    limits: tuple[float, float]
    stretch: str
    ticks: tuple[tuple[float, float], ...]


def display_image(image: np.ndarray, stretch: str = "zscale", side: int = DISPLAY_SIDE) -> DisplayImage:
    """A block-averaged copy of an image (longer side at most ``side``), scaled as ds9 would show it.

    Parameters
    ----------
    image
        The raw 2-D pixels.
    stretch
        ``zscale``: linear between astropy's zscale limits (what astronomers look at raw
        frames with); ``asinh``: astropy's asinh stretch over the central 99.9 % of the
        pixels, which shows faint and bright structure at once (orders and lines);
        ``minmax``: linear from the lowest to the highest pixel.
    side
        Longest side of the result in pixels; whole blocks are averaged, so the mean
        level is kept and the browser gets at most ``side`` squared numbers.

    Raises
    ------
    ValueError
        For an unknown stretch or an image that is not 2-D and non-empty.
    """
    if stretch not in STRETCHES:
        raise ValueError(f"unknown stretch {stretch!r}: use one of {', '.join(STRETCHES)}")
    if image.ndim != 2 or image.size == 0:
        raise ValueError(f"not a 2-D image: shape {image.shape}")
    factor = max(1, int(np.ceil(max(image.shape) / side)))
    adu = block_reduce(image, (max(1, image.shape[0] // factor), max(1, image.shape[1] // factor)))
    fy, fx = max(1, image.shape[0] // adu.shape[0]), max(1, image.shape[1] // adu.shape[1])
    interval = {"zscale": ZScaleInterval(), "asinh": PercentileInterval(ASINH_PERCENTILE), "minmax": MinMaxInterval()}[stretch]
    low, high = (float(v) for v in interval.get_limits(adu))
    if not high > low:
        high = low + 1.0
    levels = np.linspace(low, high, COLOUR_TICKS)
    ticks = tuple((float(b), float(v)) for b, v in zip(_brightness(levels, low, high, stretch), levels, strict=True))
    return DisplayImage(_brightness(adu, low, high, stretch).astype(np.float32), adu, (fy, fx), (low, high), stretch, ticks)


def _brightness(values: np.ndarray, low: float, high: float, stretch: str) -> np.ndarray:
    """ADU to brightness in [0, 1] between the limits, through the asinh stretch when asked."""
    scaled = np.clip((values - low) / (high - low), 0.0, 1.0)
    return AsinhStretch(ASINH_SOFTENING)(scaled) if stretch == "asinh" else scaled


def pixel_histogram(image: np.ndarray, bins: int = HISTOGRAM_BINS, tail: float = HISTOGRAM_TAIL) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Counts of the finite pixels of an image, over the range that holds all but the extreme ``tail`` at each end.

    A few saturated pixels or cosmic rays would otherwise stretch the range until a
    bias's noise fills one bin; they are counted apart instead.

    Returns
    -------
    counts, edges, below, above
        ``bins`` counts, ``bins + 1`` edges in ADU, and how many pixels fell below
        and above the range.
    """
    pixels = np.asarray(image).ravel()
    if pixels.dtype.kind == "f":
        pixels = pixels[np.isfinite(pixels)]
    if pixels.size == 0:
        return np.zeros(bins, np.int64), np.linspace(0.0, 1.0, bins + 1), 0, 0
    low, high = (float(v) for v in np.quantile(pixels, [tail, 1.0 - tail]))
    if not high > low:
        low, high = low - 0.5, low + 0.5
    counts, edges = np.histogram(pixels, bins=bins, range=(low, high))
    return counts, edges, int(np.count_nonzero(pixels < low)), int(np.count_nonzero(pixels > high))


def median_profile(profiles: Sequence[np.ndarray]) -> np.ndarray | None:
    """The median of some frames' 1-D profiles (cut to the shortest), or None without any."""
    usable = [np.asarray(p, np.float64) for p in profiles if p is not None and len(p)]
    if not usable:
        return None
    length = min(len(p) for p in usable)
    return np.median(np.stack([p[:length] for p in usable]), axis=0)
