"""The fast paths of ingestion give what the plain ones give (speed itself is measured in bench/)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import ncompress
import numpy as np
import pytest
from astropy.io import fits

from core.fitsio import HashCache, decompress_lzw_file, hash_bytes, image_pixels, open_hdulist, read_fits
from core.pipeline import HASH_CACHE_FILE, ingest
from core.preprocess import block_reduce, hot_pixel_cap
from core.rules import load_rules
from core.store import Store
from tests.pipeline_fixtures import make_settings

ROOT = Path(__file__).resolve().parent.parent


def fits_bytes(data: np.ndarray, **cards) -> bytes:
    hdu = fits.PrimaryHDU(data)
    for key, value in cards.items():
        hdu.header[key] = value
    buffer = io.BytesIO()
    hdu.writeto(buffer)
    return buffer.getvalue()


def test_hash_cache_reads_unchanged_files_once_and_changed_files_again(tmp_path):
    frame = tmp_path / "frame.fits"
    frame.write_bytes(b"first")
    before = frame.stat()
    cache = HashCache(tmp_path / "home" / "hashes.sqlite")
    assert cache.hashes([frame]) == {frame: hash_bytes(b"first")}
    frame.write_bytes(b"FIRST")  # same inode and size; with the old time, only a read would tell
    os.utime(frame, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert HashCache(cache.path).hashes([frame]) == {frame: hash_bytes(b"first")}
    frame.write_bytes(b"second, longer")
    assert cache.hashes([frame, tmp_path / "gone.fits"]) == {frame: hash_bytes(b"second, longer"), tmp_path / "gone.fits": ""}


def test_files_hashed_by_several_threads_get_their_own_hashes(tmp_path):
    frames = [tmp_path / f"frame{i}.fits" for i in range(7)]
    for i, frame in enumerate(frames):
        frame.write_bytes(bytes([i]) * (1000 + 70_000 * i))
    gone = tmp_path / "gone.fits"
    found = HashCache(tmp_path / "hashes.sqlite").hashes([*frames, gone], threads=3)
    assert found == {**{f: hash_bytes(f.read_bytes()) for f in frames}, gone: ""}
    assert HashCache(tmp_path / "hashes.sqlite").hashes(frames) == {f: found[f] for f in frames}


def test_hash_cache_that_cannot_be_written_still_hashes(tmp_path):
    frame = tmp_path / "frame.fits"
    frame.write_bytes(b"pixels")
    blocked = tmp_path / "file_not_folder"
    blocked.write_text("")
    assert HashCache(blocked / "hashes.sqlite").hashes([frame]) == {frame: hash_bytes(b"pixels")}


def test_unix_compress_is_decoded_like_ncompress(tmp_path):
    raw = fits_bytes(np.arange(5000, dtype=np.int32).reshape(50, 100))
    path = tmp_path / "frame.fits.Z"
    path.write_bytes(ncompress.compress(raw))
    with path.open("rb") as fh:
        fh.read(3)  # a buffered read must not shift what the decoder sees
        assert bytes(decompress_lzw_file(fh)) == raw
    path.write_bytes(b"\x1f\x9d\x90" + bytes(range(256)) * 4)
    with path.open("rb") as fh, pytest.raises(ValueError, match="corrupt compressed"):
        decompress_lzw_file(fh)


@pytest.mark.parametrize(
    ("dtype", "cards"),
    [
        (np.uint16, {}),
        (np.int16, {}),
        (np.int32, {}),
        (np.uint8, {}),
        (np.float32, {}),
        (np.float64, {}),
        (np.int16, {"BSCALE": 2.0}),
        (np.int16, {"BZERO": 100}),
    ],
)
def test_pixels_are_scaled_as_astropy_scales_them(dtype, cards):
    values = np.random.default_rng(1).integers(0, 200, (20, 30)).astype(dtype)
    data = fits_bytes(values, **cards)
    with open_hdulist(data) as hdul:
        ours = image_pixels(hdul[0], data, hdul.fileinfo(0)["datLoc"])
        theirs = np.asarray(hdul[0].data)
    assert ours.dtype.newbyteorder("=") == theirs.dtype.newbyteorder("=")
    np.testing.assert_array_equal(ours, theirs)


def test_a_known_hash_is_not_computed_again(tmp_path):
    path = tmp_path / "frame.fits.Z"
    path.write_bytes(ncompress.compress(fits_bytes(np.ones((8, 8), np.uint16))))
    reading = read_fits(path, load_rules(()), content_hash="given")
    assert reading.content_hash == "given" and reading.error is None and reading.size == path.stat().st_size


def test_hot_pixel_cap_is_numpys_quantile_of_every_fourth_row():
    pixels = np.random.default_rng(2).integers(0, 65535, (400, 300)).astype(np.uint16)
    expected = np.float32(np.quantile(pixels[::4].astype(np.float32), 0.9999))
    assert hot_pixel_cap(pixels) == pytest.approx(float(expected), rel=1e-6)
    assert hot_pixel_cap(pixels.astype(np.float32)) == pytest.approx(float(expected), rel=1e-6)


@pytest.mark.parametrize("dtype", [np.uint16, np.int32, np.float32])
def test_block_reduce_is_the_mean_of_capped_blocks(dtype):
    pixels = np.random.default_rng(3).integers(0, 60000, (203, 111)).astype(dtype)
    cap = 50000.5
    fy, fx = 203 // 20, 111 // 20
    ny, nx = 203 // fy * fy, 111 // fx * fx
    expected = np.minimum(pixels[:ny, :nx].astype(np.float64), cap).reshape(ny // fy, fy, nx // fx, fx).mean(axis=(1, 3))
    np.testing.assert_allclose(block_reduce(pixels, (20, 20), cap=cap), expected, rtol=1e-6)


def test_reingest_of_known_files_loads_neither_the_network_nor_the_quality_code(simulated_nights, tmp_path, embedder):
    night = sorted(p for p in simulated_nights.iterdir() if p.is_dir())[0]
    settings = make_settings(tmp_path / "home", workers=1)
    ingest([night], settings, store=Store.open(settings), embedder=embedder)
    assert (settings.home / HASH_CACHE_FILE).is_file()
    script = (
        "import sys; from core.pipeline import ingest; from tests.pipeline_fixtures import make_settings; "
        f"result = ingest([{str(night)!r}], make_settings({str(settings.home)!r})); "
        "heavy = [m for m in ('tensorflow', 'scipy', 'sklearn', 'core.describe') if m in sys.modules]; "
        "print(result.files_new, result.files_known, heavy)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    files = len(list(night.iterdir()))
    assert done.stdout.split() == ["0", str(files), "[]"]
