"""Reading raw files: compression, extensions, header rules, nights, broken input."""

from __future__ import annotations

import bz2
import gzip
import mmap
import warnings
from datetime import date
from pathlib import Path

import ncompress
import numpy as np
import pytest
from astropy.io import fits

from core import fitsio
from core.fitsio import decompress, find_fits, night_from_path, parse_observation_time, read_fits
from core.rules import load_rules
from tests.broken_files import fits_bytes, good_bias, write_broken_corpus, write_good_files

REAL = Path(__file__).resolve().parent / "data" / "real"
KAST = REAL / "shane_kast_blue"
MSU = REAL / "msumastro"
RULES = load_rules()


def kast(number: int) -> Path:
    return KAST / f"b{number}.fits.gz"


@pytest.fixture(scope="module")
def kast_readings():
    return {n: read_fits(kast(n), RULES) for n in (1, 2, 3, 14, 23, 24)}


def test_kast_biases_are_biases_although_obstype_says_dark(kast_readings):
    for n in (14, 23):
        image = kast_readings[n].images[0]
        assert image.header["OBSTYPE"] == "DARK"
        assert image.identity.category == "bias"
        assert image.identity.image_type == "KAST_BLUE_BIAS_ext0"


def test_kast_flats_arcs_and_science_are_typed_from_the_object_name(kast_readings):
    assert kast_readings[1].images[0].identity.image_type == "KAST_BLUE_ARC_ext0"
    assert kast_readings[3].images[0].identity.image_type == "KAST_BLUE_FLAT_ext0"
    assert kast_readings[24].images[0].identity.category == "science"


def test_exposure_time_does_not_split_the_flats_into_modes(kast_readings):
    # b2 is a 30 s flat among 15 s flats: it must be compared with them, not put apart.
    assert kast_readings[2].images[0].identity.mode == kast_readings[3].images[0].identity.mode
    assert "grism=600/4310" in kast_readings[3].images[0].identity.mode


def test_kast_night_is_ut_minus_twelve_hours(kast_readings):
    image = kast_readings[14].images[0]
    assert image.date_obs.isoformat().startswith("2015-05-20T03:42")
    assert image.night == date(2015, 5, 19)
    assert image.shape == (350, 2112) and image.pixels.dtype == np.uint16


def test_small_camera_frames_are_typed_by_imagetyp_or_file_name():
    bias = read_fits(MSU / "biastest1.fit", RULES).images[0]
    assert bias.identity.image_type == "APOGEE_ALTA_BIAS_ext0"
    flat = read_fits(MSU / "aspen_trimmed.fit", RULES).images[0]
    assert flat.identity.category == "flat"
    arc = read_fits(MSU / "neon-on-dome-10-sec-high-res-though-scope.fit", RULES).images[0]
    assert arc.identity.category == "arc" and arc.identity.category_source == "_FILENAME"


def uves_red_file() -> list:
    primary = fits.PrimaryHDU()
    primary.header["INSTRUME"] = "UVES"
    primary.header["DATE-OBS"] = "2025-01-02T10:15:00.000"
    primary.header["HIERARCH ESO DPR TYPE"] = "LAMP,FLAT"
    primary.header["HIERARCH ESO DPR CATG"] = "CALIB"
    primary.header["HIERARCH ESO INS PATH"] = "RED"
    primary.header["HIERARCH ESO INS GRAT2 WLEN"] = 580.0
    primary.header["HIERARCH ESO DET WIN1 BINX"] = 1
    primary.header["HIERARCH ESO DET WIN1 BINY"] = 1
    return [primary, fits.ImageHDU(good_bias(1), name="REDL"), fits.ImageHDU(good_bias(2), name="REDU")]


def test_uves_red_has_two_images_typed_with_their_extension(tmp_path):
    path = tmp_path / "UVES.2025-01-02T10:15:00.000.fits"
    path.write_bytes(fits_bytes(uves_red_file()))
    reading = read_fits(path, RULES)
    assert reading.error is None
    assert [i.identity.image_type for i in reading.images] == ["UVES_RED_FLAT_ext1", "UVES_RED_FLAT_ext2"]
    assert reading.images[0].identity.mode == "wlen=580 binx=1 biny=1"
    assert reading.images[0].night == date(2025, 1, 1)


@pytest.mark.parametrize(
    ("suffix", "pack"),
    [(".fits", lambda b: b), (".fits.gz", gzip.compress), (".fits.Z", ncompress.compress), (".fits.bz2", bz2.compress)],
)
def test_every_compression_gives_the_same_pixels(tmp_path, suffix, pack):
    path = tmp_path / f"frame{suffix}"
    path.write_bytes(pack(fits_bytes(uves_red_file())))
    reading = read_fits(path, RULES)
    assert reading.error is None
    np.testing.assert_array_equal(reading.images[1].pixels, good_bias(2))


def test_a_z_file_is_read_although_a_view_of_its_pages_is_still_held(tmp_path, monkeypatch):
    """astropy may keep a view of the decompressed pages in a cycle not yet collected (seen in Dask workers)."""
    held = []
    original = fitsio.image_pixels

    def holding(hdu, data, offset):
        held.append(memoryview(data))
        return original(hdu, data, offset)

    monkeypatch.setattr(fitsio, "image_pixels", holding)
    path = tmp_path / "frame.fits.Z"
    path.write_bytes(ncompress.compress(fits_bytes(uves_red_file())))
    reading = read_fits(path, RULES)
    assert isinstance(held[0].obj, mmap.mmap) and not held[0].obj.closed
    assert reading.error is None
    np.testing.assert_array_equal(reading.images[1].pixels, good_bias(2))
    held.clear()


def test_tile_compressed_fz_is_read(tmp_path):
    hdus = uves_red_file()
    fits.HDUList([hdus[0], fits.CompImageHDU(good_bias(1))]).writeto(tmp_path / "frame.fits.fz")
    reading = read_fits(tmp_path / "frame.fits.fz", RULES)
    assert reading.error is None and reading.images[0].identity.category == "flat"
    np.testing.assert_array_equal(reading.images[0].pixels, good_bias(1))


def test_a_primary_image_packed_by_fpack_keeps_the_type_of_ext0(tmp_path):
    """fpack puts a primary image into ext 1: the image type must still meet the .fits.Z history."""
    primary = fits.PrimaryHDU(good_bias(1))
    primary.header.update(INSTRUME="UVES", **{"DATE-OBS": "2025-01-02T10:15:00.000"})
    primary.header.update({"HIERARCH ESO DPR TYPE": "BIAS", "HIERARCH ESO INS PATH": "BLUE"})
    plain, packed = tmp_path / "blue.fits", tmp_path / "blue.fits.fz"
    plain.write_bytes(fits_bytes([primary]))
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(primary.data, primary.header)]).writeto(packed)
    expected = read_fits(plain, RULES).images[0]
    image = read_fits(packed, RULES).images[0]
    assert expected.identity.image_type == image.identity.image_type == "UVES_BLUE_BIAS_ext0"
    assert image.ext == 1  # where the pixels are, for anyone opening the file


def test_a_cube_of_one_plane_is_a_2d_image(tmp_path):
    path = tmp_path / "camera.fits"
    path.write_bytes(fits_bytes([fits.PrimaryHDU(good_bias(3)[None], header=uves_red_file()[0].header)]))
    reading = read_fits(path, RULES)
    assert reading.error is None
    np.testing.assert_array_equal(reading.images[0].pixels, good_bias(3))


def test_compression_is_recognised_by_content_not_name():
    raw = fits_bytes(uves_red_file())
    assert decompress(ncompress.compress(raw)) == raw
    assert decompress(gzip.compress(raw)) == raw
    assert decompress(raw) == raw


def test_find_fits_walks_folders_and_keeps_explicit_files(tmp_path):
    write_good_files(tmp_path / "night" / "sub", 2)
    (tmp_path / "night" / "notes.txt").write_text("not a frame")
    odd = tmp_path / "named_oddly.dat"
    odd.write_bytes(b"x")
    files, missing = find_fits([tmp_path / "night", odd, tmp_path / "nope"])
    assert [f.name for f in files] == ["named_oddly.dat", "bias_00.fits", "bias_01.fits"]
    assert missing == [tmp_path / "nope"]


def test_every_broken_file_is_reported_with_a_reason(tmp_path):
    corpus = write_broken_corpus(tmp_path)
    for name, expected in corpus.items():
        reading = read_fits(tmp_path / name, RULES)
        if expected.unreadable:
            assert reading.error is not None and not reading.images, name
            assert expected.words.lower() in reading.error.lower(), (name, reading.error)
        else:
            assert reading.error is None, (name, reading.error)


def test_missing_date_and_unknown_instrument_are_image_problems(tmp_path):
    corpus = write_broken_corpus(tmp_path)
    undated = read_fits(tmp_path / "no_date.fits", RULES).images[0]
    assert undated.night is None and any("DATE-OBS" in p for p in undated.problems)
    stranger = read_fits(tmp_path / "unknown_instrument.fits", RULES).images[0]
    assert stranger.identity.instrument == "UNKNOWN"
    assert any("unknown instrument" in p for p in stranger.problems)
    assert corpus["unknown_instrument.fits"].words == "unknown instrument"


def test_a_date_in_the_future_is_a_problem_and_names_no_night(tmp_path, capfd):
    write_broken_corpus(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # ERFA's "dubious year" warnings must not reach the user
        image = read_fits(tmp_path / "future_date.fits", RULES).images[0]
    assert image.night is None and image.date_obs.year == 2999
    assert image.problems == ["observation date 2999-01-01T00:00:00 lies in the future: night taken from the batch"]
    assert "dubious" not in capfd.readouterr().err


def test_a_dangling_link_is_found_and_reported(tmp_path):
    write_broken_corpus(tmp_path)
    files, missing = find_fits([tmp_path, tmp_path / "dangling_link.fits"])
    assert tmp_path / "dangling_link.fits" in files and not missing
    reading = read_fits(tmp_path / "dangling_link.fits", RULES)
    assert reading.error == f"broken symbolic link: it points to {tmp_path / 'moved_away.fits'}, which does not exist"


def test_cards_astropy_repairs_are_logged_once_per_file_in_one_line(tmp_path, caplog, capfd):
    header = fits.Header({"INSTRUME": "TESTCAM", "IMAGETYP": "BIAS", "DATE-OBS": "2024-03-02T08:00:00", "EXPTIME": 0.0, "FOCUS": 1.0})
    raw = bytearray(fits_bytes([fits.PrimaryHDU(good_bias(), header=header)]))
    for keyword, card in ((b"EXPTIME ", b"exptime = 0.0 / a lower-case keyword"), (b"FOCUS   ", b"FOCUS   = 12.3.4 / not a number")):
        at = raw.find(keyword)
        raw[at : at + 80] = card.ljust(80)
    (tmp_path / "odd.fits").write_bytes(bytes(raw))
    with caplog.at_level("WARNING", logger="core.fitsio"):
        reading = read_fits(tmp_path / "odd.fits", RULES)
    assert reading.error is None and reading.images[0].identity.category == "bias"
    lines = [r.getMessage() for r in caplog.records if r.name == "core.fitsio"]
    assert len(lines) == 1 and lines[0].startswith("odd.fits: header not FITS standard, read anyway: ")
    assert "'FOCUS'" in lines[0] and "'exptime'" in lines[0] and "zero-based" not in lines[0]
    assert "VerifyWarning" not in capfd.readouterr().err


def test_observation_time_falls_back_to_mjd_and_split_date_time():
    header = fits.Header({"MJD-OBS": 60000.5})
    assert parse_observation_time(header).isoformat().startswith("2023-02-25T12:00")
    header = fits.Header({"DATE-OBS": "2012-02-06", "TIME-OBS": "11:45:25"})
    assert parse_observation_time(header).isoformat() == "2012-02-06T11:45:25"


def test_night_from_path_reads_archive_names_and_night_folders():
    assert night_from_path("/a/UVES.2025-01-06T10:11:12.000.fits.Z") == date(2025, 1, 5)
    assert night_from_path("/data/2025-01-05/broken.fits") == date(2025, 1, 5)
    assert night_from_path("/data/broken.fits") is None
