"""Tests of the UVES-like calibration simulator (tiny frames, fast)."""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import ncompress
import numpy as np
import pytest
from astropy.io import fits

from core.cli import main
from core.synthetic import (
    DEFECT_FAMILIES,
    TRUTH_COLUMNS,
    defects_for,
    simulate_frame,
    simulate_nights,
)

SCALE = 0.05
OUT = "HIERARCH ESO DET OUT{}"


def read_truth(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames or ()) == TRUTH_COLUMNS
        return list(reader)


def illuminated(hdu: fits.ImageHDU | fits.PrimaryHDU) -> np.ndarray:
    """The light-sensitive columns of a chip (both amplifiers), found from the header."""
    header, data = hdu.header, hdu.data.astype(float)
    pre, nx, over = (header[OUT.format(1) + key] for key in (" PRSCX", " NX", " OVSCX"))
    left = data[:, pre : pre + nx]
    right = data[:, pre + nx + 2 * over : pre + 2 * nx + 2 * over]
    return np.hstack([left, right])


def amp_columns(hdu: fits.ImageHDU | fits.PrimaryHDU, amp: int) -> slice:
    half = hdu.header["NAXIS1"] // 2
    return slice(0, half) if amp == 0 else slice(half, 2 * half)


def overscan(hdu: fits.ImageHDU | fits.PrimaryHDU, amp: int) -> np.ndarray:
    header = hdu.header
    pre, nx, over = (header[OUT.format(1) + key] for key in (" PRSCX", " NX", " OVSCX"))
    start = pre + nx if amp == 0 else pre + nx + over
    return hdu.data[:, start : start + over].astype(float)


def robust_std(values: np.ndarray) -> float:
    """Standard deviation of integer-valued noise, ignoring cosmic-ray hits and hot pixels."""
    centre = np.median(values)
    spread = max(1.0, 1.4826 * float(np.median(np.abs(values - centre))))
    return float(np.std(values[np.abs(values - centre) < 5 * spread]))


def best_shift(reference: np.ndarray, moved: np.ndarray) -> float:
    """The shift s (px) for which ``moved(x) ~ reference(x - s)``."""
    x = np.arange(reference.size, dtype=float)
    grid = np.arange(-8.0, 8.0001, 0.05)
    inner = slice(10, -10)
    errors = [np.sum((np.interp(x - s, x, reference) - moved)[inner] ** 2) for s in grid]
    return float(grid[int(np.argmin(errors))])


def pair(arm: str, dpr_type: str, setting: int | None, defect: str, **kwargs):
    good = simulate_frame(arm, dpr_type, setting, scale=SCALE, seed=7, **kwargs)
    bad = simulate_frame(arm, dpr_type, setting, scale=SCALE, seed=7, defect=defect, **kwargs)
    return good, bad


# ----------------------------------------------------------------------------- nights on disk


@pytest.fixture(scope="module")
def clean_nights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outdir = tmp_path_factory.mktemp("clean")
    simulate_nights(outdir, nights=2, test_nights=0, scale=SCALE, seed=3)
    return outdir


def test_nights_have_the_uves_files_and_one_truth_row_per_extension(clean_nights: Path) -> None:
    rows = read_truth(clean_nights / "truth.csv")
    files = sorted(p for p in clean_nights.rglob("UVES.*.fits"))
    assert sorted({p.parent.name for p in files}) == ["2025-01-01", "2025-01-02"]
    assert len(files) == 2 * 30  # per night and arm: 5 biases + 2 settings x (3 flats + 2 arcs)
    assert len(rows) == 2 * (15 * 1 + 15 * 2)
    assert {r["path"] for r in rows} == {p.relative_to(clean_nights).as_posix() for p in files}

    kinds = Counter((r["night"], r["arm"], r["dpr_type"], r["setting"]) for r in rows if r["ext"] in ("0", "1"))
    assert kinds[("2025-01-01", "BLUE", "BIAS", "")] == 5
    assert kinds[("2025-01-01", "BLUE", "LAMP,FLAT", "437")] == 3
    assert kinds[("2025-01-02", "RED", "LAMP,WAVE", "860")] == 2
    assert {r["defect"] for r in rows} == {""}


def test_blue_pixels_are_in_the_primary_and_red_in_two_extensions(clean_nights: Path) -> None:
    rows = read_truth(clean_nights / "truth.csv")
    for arm, exts in (("BLUE", ["0"]), ("RED", ["1", "2"])):
        path = next(r["path"] for r in rows if r["arm"] == arm and r["dpr_type"] == "LAMP,FLAT")
        assert sorted(r["ext"] for r in rows if r["path"] == path) == exts
        with fits.open(clean_nights / path) as hdul:
            primary = hdul[0].header
            assert primary["INSTRUME"] == "UVES" and primary["TELESCOP"] == "ESO-VLT-U2"
            assert primary["HIERARCH ESO DPR CATG"] == "CALIB"
            assert primary["HIERARCH ESO DPR TYPE"] == "LAMP,FLAT"
            assert primary["HIERARCH ESO DPR TECH"] == "ECHELLE"
            assert primary["HIERARCH ESO INS PATH"] == arm
            grating = "GRAT1" if arm == "BLUE" else "GRAT2"
            assert str(primary[f"HIERARCH ESO INS {grating} WLEN"]) == next(r["setting"] for r in rows if r["path"] == path)
            if arm == "BLUE":
                assert len(hdul) == 1
            else:
                # ESO's red mosaic: the upper chip (MIT-LL, ESO's CHIP1) in ext 1, the lower (EEV, CHIP2) in ext 2.
                assert len(hdul) == 3 and hdul[0].data is None
                assert [hdul[1].name, hdul[2].name] == ["REDU", "REDL"]
                assert hdul[1].header["HIERARCH ESO DET CHIP1 NAME"].startswith("MIT-LL")
                assert hdul[2].header["HIERARCH ESO DET CHIP2 NAME"].startswith("EEV")
            assert primary["HIERARCH ESO DET CHIPS"] == len(exts)
            for ext in map(int, exts):
                hdu = hdul[ext]
                assert hdu.data.dtype == np.uint16
                h = hdu.header
                assert h["HIERARCH ESO DET OUTPUTS"] == 2
                width = h[OUT.format(1) + " PRSCX"] + h[OUT.format(1) + " NX"] + h[OUT.format(1) + " OVSCX"]
                assert 2 * width == h["NAXIS1"] == hdu.data.shape[1]
                assert h[OUT.format(1) + " X"] == 1 and h[OUT.format(2) + " X"] == h["NAXIS1"]
                assert h[OUT.format(1) + " NY"] == hdu.data.shape[0]
                # Pre/overscans hold the bias level and read noise only, no light.
                light = illuminated(hdu)
                assert np.median(light) > np.median(overscan(hdu, 0)) + 100
                assert robust_std(overscan(hdu, 0)) < 6


def test_headers_say_what_eso_writes_on_biases_and_on_lamp_frames(clean_nights: Path) -> None:
    rows = read_truth(clean_nights / "truth.csv")
    seen = set()
    for row in rows:
        if row["ext"] not in ("0", "1") or (row["arm"], row["dpr_type"]) in seen:
            continue
        seen.add((row["arm"], row["dpr_type"]))
        with fits.open(clean_nights / row["path"]) as hdul:
            header = hdul[0].header
            image = hdul[int(row["ext"])].header
        assert header["HIERARCH ESO DPR CATG"] == "CALIB" and header["OBJECT"] == row["dpr_type"]
        assert header["HIERARCH ESO DET CHIPS"] == (1 if row["arm"] == "BLUE" else 2)
        assert header["HIERARCH ESO DET READ SPEED"] == "225kHz,1x1,low"
        assert header["HIERARCH ESO DET WIN1 BINX"] == header["HIERARCH ESO DET WIN1 BINY"] == 1
        grating = "GRAT1" if row["arm"] == "BLUE" else "GRAT2"
        assert header[f"HIERARCH ESO INS {grating} NAME"].startswith("CD#")
        if row["dpr_type"] == "BIAS":
            # A bias does not use the optics: ESO writes no optical path, mode or slit.
            assert header["HIERARCH ESO DPR TECH"] == "IMAGE"
            for key in ("INS PATH", "INS MODE", "INS SLIT1 NAME"):
                assert f"HIERARCH ESO {key}" not in header
        else:
            assert header["HIERARCH ESO DPR TECH"] == "ECHELLE"
            assert header["HIERARCH ESO INS PATH"] == header["HIERARCH ESO INS MODE"] == row["arm"]
            assert header["HIERARCH ESO INS SLIT1 NAME"] == "FREE"
        # What ESO's pipeline reads from the chip's HDU: pixel grid, layout and noise of the outputs.
        assert image["CTYPE1"] == image["CTYPE2"] == "PIXEL" and image["CDELT1"] == 1.0
        out = OUT.format(1)
        assert 2.0 < image[f"{out} RON"] / image[f"{out} CONAD"] < 4.0  # e- / (e-/ADU): a few ADU
        assert image[f"{out} GAIN"] == pytest.approx(1 / image[f"{out} CONAD"], rel=0.01)
    assert len(seen) == 6


def test_unsigned_pixels_are_written_with_floating_point_scaling(tmp_path: Path) -> None:
    """ESO's pipeline refuses an integer BSCALE: the cards must read 1.0 and 32768.0."""
    frame = simulate_frame("RED", "BIAS", scale=SCALE)
    data = frame.to_bytes()
    scaling = (b"BSCALE", b"BZERO ")
    cards = [data[i : i + 80].decode("ascii") for i in range(0, len(data), 80) if data[i : i + 6] in scaling]
    assert sorted(card[10:30].strip() for card in cards) == ["1.0", "1.0", "32768.0", "32768.0"]
    with fits.open(io.BytesIO(data)) as hdul:
        for ext in (1, 2):
            assert hdul[ext].data.dtype == np.uint16
            assert np.array_equal(hdul[ext].data, frame.hdul[ext].data)


def test_each_file_belongs_to_its_folder_night_by_the_12_hour_rule(clean_nights: Path) -> None:
    stamps = []
    for path in clean_nights.rglob("UVES.*.fits"):
        date_obs = datetime.fromisoformat(fits.getval(path, "DATE-OBS"))
        assert path.name == f"UVES.{fits.getval(path, 'DATE-OBS')}.fits"
        assert (date_obs - timedelta(hours=12)).date().isoformat() == path.parent.name
        assert 10 <= date_obs.hour < 12
        stamps.append(date_obs)
    assert len(set(stamps)) == len(stamps)


def test_compressed_files_hold_the_same_fits_bytes(tmp_path: Path) -> None:
    plain, unix, gnu = tmp_path / "plain", tmp_path / "Z", tmp_path / "gz"
    for outdir, compress in ((plain, "none"), (unix, "Z"), (gnu, "gz")):
        simulate_nights(outdir, nights=1, test_nights=0, scale=0.04, seed=1, compress=compress)
    originals = {p.name: p.read_bytes() for p in plain.rglob("*.fits")}
    z_files, gz_files = list(unix.rglob("*.fits.Z")), list(gnu.rglob("*.fits.gz"))
    assert len(z_files) == len(gz_files) == len(originals) == 30
    for path in z_files:
        data = ncompress.decompress(path.read_bytes())
        assert data == originals[path.name.removesuffix(".Z")]
        with fits.open(io.BytesIO(data)) as hdul:
            assert hdul[0].header["INSTRUME"] == "UVES"
    for path in gz_files:
        assert gzip.decompress(path.read_bytes()) == originals[path.name.removesuffix(".gz")]
    assert all(r["path"].endswith(".fits.Z") for r in read_truth(unix / "truth.csv"))


def test_history_is_clean_and_test_nights_hold_every_family(tmp_path: Path) -> None:
    simulate_nights(tmp_path, nights=3, test_nights=2, scale=0.04, seed=11, defect_rate=0.4)
    rows = read_truth(tmp_path / "truth.csv")
    history = [r for r in rows if r["night"] == "2025-01-01"]
    tests = [r for r in rows if r["night"] != "2025-01-01"]
    assert history and {r["defect"] for r in history} == {""}
    assert {r["defect"] for r in tests} - {""} == set(DEFECT_FAMILIES)
    for row in tests:
        if row["defect"]:
            assert row["dpr_type"] in {t for t in ("BIAS", "LAMP,FLAT", "LAMP,WAVE") if row["defect"] in defects_for(t)}
            assert row["detail"]
    files = {r["path"]: r["defect"] != "" for r in tests}
    assert 0.25 <= sum(files.values()) / len(files) <= 0.6


def test_only_requested_families_are_injected_and_rate_zero_injects_none(tmp_path: Path) -> None:
    simulate_nights(tmp_path / "two", nights=1, test_nights=1, scale=0.04, defects=["bias_level_jump", "lamp_off_arc"])
    defects = {r["defect"] for r in read_truth(tmp_path / "two" / "truth.csv")}
    assert defects == {"", "bias_level_jump", "lamp_off_arc"}
    simulate_nights(tmp_path / "none", nights=1, test_nights=1, scale=0.04, defect_rate=0.0)
    assert {r["defect"] for r in read_truth(tmp_path / "none" / "truth.csv")} == {""}
    with pytest.raises(ValueError, match="unknown defect"):
        simulate_nights(tmp_path / "bad", nights=1, test_nights=1, scale=0.04, defects=["gremlins"])


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    def run(name: str, seed: int) -> dict[str, bytes]:
        simulate_nights(tmp_path / name, nights=2, test_nights=1, scale=0.04, seed=seed, compress="Z")
        return {p.relative_to(tmp_path / name).as_posix(): p.read_bytes() for p in (tmp_path / name).rglob("*.*")}

    first, again, other = run("a", 5), run("b", 5), run("c", 6)
    assert first == again
    assert first.keys() != other.keys()
    assert sorted(first.values()) != sorted(other.values())


def test_rerunning_replaces_the_files_of_the_same_nights_and_keeps_other_nights(tmp_path: Path) -> None:
    simulate_nights(tmp_path, nights=1, test_nights=0, scale=0.04, seed=1)
    simulate_nights(tmp_path, nights=1, test_nights=0, scale=0.04, seed=2)
    simulate_nights(tmp_path, nights=1, test_nights=0, scale=0.04, seed=2, start="2025-01-05")
    rows = read_truth(tmp_path / "truth.csv")
    on_disk = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("UVES.*")}
    assert on_disk == {r["path"] for r in rows}
    assert {r["night"] for r in rows} == {"2025-01-01", "2025-01-05"}


def test_progress_reports_every_file(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    simulate_nights(
        tmp_path, nights=1, test_nights=0, scale=0.04, biases=1, flats=1, arcs=1, progress=lambda done, total: calls.append((done, total))
    )
    assert calls == [(i, 10) for i in range(1, 11)]


def test_intervention_moves_orders_and_lamp_and_is_not_a_defect(tmp_path: Path) -> None:
    def profile(night: int) -> np.ndarray:
        frame = simulate_frame("BLUE", "LAMP,FLAT", 390, night=night, scale=SCALE, intervention_night=5)
        light = illuminated(frame.hdul[0])
        return light[:, light.shape[1] // 2 - 1 : light.shape[1] // 2 + 1].mean(axis=1)

    before, last, after = profile(3), profile(4), profile(5)
    assert abs(best_shift(before, last)) < 0.3
    assert abs(best_shift(last, after)) >= 0.6
    assert np.percentile(after, 99) / np.percentile(last, 99) == pytest.approx(1.15, abs=0.04)

    simulate_nights(tmp_path, nights=2, test_nights=0, scale=0.04, intervention_night=1)
    rows = read_truth(tmp_path / "truth.csv")
    assert {r["detail"] for r in rows if r["night"] == "2025-01-01"} == {""}
    lamps = {r["detail"] for r in rows if r["night"] == "2025-01-02" and r["dpr_type"] != "BIAS"}
    assert lamps == {"after intervention"}
    assert {r["defect"] for r in rows} == {""}


def test_drifts_stay_small_over_sixty_nights() -> None:
    first = simulate_frame("RED", "LAMP,FLAT", 580, night=0, scale=SCALE)
    later = simulate_frame("RED", "LAMP,FLAT", 580, night=59, scale=SCALE)
    flux = [np.percentile(illuminated(f.hdul[1]), 99) for f in (first, later)]
    assert 0.9 < flux[1] / flux[0] < 1.0
    bias = [np.median(overscan(f.hdul[1], 0)) for f in (first, later)]
    assert abs(bias[1] - bias[0]) < 2


# ----------------------------------------------------------------------------- defect families


def test_bias_level_jump_moves_one_amplifier_of_one_chip() -> None:
    good, bad = pair("RED", "BIAS", None, "bias_level_jump", defect_ext=1)
    amp, delta = re.match(r"amp ([AB]) ([+-][\d.]+) ADU", bad.details[1]).groups()
    hit = "AB".index(amp)
    for a in (0, 1):
        cols = amp_columns(bad.hdul[1], a)
        shift = np.median(bad.hdul[1].data[:, cols].astype(float)) - np.median(good.hdul[1].data[:, cols].astype(float))
        assert shift == pytest.approx(float(delta) if a == hit else 0.0, abs=1.0)
    assert np.array_equal(good.hdul[2].data, bad.hdul[2].data)
    assert set(bad.details) == {1}


def test_read_noise_inflates_the_noise_of_the_named_amplifiers() -> None:
    good, bad = pair("BLUE", "BIAS", None, "read_noise")
    factors = dict(re.findall(r"amp ([AB]) RON x([\d.]+)", bad.details[0]))
    assert factors
    for amp, factor in factors.items():
        cols = amp_columns(bad.hdul[0], "AB".index(amp))
        noise = [np.diff(f.hdul[0].data[:, cols].astype(float), axis=1) for f in (good, bad)]
        ratio = robust_std(noise[1]) / robust_std(noise[0])
        assert ratio == pytest.approx(float(factor), rel=0.25)
        assert ratio > 1.3


def test_pickup_noise_adds_slanted_sinusoidal_stripes() -> None:
    good, bad = pair("BLUE", "BIAS", None, "pickup_noise")
    period, slope = map(float, re.search(r"period ([\d.]+) px, stripes slanted ([+-][\d.]+)", bad.details[0]).groups())
    diff = bad.hdul[0].data.astype(float) - good.hdul[0].data.astype(float)
    left = diff[:, amp_columns(bad.hdul[0], 0)]
    power = (np.abs(np.fft.rfft(left - left.mean(axis=1, keepdims=True), axis=1)) ** 2).mean(axis=0)
    assert abs(np.fft.rfftfreq(left.shape[1])[np.argmax(power)] - 1 / period) <= 1.5 / left.shape[1]
    # The phase of the sinusoid moves on from row to row: stripes are slanted, not vertical.
    wave = 2 * np.pi / period
    phase = np.unwrap(np.angle(left @ np.exp(-1j * wave * np.arange(left.shape[1]))))
    per_row = np.polyfit(np.arange(phase.size), phase, 1)[0]
    assert abs(slope) >= 0.5
    assert per_row == pytest.approx(wave * slope, rel=0.1)


def test_light_leak_adds_smooth_light_but_no_overscan_signal() -> None:
    good, bad = pair("BLUE", "BIAS", None, "light_leak")
    diff = illuminated(bad.hdul[0]) - illuminated(good.hdul[0])
    blocks = diff[: diff.shape[0] // 10 * 10, : diff.shape[1] // 8 * 8].reshape(diff.shape[0] // 10, 10, -1, 8)
    block_means = blocks.mean(axis=(1, 3))
    assert block_means.max() > 4
    assert block_means.max() - block_means.min() > 3  # localised, not a uniform offset
    for amp in (0, 1):
        assert np.array_equal(overscan(bad.hdul[0], amp), overscan(good.hdul[0], amp))


def test_corrupted_rows_replace_a_block_of_rows_only() -> None:
    good, bad = pair("RED", "LAMP,FLAT", 580, "corrupted_rows", defect_ext=2)
    first, last = map(int, re.match(r"rows (\d+)-(\d+)", bad.details[2]).groups())
    changed = np.any(bad.hdul[2].data != good.hdul[2].data, axis=1)
    assert np.flatnonzero(changed).tolist() == list(range(first - 1, last))
    assert np.array_equal(good.hdul[1].data, bad.hdul[1].data)


def test_wrong_type_puts_lamp_light_under_a_bias_header() -> None:
    good, bad = pair("RED", "BIAS", None, "wrong_type")
    assert bad.hdul[0].header["HIERARCH ESO DPR TYPE"] == "BIAS"
    for ext in (1, 2):
        assert np.percentile(illuminated(bad.hdul[ext]), 99.5) > np.percentile(illuminated(good.hdul[ext]), 99.5) + 300


def test_low_flux_flat_loses_most_of_the_lamp() -> None:
    good, bad = pair("BLUE", "LAMP,FLAT", 437, "low_flux_flat")
    bias = np.median(overscan(good.hdul[0], 0))
    signal = [np.percentile(illuminated(f.hdul[0]), 99) - bias for f in (good, bad)]
    assert signal[1] < 0.25 * signal[0]


def test_saturated_flat_raises_the_saturated_fraction() -> None:
    good, bad = pair("RED", "LAMP,FLAT", 860, "saturated_flat")
    for ext in (1, 2):
        assert np.mean(good.hdul[ext].data == 65535) < 0.001
        assert np.mean(bad.hdul[ext].data == 65535) > 0.03


@pytest.mark.parametrize("dpr_type", ["LAMP,FLAT", "LAMP,WAVE"])
def test_shifted_orders_move_the_cross_dispersion_profile(dpr_type: str) -> None:
    good, bad = pair("RED", dpr_type, 580, "shifted_orders")
    stated = float(re.search(r"([+-][\d.]+) px in y", bad.details[1]).group(1))
    profiles = [illuminated(f.hdul[1]).mean(axis=1) for f in (good, bad)]
    assert abs(stated) >= 0.4
    assert best_shift(*profiles) == pytest.approx(stated, abs=0.3 if dpr_type == "LAMP,FLAT" else 0.6)


def test_vignetted_flat_dims_part_of_the_chip() -> None:
    good, bad = pair("BLUE", "LAMP,FLAT", 390, "vignetted_flat")
    level = float(re.search(r"dimmed to (\d+) %", bad.details[0]).group(1)) / 100
    bias = np.median(overscan(good.hdul[0], 0))
    lit = illuminated(good.hdul[0]) - bias
    ratio = (illuminated(bad.hdul[0]) - bias)[lit > 2000] / lit[lit > 2000]
    assert 0.08 < np.mean(ratio < 0.85) < 0.5
    assert np.percentile(ratio, 1) == pytest.approx(level, abs=0.1)
    assert np.percentile(ratio, 90) > 0.95


def test_lamp_off_arc_has_no_lines() -> None:
    good, bad = pair("BLUE", "LAMP,WAVE", 390, "lamp_off_arc")
    bias = np.median(overscan(good.hdul[0], 0))
    lines = [np.sum(illuminated(f.hdul[0]) > bias + 300) for f in (good, bad)]
    assert lines[0] > 100
    assert lines[1] < 10


def test_shifted_lines_move_along_the_dispersion() -> None:
    good, bad = pair("RED", "LAMP,WAVE", 860, "shifted_lines")
    stated = float(re.search(r"([+-][\d.]+) px in x", bad.details[1]).group(1))
    spectra = [illuminated(f.hdul[1]).sum(axis=0) for f in (good, bad)]
    assert best_shift(*spectra) == pytest.approx(stated, abs=0.5)


def test_cosmic_shower_adds_many_hits_and_tracks() -> None:
    good, bad = pair("BLUE", "LAMP,FLAT", 437, "cosmic_shower")
    hits = int(re.search(r"(\d+) hits", bad.details[0]).group(1))
    jumps = np.sum(bad.hdul[0].data.astype(float) - good.hdul[0].data.astype(float) > 100)
    assert hits >= 40
    assert jumps > hits


@pytest.mark.parametrize("compress", ["none", "Z"])
def test_truncated_file_is_a_cut_copy_of_the_complete_file(compress: str) -> None:
    good, bad = pair("RED", "LAMP,WAVE", 580, "truncated_file")
    complete, cut = good.to_bytes(compress), bad.to_bytes(compress)
    assert complete.startswith(cut)
    assert len(cut) / len(complete) == pytest.approx(bad.truncate_at, abs=0.01)
    assert 0.2 <= bad.truncate_at <= 0.9
    assert set(bad.details) == {1, 2}


def test_defects_apply_only_to_their_types() -> None:
    assert "lamp_off_arc" in defects_for("LAMP,WAVE") and "lamp_off_arc" not in defects_for("BIAS")
    assert set(defects_for("BIAS")) >= {"bias_level_jump", "read_noise", "pickup_noise", "light_leak"}
    assert set().union(*(defects_for(t) for t in ("BIAS", "LAMP,FLAT", "LAMP,WAVE"))) == set(DEFECT_FAMILIES)
    with pytest.raises(ValueError, match="does not apply"):
        simulate_frame("BLUE", "BIAS", defect="saturated_flat", scale=SCALE)


# ----------------------------------------------------------------------------- subtle defects


def test_subtle_nights_hold_every_family_at_a_few_times_the_natural_scatter(tmp_path: Path) -> None:
    simulate_nights(tmp_path, nights=3, test_nights=2, scale=0.04, seed=11, defect_rate=0.4, severity="subtle")
    tests = [r for r in read_truth(tmp_path / "truth.csv") if r["defect"]]
    assert {r["defect"] for r in tests} == set(DEFECT_FAMILIES)
    for row in tests:
        detail, family = row["detail"], row["defect"]
        if family == "bias_level_jump":
            assert 0.3 <= abs(float(re.search(r"([+-][\d.]+) ADU", detail).group(1))) <= 0.6
        elif family == "low_flux_flat":
            assert 97.0 <= float(re.search(r"flux ([\d.]+) %", detail).group(1)) <= 98.5
        elif family == "lamp_off_arc":
            assert 93 <= int(re.search(r"lines at (\d+) %", detail).group(1)) <= 96
        elif family == "saturated_flat":
            assert "saturated" not in detail
        elif family == "truncated_file":
            assert 95 <= int(re.search(r"cut at (\d+) %", detail).group(1)) <= 99


def test_an_unknown_severity_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown severity 'faint'; use one of gross, subtle"):
        simulate_frame("BLUE", "BIAS", scale=SCALE, severity="faint")


def test_a_subtle_bias_jump_moves_one_amplifier_by_a_fraction_of_an_adu() -> None:
    good, bad = pair("BLUE", "BIAS", None, "bias_level_jump", severity="subtle")
    amp, delta = re.match(r"amp ([AB]) ([+-][\d.]+) ADU", bad.details[0]).groups()
    cols = amp_columns(bad.hdul[0], "AB".index(amp))
    shift = np.mean(bad.hdul[0].data[:, cols].astype(float)) - np.mean(good.hdul[0].data[:, cols].astype(float))
    assert 0.3 <= abs(float(delta)) <= 0.6
    assert shift == pytest.approx(float(delta), abs=0.1)


def test_a_subtle_low_flux_flat_is_a_few_percent_dimmer() -> None:
    good, bad = pair("BLUE", "LAMP,FLAT", 437, "low_flux_flat", severity="subtle")
    flux = float(re.search(r"flux ([\d.]+) %", bad.details[0]).group(1)) / 100
    bias = np.median(overscan(good.hdul[0], 0))
    lit = illuminated(good.hdul[0]) - bias
    ratio = np.sum((illuminated(bad.hdul[0]) - bias)[lit > 1000]) / np.sum(lit[lit > 1000])
    assert ratio == pytest.approx(flux, abs=0.003)


def test_a_subtle_weak_arc_keeps_its_lines_a_few_percent_fainter() -> None:
    good, bad = pair("BLUE", "LAMP,WAVE", 390, "lamp_off_arc", severity="subtle")
    intensity = int(re.search(r"lines at (\d+) %", bad.details[0]).group(1)) / 100
    bias = np.median(overscan(good.hdul[0], 0))
    signal = illuminated(good.hdul[0]) - bias
    peaks = (signal > 2000) & (illuminated(good.hdul[0]) < 50000)  # lines, not saturated; the continuum hardly counts
    ratio = np.sum(illuminated(bad.hdul[0])[peaks] - bias) / np.sum(signal[peaks])
    assert peaks.sum() > 20
    assert ratio == pytest.approx(intensity, abs=0.015)


def test_calspot_simulate_writes_subtle_defects_when_asked(tmp_path: Path) -> None:
    args = ["simulate", str(tmp_path), "--nights", "2", "--test-nights", "1", "--scale", "0.02", "--defect-rate", "1"]
    assert main([*args, "--severity", "subtle"]) == 0
    jumps = [r["detail"] for r in read_truth(tmp_path / "truth.csv") if r["defect"] == "bias_level_jump"]
    assert jumps and all(abs(float(re.search(r"([+-][\d.]+) ADU", d).group(1))) <= 0.6 for d in jumps)
