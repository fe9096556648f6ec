"""Find, open and describe raw FITS files.

A raw file may be plain or compressed (Unix compress ``.Z`` as ESO's archive delivers
it, gzip, bzip2, or tile-compressed ``.fz``) and may hold several images: every 2-D
image HDU is one *image*, the unit of analysis. The compression is recognised by
its magic bytes, not by the file name. ``.Z`` is decompressed by the system's
``gzip`` into an anonymous memory file where there is one (Linux), else by the C
library ``ncompress``: gzip's LZW decoder is twice as fast, and the memory file spares
a copy of the decompressed bytes (astropy's pure-Python LZW reader is about 15x
slower than either).

Pixels of the usual integer and float images are converted straight from the
decompressed bytes with numpy (astropy's data loading makes two more copies of each
image); unusual scalings (``BLANK``, ``BSCALE`` other than 1) go through astropy.

Reading never raises on bad input: problems come back as text in
:class:`FitsReading` so that a night with one broken file still gets ingested.
"""

from __future__ import annotations

import bz2
import contextlib
import gc
import hashlib
import io
import logging
import mmap
import os
import re
import shutil
import sqlite3
import subprocess
import warnings
import zlib
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import BinaryIO

import ncompress
import numpy as np
from astropy.io import fits

from .rules import ImageIdentity, RuleSet, identify

log = logging.getLogger(__name__)

FITS_SUFFIXES = (".fits", ".fit", ".fts")
LZW_MAGIC = b"\x1f\x9d"
# FITS BITPIX -> numpy type of the stored (big-endian) pixels.
BITPIX_TYPES = {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}
COMPRESSED_SUFFIXES = ("", ".gz", ".z", ".fz", ".bz2")
DATE_KEYWORDS = ("DATE-OBS", "DATE-BEG", "DATE_OBS", "UTSHUT", "DATE-AVG")
TIME_KEYWORDS = ("TIME-OBS", "UT", "UTSTART", "UT-START", "UTC")
# Clocks of observatory computers drift; a date later than this past now is wrong.
FUTURE_TOLERANCE = timedelta(days=1)

# Keywords kept in the store with every image: enough to show an expert what the
# header said without storing 30 kB of ESO header per image.
KEPT_KEYWORDS = (
    "INSTRUME",
    "TELESCOP",
    "DETECTOR",
    "OBJECT",
    "IMAGETYP",
    "OBSTYPE",
    "EXPTIME",
    "DATE-OBS",
    "MJD-OBS",
    "EXTNAME",
    "BITPIX",
    "NAXIS1",
    "NAXIS2",
    "FILTER",
    "GRATING",
    "XBINNING",
    "YBINNING",
    "CCDSUM",
    "VERSION",
    "GRISM_N",
    "GRATNG_N",
    "SLIT_N",
    "HIERARCH ESO DPR CATG",
    "HIERARCH ESO DPR TYPE",
    "HIERARCH ESO DPR TECH",
    "HIERARCH ESO INS PATH",
    "HIERARCH ESO INS MODE",
    "HIERARCH ESO INS GRAT1 WLEN",
    "HIERARCH ESO INS GRAT2 WLEN",
    "HIERARCH ESO DET WIN1 BINX",
    "HIERARCH ESO DET WIN1 BINY",
    "HIERARCH ESO DET READ SPEED",
    "HIERARCH ESO DET CHIP1 NAME",
    "HIERARCH ESO DET CHIPS",
    "HIERARCH ESO INS SLIT1 NAME",
)


@dataclass
class RawImage:
    """One 2-D image extension of a file, with its pixels and what its header says."""

    ext: int
    extname: str
    shape: tuple[int, int]
    header: fits.Header
    identity: ImageIdentity
    night: date | None
    date_obs: datetime | None
    exptime: float | None
    pixels: np.ndarray
    problems: list[str] = field(default_factory=list)

    def kept_header(self) -> dict[str, str | float | int | bool]:
        """The header keywords worth keeping with the image."""
        kept = {}
        for key in KEPT_KEYWORDS:
            value = self.header.get(key)
            if value is not None and not isinstance(value, fits.card.Undefined):
                kept[key] = value
        return kept


@dataclass
class FitsReading:
    """What reading one file gave: its images, or why it could not be read."""

    path: Path
    content_hash: str
    size: int
    images: list[RawImage] = field(default_factory=list)
    error: str | None = None

    @property
    def readable(self) -> bool:
        return self.error is None


def is_fits_name(path: Path) -> bool:
    """Whether a file name looks like a (possibly compressed) FITS file."""
    name = path.name.lower()
    return any(name.endswith(s + c) for s in FITS_SUFFIXES for c in COMPRESSED_SUFFIXES) or name.endswith(".fz")


def find_fits(paths: Iterable[str | Path]) -> tuple[list[Path], list[Path]]:
    """Expand files and folders into the FITS files to ingest.

    Folders are walked recursively and give the files whose names look like FITS;
    files named explicitly are always taken, whatever their name (a broken file must
    be reported, not silently skipped).

    Returns
    -------
    files, missing
        Absolute paths of the files found (sorted, without repeats) and the given
        paths that do not exist.
    """
    found: dict[Path, None] = {}
    missing = []
    for given in paths:
        path = Path(given).expanduser().absolute()
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(names):
                    candidate = Path(root) / name
                    # A link to nowhere is reported as unreadable, not skipped without a word.
                    if is_fits_name(candidate) and (candidate.is_file() or candidate.is_symlink()):
                        found[candidate] = None
        elif path.is_file() or path.is_symlink():
            found[path] = None
        else:
            missing.append(path)
    return sorted(found), missing


def hash_bytes(raw: bytes) -> str:
    """Content hash of a file as it lies on disk (SHA-256, hex)."""
    return hashlib.sha256(raw).hexdigest()


def hash_file(path: str | Path) -> str:
    """Content hash of a file (as :func:`hash_bytes`), read in blocks without holding it in memory.

    Raises
    ------
    OSError
        The file cannot be read.
    """
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _hash_readable(path: Path) -> str:
    """The content hash of a file, empty when it cannot be read."""
    try:
        return hash_file(path)
    except OSError:
        return ""


class HashCache:
    """Content hashes of files, remembered by path, size, modification time and inode.

    Hashing a night of raw files means reading every byte of them. A re-ingest of files
    that have not changed since (same size, modification time and inode) takes their
    hashes from here and reads nothing. The cache is a small SQLite file (a home's
    ``hashes.sqlite``); one that cannot be opened or written only makes hashing slower.

    Parameters
    ----------
    path
        The cache file; created when first written.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def hashes(self, files: Sequence[Path], threads: int = 1) -> dict[Path, str]:
        """The content hash of each file; a file that cannot be read gets an empty hash.

        Files not in the cache are read and hashed by ``threads`` threads at once (reading
        and SHA-256 let other threads run).
        """
        known = self._load()
        found: dict[Path, str] = {}
        keys: dict[Path, tuple[int, int, int]] = {}
        for path in files:
            found[path] = ""
            try:
                stat = path.stat()
            except OSError:
                continue
            key = (stat.st_size, stat.st_mtime_ns, stat.st_ino)
            remembered = known.get(str(path))
            if remembered and remembered[:3] == key:
                found[path] = remembered[3]
            else:
                keys[path] = key
        with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="calspot-hash") as pool:
            digests = dict(zip(keys, pool.map(_hash_readable, keys)))
        fresh = [(str(path), *keys[path], digest) for path, digest in digests.items() if digest]
        found.update((path, digest) for path, digest in digests.items() if digest)
        self._save(fresh)
        return found

    def _load(self) -> dict[str, tuple[int, int, int, str]]:
        if not self.path.is_file():
            return {}
        try:
            with contextlib.closing(sqlite3.connect(self.path, timeout=30)) as db:
                rows = db.execute("SELECT path, size, mtime_ns, inode, hash FROM hashes").fetchall()
        except sqlite3.Error:
            return {}
        return {path: tuple(rest) for path, *rest in rows}

    def _save(self, rows: list[tuple[str, int, int, int, str]]) -> None:
        if not rows:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.closing(sqlite3.connect(self.path, timeout=30)) as db, db:
                db.execute(
                    "CREATE TABLE IF NOT EXISTS hashes (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, inode INTEGER, hash TEXT)"
                )
                db.executemany("INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?, ?)", rows)
        except (sqlite3.Error, OSError):
            pass


def decompress(raw: bytes) -> bytes:
    """Undo gzip, Unix compress or bzip2, recognised by magic bytes; other bytes pass through.

    Raises
    ------
    ValueError
        The stream is compressed but corrupt or truncated.
    """
    magic = raw[:3]
    try:
        if magic[:2] == b"\x1f\x8b":
            decompressor = zlib.decompressobj(wbits=31)
            data = decompressor.decompress(raw) + decompressor.flush()
            if not decompressor.eof:
                raise ValueError("gzip stream ends early (truncated .gz)")
            return data
        if magic[:2] == b"\x1f\x9d":
            return ncompress.decompress(raw)
        if magic == b"BZh":
            return bz2.decompress(raw)
    except (zlib.error, OSError, EOFError) as exc:
        raise ValueError(f"corrupt compressed stream: {exc}") from exc
    except ValueError as exc:
        raise ValueError(f"corrupt compressed stream: {exc}") from exc
    return raw


@cache
def _gzip_program() -> str | None:
    """The system's gzip, which also decodes Unix compress, where memory files exist to take its output."""
    return shutil.which("gzip") if hasattr(os, "memfd_create") else None


def decompress_lzw_file(fh: BinaryIO) -> bytes | mmap.mmap:
    """Decompress an open Unix-compress (``.Z``) file from its start.

    gzip writes into an anonymous memory file that is mapped here, so the
    decompressed bytes are neither piped nor copied; without gzip or memory files,
    ``ncompress`` decompresses in this process.

    Raises
    ------
    ValueError
        The stream is corrupt (a truncated stream decodes to fewer bytes, which
        :func:`open_hdulist` reports).
    """
    program = _gzip_program()
    if program is None:
        fh.seek(0)
        return decompress(fh.read())
    os.lseek(fh.fileno(), 0, os.SEEK_SET)  # gzip reads the descriptor itself, past any buffering here
    memory = os.memfd_create("calspot-fits")
    try:
        done = subprocess.run([program, "-dc"], stdin=fh, stdout=memory, stderr=subprocess.PIPE, check=False)
        if done.returncode == 1:  # 2 is a warning (e.g. trailing garbage); 1 an error
            message = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["gzip failed"]
            raise ValueError(f"corrupt compressed stream: {message[0].removeprefix('gzip: stdin: ')}")
        size = os.fstat(memory).st_size
        return mmap.mmap(memory, size, prot=mmap.PROT_READ) if size else b""
    finally:
        os.close(memory)


def open_hdulist(data: bytes | mmap.mmap) -> fits.HDUList:
    """Open decompressed FITS bytes, checking that every HDU is complete.

    Raises
    ------
    ValueError
        Not FITS, or truncated/corrupt (with a message for the report).
    """
    if not len(data):
        raise ValueError("empty file")
    if data[:9] != b"SIMPLE  =":
        raise ValueError("not a FITS file (no SIMPLE card at the start)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            hdul = fits.open(data if isinstance(data, mmap.mmap) else io.BytesIO(data), lazy_load_hdus=False, memmap=False)
        except Exception as exc:  # astropy raises many kinds on corrupt files
            raise ValueError(f"corrupt FITS structure: {exc}") from exc
    for warning in caught:
        text = str(warning.message)
        if "truncated" in text or "Error validating header" in text or "END card" in text:
            hdul.close()
            raise ValueError(f"truncated or corrupt after HDU {len(hdul) - 1}: {text.splitlines()[0].strip()}")
    for warning in caught:  # the rest (cards astropy repairs) for the caller to report
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    for index in range(len(hdul)):
        info = hdul.fileinfo(index)
        expected = info["datLoc"] + info["datSpan"]
        if expected > len(data):
            hdul.close()
            raise ValueError(f"truncated: HDU {index} needs {expected} bytes, the file has {len(data)}")
    return hdul


def parse_observation_time(header: fits.Header) -> datetime | None:
    """Observation start in UT from DATE-OBS (with TIME-OBS/UT if DATE-OBS is a date), or MJD-OBS.

    ERFA's warnings about dates far from today ("dubious year") are not printed: such a
    date is judged by :func:`date_problem` and said once, in the report.
    """
    from astropy.time import Time  # with astropy.units, a quarter of a second of imports
    from erfa import ErfaWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ErfaWarning)
        return _observation_time(header, Time)


def _observation_time(header: fits.Header, Time) -> datetime | None:
    for key in DATE_KEYWORDS:
        text = str(header.get(key, "") or "").strip()
        if not text:
            continue
        if "T" not in text and len(text) <= 10:
            clock = next((str(header[k]).strip() for k in TIME_KEYWORDS if header.get(k)), "")
            text = f"{text}T{clock}" if clock else text
        try:
            return Time(text.replace(" ", "T"), scale="utc").to_datetime()
        except (ValueError, TypeError):
            legacy = _legacy_date(text)
            if legacy is not None:
                return legacy
    for key in ("MJD-OBS", "MJD_OBS"):
        value = header.get(key)
        if isinstance(value, (int, float)) and value > 0:
            return Time(float(value), format="mjd", scale="utc").to_datetime()
    jd = header.get("JD")
    if isinstance(jd, (int, float)) and jd > 2_400_000:
        return Time(float(jd), format="jd", scale="utc").to_datetime()
    return None


def date_problem(moment: datetime | None, now: datetime | None = None) -> str | None:
    """What is wrong with an observation date, if anything: missing, or later than now.

    A frame cannot have been taken tomorrow; such a date (a clock or a header writer
    gone wrong, a year 2999) would file the frame under a night that never was, so its
    night is taken from the batch instead, as for a missing date.
    """
    if moment is None:
        return "no observation date (DATE-OBS missing or unreadable): night taken from the batch"
    now = now or datetime.now(UTC).replace(tzinfo=None)
    if moment > now + FUTURE_TOLERANCE:
        return f"observation date {moment.isoformat(timespec='seconds')} lies in the future: night taken from the batch"
    return None


def _legacy_date(text: str) -> datetime | None:
    """The pre-2000 FITS date form DD/MM/YY."""
    try:
        return datetime.strptime(text[:8], "%d/%m/%y")
    except ValueError:
        return None


def night_of(moment: datetime, offset_hours: float = 12.0) -> date:
    """The night an observation belongs to: the calendar date of UT minus the offset."""
    return (moment - timedelta(hours=offset_hours)).date()


_TIMESTAMP_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2}):(\d{2})")
_DATE_FOLDER = re.compile(r"^(\d{4}-\d{2}-\d{2})$")


def night_from_path(path: str | Path, offset_hours: float = 12.0) -> date | None:
    """The night a path names, for files whose header has no usable date.

    An archive file name with the observation time (``UVES.2025-01-06T10:11:12.000.fits.Z``)
    gives that time's night; otherwise the nearest folder named like a night
    (``.../2025-01-05/...``) gives its date.
    """
    path = Path(path)
    stamp = _TIMESTAMP_IN_NAME.search(path.name)
    if stamp:
        try:
            moment = datetime.fromisoformat(f"{stamp.group(1)}T{stamp.group(2)}:{stamp.group(3)}:{stamp.group(4)}")
            return night_of(moment, offset_hours)
        except ValueError:
            pass
    for folder in path.parents:
        match = _DATE_FOLDER.match(folder.name)
        if match:
            try:
                return date.fromisoformat(match.group(1))
            except ValueError:
                continue
    return None


def merged_header(primary: fits.Header, extension: fits.Header) -> fits.Header:
    """The extension's header on top of the primary's (ESO puts most keywords in the primary)."""
    if extension is primary:
        return primary
    merged = primary.copy(strip=True)
    merged.extend((c for c in extension.cards if c.keyword not in ("", "COMMENT", "HISTORY")), update=True)
    # extend() strips the structural cards; the image's size is part of what it is (its mode).
    for key in ("NAXIS1", "NAXIS2"):
        if key in extension:
            merged[key] = extension[key]
    return merged


def image_shape(header: fits.Header) -> tuple[int, int] | None:
    """``(rows, columns)`` of an image HDU's header, or None when it is not a 2-D image.

    Axes beyond the second of length 1 (a "cube" of one plane, as some cameras write
    their frames) do not make a 2-D image anything else.
    """
    naxis = header.get("NAXIS", 0)
    if not isinstance(naxis, int) or naxis < 2 or any(header.get(f"NAXIS{i}") != 1 for i in range(3, naxis + 1)):
        return None
    rows, columns = header.get("NAXIS2", 0), header.get("NAXIS1", 0)
    return (rows, columns) if isinstance(rows, int) and isinstance(columns, int) and rows > 0 and columns > 0 else None


def iter_image_hdus(hdul: fits.HDUList) -> Iterator[tuple[int, fits.hdu.base.ExtensionHDU]]:
    """The HDUs that hold a 2-D image, with their extension numbers."""
    for index, hdu in enumerate(hdul):
        if isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)) and image_shape(hdu.header):
            yield index, hdu


def logical_extension(index: int, hdu: fits.hdu.base.ExtensionHDU) -> int:
    """The extension an image had before tile compression.

    fpack moves a primary image into extension 1 behind an empty primary HDU (its
    header keeps ``SIMPLE = T``): a UVES blue frame stays ``ext0`` whether it comes
    as ``.fits.Z`` or ``.fits.fz``, so that both meet the same history.
    """
    if index == 1 and isinstance(hdu, fits.CompImageHDU) and hdu.header.get("SIMPLE") is True:
        return 0
    return index


def _describe_non_images(hdul: fits.HDUList) -> str:
    parts = []
    for index, hdu in enumerate(hdul):
        naxis = hdu.header.get("NAXIS", 0)
        shape = "x".join(str(hdu.header.get(f"NAXIS{i}", 0)) for i in range(naxis, 0, -1))
        if isinstance(hdu, (fits.BinTableHDU, fits.TableHDU)) and not isinstance(hdu, fits.CompImageHDU):
            parts.append(f"ext {index} is a table")
        elif naxis == 0:
            parts.append(f"ext {index} has no data")
        else:
            parts.append(f"ext {index} is a {naxis}-D array ({shape})")
    return "no 2-D image: " + "; ".join(parts)


def read_fits(
    path: str | Path, rule_sets: Iterable[RuleSet], night_offset_hours: float = 12.0, *, content_hash: str | None = None
) -> FitsReading:
    """Read a raw file: every 2-D image with its identity, night and pixels.

    Parameters
    ----------
    path
        The file (plain, ``.gz``, ``.Z``, ``.bz2`` or tile-compressed).
    rule_sets
        Header rules from :func:`core.rules.load_rules`.
    night_offset_hours
        Hours subtracted from the UT observation time to name the night.
    content_hash
        The file's content hash when the caller computed it already; it is then not
        computed again, and a ``.Z`` file is not even read into this process.

    Returns
    -------
    FitsReading
        With ``error`` set (and no images) when the file as a whole cannot be used:
        unreadable, not FITS, truncated or corrupt, or without any 2-D image.
        Problems of single images (no date, non-finite pixels) are in their
        ``problems``.
    """
    path = Path(path)
    if path.is_symlink() and not path.exists():
        return FitsReading(path, "", 0, error=f"broken symbolic link: it points to {os.readlink(path)}, which does not exist")
    try:
        with path.open("rb") as fh:
            whole = fh.read() if content_hash is None else None
            reading = FitsReading(
                path, content_hash or hash_bytes(whole), len(whole) if whole is not None else os.fstat(fh.fileno()).st_size
            )
            try:
                data = _decompressed(fh, whole)
            except ValueError as exc:
                reading.error = str(exc)
                return reading
    except OSError as exc:
        return FitsReading(path, "", 0, error=f"cannot read file: {exc.strerror or exc}")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", fits.verify.VerifyWarning)
            _read_images(reading, data, tuple(rule_sets), night_offset_hours)
    finally:
        if isinstance(data, mmap.mmap):
            _release(data)
    repairs = header_repairs(caught)
    if repairs:
        log.warning("%s: header not FITS standard, read anyway: %s", path.name, "; ".join(repairs))
    return reading


def _release(data: mmap.mmap | fits.HDUList) -> None:
    """Free the decompressed pages (or the HDU list read from them) now, or, where a view of them is still held, once it is collected.

    astropy's objects can keep a view of the pages in a reference cycle that the garbage
    collector has not freed yet (seen in a Dask worker): closing then raises
    ``BufferError``, which must not make a file that was read unreadable.
    """
    try:
        data.close()
    except BufferError:
        gc.collect()
        with contextlib.suppress(BufferError):
            data.close()


def header_repairs(caught: Iterable[warnings.WarningMessage]) -> list[str]:
    """What astropy repaired in a header, each once, from the warnings it gave while reading.

    astropy says each repair twice (a warning and a log line) and adds boilerplate
    ("Verification reported errors", "uses zero-based indexing"); the report wants one
    line per file.
    """
    repairs: dict[str, None] = {}
    for warning in caught:
        if not issubclass(warning.category, fits.verify.VerifyWarning):
            continue
        for line in str(warning.message).splitlines():
            text = line.strip()
            if text and not text.startswith(("Verification reported errors", "Note: astropy.io.fits uses zero-based")):
                repairs.setdefault(text.split("  Fixed")[0].strip().rstrip("."), None)
    return list(repairs)


def _decompressed(fh: BinaryIO, whole: bytes | None) -> bytes | mmap.mmap:
    """The FITS bytes of an open raw file (``whole``: its content, when already read)."""
    head = whole[:3] if whole is not None else fh.read(3)
    if head[:2] == LZW_MAGIC:
        return decompress_lzw_file(fh)
    if whole is None:
        fh.seek(0)
        whole = fh.read()
    return decompress(whole)


def _read_images(reading: FitsReading, data: bytes | mmap.mmap, rule_sets: tuple[RuleSet, ...], night_offset_hours: float) -> None:
    """Fill ``reading`` with the images of decompressed FITS bytes, or set its error."""
    try:
        hdul = open_hdulist(data)
    except ValueError as exc:
        reading.error = str(exc)
        return
    try:
        primary = hdul[0].header
        for index, hdu in iter_image_hdus(hdul):
            try:
                pixels = image_pixels(hdu, data, hdul.fileinfo(index)["datLoc"])
                reading.images.append(_read_image(reading.path, index, hdu, pixels, primary, rule_sets, night_offset_hours))
            except Exception as exc:  # a corrupt data section must not stop the batch
                reading.error = f"corrupt data in ext {index}: {exc}"
                reading.images.clear()
                return
        if not reading.images:
            reading.error = _describe_non_images(hdul)
    finally:
        _release(hdul)  # astropy closes the pages it was given


def image_pixels(hdu: fits.hdu.base.ExtensionHDU, data: bytes | mmap.mmap, offset: int) -> np.ndarray:
    """The pixels of an image HDU in native byte order, scaled as astropy scales them.

    Unscaled integers and floats, and 16-bit integers with ``BZERO = 32768`` (unsigned
    pixels, as most CCD controllers write them), are converted straight from the bytes
    at ``offset``, in one pass; anything else (``BLANK``, ``BSCALE``, other zero
    points, tile compression) is left to astropy.
    """
    header = hdu.header
    stored = BITPIX_TYPES.get(header.get("BITPIX"))
    zero = header.get("BZERO", 0)
    plain = zero == 0 or (zero == 32768 and stored == ">i2")
    shape = image_shape(header)
    if shape is None:
        raise ValueError(f"not a 2-D image (NAXIS = {header.get('NAXIS')})")
    if isinstance(hdu, fits.CompImageHDU) or stored is None or "BLANK" in header or header.get("BSCALE", 1) != 1 or not plain:
        return np.asarray(hdu.data).reshape(shape)
    values = np.frombuffer(data, stored, shape[0] * shape[1], offset).reshape(shape)
    if zero:
        return np.bitwise_xor(values.view(">u2"), np.uint16(0x8000), dtype=np.uint16)
    return values.astype(values.dtype.newbyteorder("="))


def _read_image(
    path: Path,
    index: int,
    hdu: fits.hdu.base.ExtensionHDU,
    pixels: np.ndarray,
    primary: fits.Header,
    rule_sets: tuple[RuleSet, ...],
    night_offset_hours: float,
) -> RawImage:
    header = merged_header(primary, hdu.header)
    identity = identify(header, logical_extension(index, hdu), rule_sets, filename=path.name)
    moment = parse_observation_time(header)
    problems = []
    wrong_date = date_problem(moment)
    if wrong_date:
        problems.append(wrong_date)
    if identity.instrument == "UNKNOWN":
        problems.append("unknown instrument: no header rule names it (INSTRUME missing)")
    # A frame the rules name but kept apart (a test exposure, an acquisition) is no problem.
    if identity.category == "unknown" and identity.label == "UNKNOWN":
        problems.append("unknown image type: no header rule recognises it")
    exptime = header.get("EXPTIME", header.get("EXPOSURE"))
    return RawImage(
        ext=index,
        extname=str(hdu.name or ""),
        shape=(int(pixels.shape[0]), int(pixels.shape[1])),
        header=header,
        identity=identity,
        night=night_of(moment, night_offset_hours) if moment and not wrong_date else None,
        date_obs=moment,
        exptime=float(exptime) if isinstance(exptime, (int, float)) else None,
        pixels=pixels,
        problems=problems,
    )
