"""The per-file work: read a raw file and describe each image, without the network.

:func:`describe_file` is a pure function of the file and the settings, so that it
runs the same in a pool of worker processes or on a Dask cluster. It returns the
store-ready rows plus each image's network input; the caller batches those inputs
through the embedder (the only part that needs TensorFlow).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import qc
from .config import Settings
from .fitsio import FitsReading, RawImage, read_fits
from .preprocess import network_input, png_bytes, preview, reduce_image, thumbnail
from .rules import load_rules
from .store import NewFile, NewImage


@dataclass
class DescribedFile:
    """A file described up to the network: store rows and the inputs still to embed."""

    record: NewFile
    inputs: dict[int, np.ndarray] = field(default_factory=dict)


def describe_image(image: RawImage, input_size: int) -> tuple[NewImage, np.ndarray | None]:
    """Quality numbers, thumbnail and network input of one image.

    An image without any finite pixel gets no quality numbers and no network input:
    there is nothing to describe, and the report says so.
    """
    problems = list(image.problems)
    finite = np.isfinite(image.pixels) if image.pixels.dtype.kind == "f" else None
    empty = finite is not None and not finite.any()
    if empty:
        problems.append("no valid pixels: every pixel is NaN or infinite")
    elif finite is not None and not finite.all():
        problems.append(f"{100 * (1 - finite.mean()):.2g} % of pixels are NaN or infinite")
    quality, picture, net, small = None, None, None, None
    if not empty:
        try:
            quality = qc.measure_quality(image.pixels, image.header, image.identity.category)
            picture = png_bytes(thumbnail(image.pixels))
            reduced = reduce_image(image.pixels, input_size)
            net = network_input(reduced)
            small = preview(reduced)
            problems.extend(constant_image_problem(image.pixels, quality.metrics))
        except Exception as exc:  # one odd image must not stop the night: it is reported instead
            problems.append(f"could not be measured: {type(exc).__name__}: {exc}")
            quality, picture, net, small = None, None, None, None
    identity = image.identity
    record = NewImage(
        ext=image.ext,
        extname=image.extname,
        shape=image.shape,
        instrument=identity.instrument,
        arm=identity.arm,
        category=identity.category,
        label=identity.label,
        mode=identity.mode,
        image_type=identity.image_type,
        night=image.night.isoformat() if image.night else "",
        date_obs=image.date_obs,
        exptime=image.exptime,
        header=_jsonable(image.kept_header()),
        problems=problems,
        thumbnail=picture,
        metrics=quality.metrics if quality else None,
        profiles=quality.profiles if quality else {},
        descriptor=None,
        preview=small,
    )
    return record, net


def constant_image_problem(pixels: np.ndarray, metrics: dict[str, float]) -> list[str]:
    """A problem when every pixel has one value: a dead or saturated read-out.

    Every 4th pixel of every 4th row is compared with the maximum of the whole image
    from the quality numbers: the check costs a sixteenth of a pass over the pixels.
    """
    sample = pixels[::4, ::4]
    if "max" not in metrics or sample.size == 0:
        return []
    low, high = np.nanmin(sample), np.nanmax(sample)
    if low == high == metrics["max"]:
        return [f"constant image: every pixel is {float(high):.6g} ADU (a dead or saturated read-out)"]
    return []


def describe_file(path: str | Path, settings: Settings, content_hash: str | None = None) -> DescribedFile:
    """Read one raw file and describe every image in it.

    Parameters
    ----------
    path
        The raw file.
    settings
        Night offset, header-rule folders and network input size are used.
    content_hash
        The file's content hash, when the caller knows it (it is not computed again).

    Returns
    -------
    DescribedFile
        Never raises for bad input: an unreadable file comes back with ``error`` set.
        The night of a file (and image) whose header has no date is left empty for
        the caller to fill from the batch (:func:`fill_night`).
    """
    try:
        reading = read_fits(path, load_rules(tuple(settings.rules_dirs)), settings.night_offset_hours, content_hash=content_hash)
    except Exception as exc:  # a header no rule foresaw must not stop the night: the file is reported
        reading = FitsReading(Path(path), content_hash or "", 0, error=f"could not be read: {type(exc).__name__}: {exc}")
    dated = [i.night for i in reading.images if i.night]
    night = min(dated).isoformat() if dated else ""
    record = NewFile(
        path=str(Path(path).absolute()),
        content_hash=reading.content_hash,
        size=reading.size,
        night=night,
        error=reading.error,
    )
    described = DescribedFile(record)
    for image in reading.images:
        new_image, net = describe_image(image, settings.input_size)
        record.images.append(new_image)
        if net is not None:
            described.inputs[image.ext] = net
    return described


def fill_night(record: NewFile, night: str) -> None:
    """Give an undated file, and its undated images, the night they were found with."""
    if not record.night:
        record.night = night
    for image in record.images:
        if not image.night:
            image.night = night


def _jsonable(values: dict) -> dict:
    return {k: (v if isinstance(v, (str, int, float, bool)) else str(v)) for k, v in values.items()}
