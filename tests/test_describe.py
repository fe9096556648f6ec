"""Describing a file: store rows and network inputs, and no crash on an image that cannot be measured."""

from __future__ import annotations

import numpy as np
from astropy.io import fits

from core import describe
from core.config import load_settings
from tests.broken_files import fits_bytes, good_bias, write_good_files


def test_every_image_gets_quality_numbers_a_thumbnail_a_preview_and_a_network_input(tmp_path):
    path = write_good_files(tmp_path / "night", 1)[0]
    described = describe.describe_file(path, load_settings(tmp_path / "home", input_size=64))
    image = described.record.images[0]
    assert described.record.error is None and image.night == "2024-03-01"
    assert image.metrics["level"] > 250 and image.thumbnail.startswith(b"\x89PNG")
    assert image.preview.shape == (128, 128)
    assert described.inputs[0].shape == (64, 64, 3) and 0 <= described.inputs[0].min() <= described.inputs[0].max() <= 255


def test_an_image_that_cannot_be_measured_is_reported_not_raised(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise FloatingPointError("overflow in a corner case")

    monkeypatch.setattr(describe.qc, "measure_quality", broken)
    path = tmp_path / "odd.fits"
    header = fits.Header({"INSTRUME": "CAM", "IMAGETYP": "BIAS", "DATE-OBS": "2024-03-02T08:00:00"})
    path.write_bytes(fits_bytes([fits.PrimaryHDU(good_bias(1), header=header)]))
    described = describe.describe_file(path, load_settings(tmp_path / "home", input_size=64))
    image = described.record.images[0]
    assert image.metrics is None and not described.inputs
    assert image.problems == ["could not be measured: FloatingPointError: overflow in a corner case"]
    assert np.isfinite(described.record.size)
