"""A corpus of broken raw files, written fresh into a folder for each test that needs it.

Each entry says what a user must see for it: the file is unreadable as a whole (one
report row, ``ext`` empty, reason starting ``unreadable:``), or it is readable but
its image is flagged with a reason containing the given words.
"""

from __future__ import annotations

import gzip
import shutil
from dataclasses import dataclass
from pathlib import Path

import ncompress
import numpy as np
from astropy.io import fits


@dataclass(frozen=True)
class Broken:
    """What the report must say about one broken file."""

    name: str
    unreadable: bool
    words: str


def _header(**cards) -> fits.Header:
    header = fits.Header()
    header["INSTRUME"] = "TESTCAM"
    header["IMAGETYP"] = "BIAS"
    header["EXPTIME"] = 0.0
    header["DATE-OBS"] = "2024-03-02T08:00:00"
    for key, value in cards.items():
        if value is None:
            del header[key]
        else:
            header[key] = value
    return header


def good_bias(seed: int = 0, level: float = 300.0) -> np.ndarray:
    """A small bias frame (uint16) with read noise."""
    rng = np.random.default_rng(seed)
    return (level + 4.0 * rng.standard_normal((64, 80))).astype(np.uint16)


def fits_bytes(hdus: list[fits.hdu.base._BaseHDU]) -> bytes:
    """A FITS file in memory."""
    from io import BytesIO

    buffer = BytesIO()
    fits.HDUList(hdus).writeto(buffer)
    return buffer.getvalue()


def write_good_files(folder: Path, count: int = 4) -> list[Path]:
    """A few readable biases of one night, the rest of the batch beside the broken files."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"bias_{i:02d}.fits"
        header = _header(**{"DATE-OBS": f"2024-03-02T08:0{i}:00"})
        path.write_bytes(fits_bytes([fits.PrimaryHDU(good_bias(i), header=header)]))
        paths.append(path)
    return paths


def write_broken_corpus(folder: Path) -> dict[str, Broken]:
    """Write every kind of broken file into ``folder``; returns what to expect per file name."""
    folder.mkdir(parents=True, exist_ok=True)
    two_chips = fits_bytes([fits.PrimaryHDU(header=_header()), fits.ImageHDU(good_bias(1)), fits.ImageHDU(good_bias(2))])
    expectations = [
        (Broken("empty.fits", True, "empty file"), b""),
        (Broken("not_fits.fits", True, "not a FITS file"), b"SIMPLE? no: this is a text file, not an image\n" * 40),
        (Broken("truncated.fits", True, "truncated"), two_chips[: len(two_chips) - 5000]),
        (Broken("header_only.fits", True, "truncated"), fits_bytes([fits.PrimaryHDU(good_bias(3), header=_header())])[:2880]),
        (Broken("cube.fits", True, "3-D"), fits_bytes([fits.PrimaryHDU(np.zeros((3, 16, 16), np.float32), header=_header())])),
        (Broken("spectrum.fits", True, "1-D"), fits_bytes([fits.PrimaryHDU(np.arange(100, dtype=np.float32), header=_header())])),
        (
            Broken("zero_size.fits", True, "no 2-D image"),
            fits_bytes([fits.PrimaryHDU(header=_header()), fits.ImageHDU(np.zeros((0, 5), np.int16))]),
        ),
        (Broken("all_nan.fits", False, "NaN"), fits_bytes([fits.PrimaryHDU(np.full((32, 32), np.nan, np.float32), header=_header())])),
        (Broken("no_date.fits", False, "DATE-OBS"), fits_bytes([fits.PrimaryHDU(good_bias(4), header=_header(**{"DATE-OBS": None}))])),
        (Broken("corrupt.fits.gz", True, "corrupt compressed"), gzip.compress(two_chips)[:300] + b"\x00garbage" * 50),
        (Broken("corrupt.fits.Z", True, "corrupt compressed"), b"\x1f\x9d\x90" + bytes(range(256)) * 4),
        (
            Broken("unknown_instrument.fits", False, "unknown instrument"),
            fits_bytes([fits.PrimaryHDU(good_bias(5), header=_header(INSTRUME=None, IMAGETYP=None, EXPTIME=5.0))]),
        ),
        (
            Broken("future_date.fits", False, "lies in the future"),
            fits_bytes([fits.PrimaryHDU(good_bias(7), header=_header(**{"DATE-OBS": "2999-01-01T00:00:00"}))]),
        ),
    ]
    for broken, data in expectations:
        (folder / broken.name).write_bytes(data)
    dangling = Broken("dangling_link.fits", True, "broken symbolic link")
    (folder / dangling.name).symlink_to(folder / "moved_away.fits")
    expectations.append((dangling, b""))
    good = folder / "good.fits.Z"
    good.write_bytes(ncompress.compress(fits_bytes([fits.PrimaryHDU(good_bias(6), header=_header())])))
    duplicate = folder / "good_copy.fits.Z"
    shutil.copyfile(good, duplicate)
    corpus = {b.name: b for b, _ in expectations}
    corpus[duplicate.name] = Broken(duplicate.name, False, "duplicate")
    return corpus
