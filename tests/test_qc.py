"""Tests of core.qc: what an astronomer would notice in the quality numbers.

Synthetic frames are small two-amplifier raw frames with an ESO header (prescan, data,
overscan per amplifier, the right one mirrored), built here from a seed; real frames
come from tests/data/real (a copy of the project's real frames; read-only).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from core.qc import CATEGORIES, QC_VERSION, Amplifier, Quality, amplifier_layout, measure_quality, metric_label

REAL = Path(__file__).resolve().parent / "data" / "real"
KAST = REAL / "shane_kast_blue"
MSU = REAL / "msumastro"

NY, NX, PRE, OVER = 256, 256, 8, 8
HALF = PRE + NX + OVER
WIDTH = 2 * HALF
LEFT_DATA, RIGHT_DATA = slice(PRE, PRE + NX), slice(WIDTH - PRE - NX, WIDTH - PRE)
DATA_PIXELS = NY * 2 * NX


def eso_header(ny: int = NY, nx: int = NX, prescan: int = PRE, overscan: int = OVER) -> fits.Header:
    header = fits.Header()
    header["HIERARCH ESO DET OUTPUTS"] = 2
    for i, x in ((1, 1), (2, 2 * (prescan + nx + overscan))):
        header[f"HIERARCH ESO DET OUT{i} NX"] = nx
        header[f"HIERARCH ESO DET OUT{i} NY"] = ny
        header[f"HIERARCH ESO DET OUT{i} PRSCX"] = prescan
        header[f"HIERARCH ESO DET OUT{i} OVSCX"] = overscan
        header[f"HIERARCH ESO DET OUT{i} X"] = x
    return header


def raw_frame(
    light: np.ndarray | None = None,
    levels: tuple[float, float] = (200.0, 210.0),
    noise: tuple[float, float] = (3.0, 3.0),
    seed: int = 0,
) -> np.ndarray:
    """A uint16 raw frame: per amplifier bias + read noise everywhere, ``light`` (NY, 2 NX) on the data."""
    rng = np.random.default_rng(seed)
    image = np.empty((NY, WIDTH))
    for amp, columns in enumerate((slice(0, HALF), slice(HALF, WIDTH))):
        image[:, columns] = levels[amp] + rng.normal(0.0, noise[amp], (NY, HALF))
    if light is not None:
        signal = light + rng.normal(0.0, 1.0, light.shape) * np.sqrt(np.maximum(light, 0.0))
        image[:, LEFT_DATA] += signal[:, :NX]
        image[:, RIGHT_DATA] += signal[:, NX:]
    return np.clip(np.rint(image), 0, 65535).astype(np.uint16)


def data_view(image: np.ndarray) -> np.ndarray:
    """The data columns of both amplifiers side by side (a copy)."""
    return np.hstack([image[:, LEFT_DATA], image[:, RIGHT_DATA]])


def put_data(image: np.ndarray, rows: slice, cols: slice, value: np.ndarray | float) -> None:
    """Write ``value`` into data coordinates (rows, cols of the side-by-side data)."""
    data = data_view(image).astype(np.float64)
    data[rows, cols] = value
    image[:, LEFT_DATA] = np.clip(data[:, :NX], 0, 65535)
    image[:, RIGHT_DATA] = np.clip(data[:, NX:], 0, 65535)


def orders_light(peak: float = 20000.0, shift: float = 0.0, n: int = 9, spacing: float = 26.0) -> np.ndarray:
    """An echelle-like flat: ``n`` Gaussian orders along x, stacked in y."""
    y = np.arange(NY)[:, None]
    centres = 20.0 + spacing * np.arange(n) + shift
    profile = sum(np.exp(-0.5 * ((y - c) / 3.0) ** 2) for c in centres)
    blaze = 0.8 + 0.2 * np.sin(np.pi * (np.arange(2 * NX) + 0.5) / (2 * NX))
    return peak * profile * blaze[None, :] + 50.0


def lines_light(positions: np.ndarray, peak: float = 3000.0, shift: float = 0.0) -> np.ndarray:
    """A long-slit arc: narrow emission lines along y (the slit) at x = ``positions``."""
    x = np.arange(2 * NX)[None, :]
    spectrum = sum(np.exp(-0.5 * ((x - p - shift) / 1.3) ** 2) for p in positions)
    return np.repeat(peak * spectrum, NY, axis=0) + 5.0


def profile_shift(profile: np.ndarray, reference: np.ndarray, reach: int = 12) -> int:
    """Shift (samples) of ``profile`` against ``reference`` maximising their correlation."""
    a, b = profile - profile.mean(), reference - reference.mean()
    lags = range(-reach, reach + 1)
    return max(lags, key=lambda lag: float(np.dot(np.roll(b, lag), a)))


def measure(image: np.ndarray, category: str = "bias", header: fits.Header | None = None) -> dict[str, float]:
    return measure_quality(image, eso_header() if header is None else header, category).metrics


# ----------------------------------------------------------------------------- layout


def test_eso_layout_has_prescan_data_overscan_and_mirrored_right_amplifier() -> None:
    amps = amplifier_layout(eso_header(), (NY, WIDTH))
    assert [a.name for a in amps] == ["1", "2"]
    left, right = amps
    assert left.data == (slice(0, NY), slice(PRE, PRE + NX))
    assert left.overscan == (slice(0, NY), slice(PRE + NX, HALF))
    assert right.data == (slice(0, NY), slice(HALF + OVER, HALF + OVER + NX))
    assert right.overscan == (slice(0, NY), slice(HALF, HALF + OVER))


def test_eso_layout_uses_prescan_when_there_is_no_overscan() -> None:
    amps = amplifier_layout(eso_header(overscan=0), (NY, 2 * (PRE + NX)))
    assert amps[0].overscan == (slice(0, NY), slice(0, PRE))
    assert amps[1].overscan == (slice(0, NY), slice(2 * (PRE + NX) - PRE, 2 * (PRE + NX)))


def test_eso_keywords_that_do_not_fit_the_shape_fall_back_to_the_whole_image() -> None:
    amps = amplifier_layout(eso_header(nx=4000), (NY, WIDTH))
    assert amps == [Amplifier("1", (slice(0, NY), slice(0, WIDTH)), None)]


def test_iraf_sections_give_one_amplifier() -> None:
    header = fits.Header({"DATASEC": "[1:100,1:50]", "BIASSEC": "[101:110,1:50]"})
    assert amplifier_layout(header, (50, 110)) == [Amplifier("1", (slice(0, 50), slice(0, 100)), (slice(0, 50), slice(100, 110)))]


def test_kast_layout_has_two_amplifiers_with_overscans_after_the_data() -> None:
    header = fits.getheader(KAST / "b14.fits.gz")
    amps = amplifier_layout(header, (350, 2112))
    assert [(a.name, a.data[1], a.overscan[1]) for a in amps] == [
        ("1", slice(0, 1024), slice(2048, 2080)),
        ("2", slice(1024, 2048), slice(2080, 2112)),
    ]
    assert all(a.data[0] == slice(0, 350) and a.overscan[0] == slice(0, 350) for a in amps)


def test_without_layout_keywords_the_whole_image_is_one_amplifier() -> None:
    assert amplifier_layout(fits.Header(), (8, 9)) == [Amplifier("1", (slice(0, 8), slice(0, 9)), None)]


# ----------------------------------------------------------------------------- biases


def test_bias_levels_and_read_noise_are_measured_per_amplifier() -> None:
    m = measure(raw_frame(levels=(200.0, 210.0), noise=(3.0, 4.5)))
    assert m["amp1.bias_level"] == pytest.approx(200.0, abs=0.1)
    assert m["amp2.bias_level"] == pytest.approx(210.0, abs=0.1)
    assert m["amp1.read_noise"] == pytest.approx(3.0, rel=0.05)
    assert m["amp2.read_noise"] == pytest.approx(4.5, rel=0.05)
    assert m["amp1.noise"] == pytest.approx(3.0, rel=0.05)
    assert m["amp1.level"] == pytest.approx(200.0, abs=0.1)
    assert 200.0 < m["level"] < 210.0  # the median of both amplifiers' pixels


def test_a_jump_of_amplifier_2_moves_only_its_numbers() -> None:
    good = measure(raw_frame(levels=(200.0, 210.0)))
    jumped = measure(raw_frame(levels=(200.0, 225.0)))
    assert jumped["amp2.level"] - good["amp2.level"] == pytest.approx(15.0, abs=0.3)
    assert jumped["amp2.bias_level"] - good["amp2.bias_level"] == pytest.approx(15.0, abs=0.3)
    assert jumped["amp1.level"] == pytest.approx(good["amp1.level"], abs=0.01)
    assert jumped["amp1.bias_level"] == pytest.approx(good["amp1.bias_level"], abs=0.01)


def test_doubled_read_noise_doubles_read_noise() -> None:
    good = measure(raw_frame(noise=(3.0, 3.0)))
    noisy = measure(raw_frame(noise=(6.0, 3.0)))
    assert noisy["amp1.read_noise"] / good["amp1.read_noise"] == pytest.approx(2.0, rel=0.05)
    assert noisy["amp1.noise"] / good["amp1.noise"] == pytest.approx(2.0, rel=0.05)
    assert noisy["amp2.read_noise"] == pytest.approx(good["amp2.read_noise"], rel=0.01)


def test_sinusoidal_pickup_raises_periodic_noise_and_gives_its_period() -> None:
    image = raw_frame().astype(np.float64)
    clean = measure(image.astype(np.uint16))
    # a 2 ADU wave in read-out time whose phase drifts from row to row: diagonal stripes
    time = np.arange(NY)[:, None] * (WIDTH + 37) + np.arange(WIDTH)[None, :]
    image += 2.0 * np.sin(2 * np.pi * time / 17.0)
    picked = measure(np.rint(image).astype(np.uint16))
    assert clean["periodic_noise"] < 3.0 and "periodic_period" not in clean
    assert picked["periodic_noise"] > 10.0
    assert picked["periodic_period"] == pytest.approx(17.0, abs=0.3)


def test_pickup_of_a_tenth_of_the_read_noise_stands_out_of_the_2d_spectrum() -> None:
    image = raw_frame(seed=3).astype(np.float64)
    clean = measure(image.astype(np.uint16))
    # 0.4 ADU under 3 ADU of read noise: invisible in any one row, one plane wave over all of them
    # (added before digitisation: the sub-ADU part of the noise that the raw frame rounded away is put back)
    time = np.arange(NY)[:, None] * (WIDTH + 7) + np.arange(WIDTH)[None, :]
    image += np.random.default_rng(4).uniform(-0.5, 0.5, image.shape) + 0.4 * np.sin(2 * np.pi * time / 11.0)
    picked = measure(np.rint(image).astype(np.uint16))
    assert clean["periodic_noise"] < 1.5
    assert picked["periodic_noise"] > 3.0
    assert picked["periodic_period"] == pytest.approx(11.0, abs=0.4)


def test_column_pattern_raises_column_structure_not_row_structure() -> None:
    image = raw_frame()
    clean = measure(image)
    pattern = np.random.default_rng(5).normal(0.0, 1.5, 2 * NX)
    put_data(image, slice(None), slice(None), data_view(image) + pattern[None, :])
    patterned = measure(image)
    assert patterned["column_structure"] > 5 * clean["column_structure"]
    assert patterned["column_structure"] == pytest.approx(1.5, rel=0.25)
    assert patterned["row_structure"] == pytest.approx(clean["row_structure"], rel=0.3)


def test_a_new_hot_column_raises_bad_column_excess_by_its_level() -> None:
    image = raw_frame()
    clean = measure(image)
    assert clean["bad_column_excess"] == 0.0
    put_data(image, slice(None), slice(300, 301), data_view(image)[:, 300:301] + 40.0)
    put_data(image, slice(None), slice(301, 303), data_view(image)[:, 301:303] + 15.0)  # a hot column's warm neighbours
    hot = measure(image)["bad_column_excess"]
    assert 40.0 < hot < 70.0  # 40 + 2 x 15 ADU minus 8 sigma of each column mean (~0.2 ADU each)


def test_a_column_hot_over_part_of_its_length_counts_and_a_column_pattern_does_not() -> None:
    image = raw_frame()
    put_data(image, slice(0, NY // 3), slice(100, 101), data_view(image)[: NY // 3, 100:101] + 30.0)
    assert measure(image)["bad_column_excess"] > 25.0
    patterned = raw_frame()
    pattern = np.random.default_rng(5).normal(0.0, 1.5, 2 * NX)
    put_data(patterned, slice(None), slice(None), data_view(patterned) + pattern[None, :])
    assert measure(patterned)["bad_column_excess"] < 1.0


def test_cosmic_rays_on_an_arc_without_overscan_are_judged_by_the_noise_above_its_bias() -> None:
    """With no overscan the raw level still carries the bias: the noise model starts at the darkest pixels.

    A 60-ADU cosmic ray is 20 sigma of the 3 ADU read noise; counted from zero, the
    1000 ADU of bias would pass for photon noise of ~32 ADU and hide it.
    """
    rng = np.random.default_rng(4)
    y = np.arange(300)[:, None]
    lines = sum(20000.0 * np.exp(-0.5 * ((y - c) / 1.5) ** 2) for c in (40.0, 110.0, 170.0, 240.0))
    light = np.broadcast_to(lines, (300, 200))
    image = 1000.0 + light + rng.normal(0.0, 1.0, light.shape) * np.sqrt(9.0 + light)
    ys, xs = rng.integers(60, 90, 20), rng.integers(10, 190, 20)  # between the lines
    image[ys, xs] += 60.0
    raw = np.rint(image).astype(np.uint16)
    metrics = measure_quality(raw, fits.Header(), "arc").metrics
    assert metrics["cosmic_ray_fraction"] == pytest.approx(1000 * 20 / raw.size, rel=0.3)
    assert metrics["bad_row_fraction"] == 0.0


@pytest.mark.parametrize("fill", ["random", "zeros", "65535"])
def test_a_block_of_garbage_rows_raises_bad_row_fraction(fill: str) -> None:
    image = raw_frame()
    assert measure(image)["bad_row_fraction"] == 0.0
    values = {"random": np.random.default_rng(1).integers(0, 65536, (20, 2 * NX)), "zeros": 0.0, "65535": 65535.0}
    put_data(image, slice(100, 120), slice(None), values[fill])
    assert measure(image)["bad_row_fraction"] == pytest.approx(100 * 20 / NY, abs=100 * 1 / NY)


def test_garbage_rows_in_a_flat_are_found_between_the_orders() -> None:
    image = raw_frame(orders_light())
    assert measure(image, "flat")["bad_row_fraction"] == 0.0
    put_data(image, slice(60, 72), slice(None), 0.0)
    assert measure(image, "flat")["bad_row_fraction"] == pytest.approx(100 * 12 / NY, abs=100 * 1 / NY)


def test_cosmic_rays_raise_cosmic_ray_fraction_and_are_removed_from_the_profiles() -> None:
    image = raw_frame()
    clean = measure_quality(image, eso_header(), "bias")
    rng = np.random.default_rng(2)
    hits = 150
    rows = rng.choice(np.arange(2, NY - 2), hits, replace=False)
    cols = rng.choice(np.arange(2, 2 * NX - 2), hits, replace=False)
    data = data_view(image).astype(np.float64)
    data[rows, cols] += rng.uniform(300.0, 3000.0, hits)
    put_data(image, slice(None), slice(None), data)
    hit = measure_quality(image, eso_header(), "bias")
    assert clean.metrics["cosmic_ray_fraction"] == 0.0
    assert hit.metrics["cosmic_ray_fraction"] == pytest.approx(1000 * hits / DATA_PIXELS, rel=0.05)
    assert np.abs(hit.profiles["cols"] - clean.profiles["cols"]).max() < 1.0  # a hit alone adds > 1 ADU


def test_a_saturated_region_raises_saturated_fraction() -> None:
    image = raw_frame()
    put_data(image, slice(50, 90), slice(300, 340), 65535.0)
    m = measure(image)
    assert m["saturated_fraction"] == pytest.approx(100 * 1600 / DATA_PIXELS)
    assert m["max"] == 65535.0
    assert measure(raw_frame())["saturated_fraction"] == 0.0


def test_eso_saturation_level_from_the_header_is_used() -> None:
    image = raw_frame()
    put_data(image, slice(0, 10), slice(0, 10), 61000.0)
    header = eso_header()
    header["HIERARCH ESO DET OUT1 SATLEVEL"] = 60000.0
    header["HIERARCH ESO DET OUT2 SATLEVEL"] = 60000.0
    assert measure(image)["saturated_fraction"] == 0.0
    assert measure(image, header=header)["saturated_fraction"] == pytest.approx(100 * 100 / DATA_PIXELS)


def test_a_glowing_corner_shows_in_its_grid_cell_in_adu() -> None:
    image = raw_frame()
    # +40 ADU in the top-right ninth (FITS y at the top is the last numpy row)
    put_data(
        image,
        slice(2 * NY // 3 + 1, NY),
        slice(2 * (2 * NX) // 3 + 1, 2 * NX),
        data_view(image)[2 * NY // 3 + 1 :, 2 * (2 * NX) // 3 + 1 :] + 40.0,
    )
    m = measure(image)
    assert m["grid22"] == pytest.approx(40.0, abs=1.0)
    assert abs(m["grid00"]) < 1.0 and abs(m["grid11"]) < 1.0
    assert m["gradient_x"] > 0 and m["gradient_y"] > 0


# ----------------------------------------------------------------------------- flats and arcs


def test_flat_flux_orders_and_contrast() -> None:
    m = measure(raw_frame(orders_light(peak=20000.0)), "flat")
    assert m["order_count"] == 9
    assert m["order_contrast"] > 20
    assert m["cosmic_ray_fraction"] == 0.0 and m["bad_row_fraction"] == 0.0  # photon noise is not a defect
    assert m["flux"] > 50.0
    assert m["flux_p99"] == pytest.approx(20000.0, rel=0.15)
    assert m["grid11"] == pytest.approx(1.0, abs=0.3)
    dim = measure(raw_frame(orders_light(peak=10000.0)), "flat")
    assert dim["flux_p99"] / m["flux_p99"] == pytest.approx(0.5, rel=0.05)


def test_a_dimmed_corner_of_a_flat_shows_in_its_grid_cell() -> None:
    light = np.full((NY, 2 * NX), 10000.0)
    good = measure(raw_frame(light), "flat")
    light[: NY // 3, : 2 * NX // 3] *= 0.5  # bottom-left ninth
    dimmed = measure(raw_frame(light), "flat")
    assert all(good[f"grid{r}{c}"] == pytest.approx(1.0, abs=0.01) for r in range(3) for c in range(3))
    assert dimmed["grid00"] == pytest.approx(0.5 / (8.5 / 9), rel=0.03)
    assert dimmed["grid22"] == pytest.approx(1.0 / (8.5 / 9), rel=0.03)


def test_shifted_orders_shift_the_row_profile() -> None:
    reference = measure_quality(raw_frame(orders_light()), eso_header(), "flat")
    shifted = measure_quality(raw_frame(orders_light(shift=3.0), seed=1), eso_header(), "flat")
    assert reference.metrics["profile_bin_rows"] == 1.0
    assert profile_shift(shifted.profiles["rows"], reference.profiles["rows"]) == 3
    assert profile_shift(shifted.profiles["cols"], reference.profiles["cols"]) == 0


def test_arc_lines_are_counted_and_shifted_lines_shift_the_column_profile() -> None:
    positions = np.array([30, 75, 140, 190, 230, 300, 350, 410, 455, 490])
    arc = measure_quality(raw_frame(lines_light(positions)), eso_header(), "arc")
    moved = measure_quality(raw_frame(lines_light(positions, shift=5.0), seed=1), eso_header(), "arc")
    dark = measure_quality(raw_frame(lines_light(positions, peak=0.0)), eso_header(), "arc")
    assert arc.metrics["line_count"] == len(positions)
    assert arc.metrics["line_peak_p90"] == pytest.approx(3000.0, rel=0.1)
    assert arc.metrics["line_flux"] > 0.5 * len(positions) * 3000 * 1.3 * math.sqrt(2 * math.pi) * NY
    assert profile_shift(moved.profiles["cols"], arc.profiles["cols"]) == 5
    assert dark.metrics["line_count"] == 0 and dark.metrics["line_flux"] == 0.0
    assert "line_peak_p90" not in dark.metrics


def test_cosmic_rays_on_an_arc_are_not_taken_for_lines() -> None:
    positions = np.array([30, 75, 140, 190, 230, 300, 350, 410, 455, 490])
    image = raw_frame(lines_light(positions))
    rng = np.random.default_rng(7)
    data = data_view(image).astype(np.float64)
    rows, cols = rng.integers(2, NY - 2, 100), rng.integers(2, 2 * NX - 3, 100)
    data[rows, cols] += rng.uniform(300.0, 3000.0, 100)
    data[rows, cols + 1] += rng.uniform(50.0, 500.0, 100)  # part of the charge in the next pixel
    put_data(image, slice(None), slice(None), data)
    m = measure(image, "arc")
    assert m["cosmic_ray_fraction"] > 1000 * 90 / DATA_PIXELS
    assert len(positions) <= m["line_count"] <= len(positions) + 2


def test_echelle_arc_spots_are_counted_one_by_one() -> None:
    rng = np.random.default_rng(3)
    y, x = np.arange(NY)[:, None], np.arange(2 * NX)[None, :]
    light = np.full((NY, 2 * NX), 5.0)
    for centre in (30.0, 80.0, 130.0, 180.0, 230.0):  # orders along x, lines along the orders
        for position in rng.choice(np.arange(20, 2 * NX - 20, 40), 6, replace=False) + rng.uniform(-5, 5, 6):
            light += 2000.0 * np.exp(-0.5 * ((x - position) / 1.2) ** 2 - 0.5 * ((y - centre) / 3.0) ** 2)
    assert measure(raw_frame(light), "arc")["line_count"] == 30


# ----------------------------------------------------------------------------- profiles and contract


COMMON = (
    {
        "nan_fraction",
        "level",
        "p01",
        "p05",
        "p50",
        "p95",
        "p99",
        "max",
        "saturated_fraction",
        "row_structure",
        "column_structure",
        "bad_row_fraction",
        "periodic_noise",
        "cosmic_ray_fraction",
        "gradient_x",
        "gradient_y",
        "profile_bin_rows",
        "profile_bin_cols",
    }
    | {f"grid{r}{c}" for r in range(3) for c in range(3)}
    | {f"amp{i}.{k}" for i in (1, 2) for k in ("bias_level", "read_noise", "level", "noise")}
)


@pytest.mark.parametrize(
    ("category", "light", "own"),
    [
        ("bias", None, {"bad_column_excess"}),
        ("dark", None, {"bad_column_excess"}),
        ("flat", orders_light(), {"flux", "flux_p99", "order_count", "order_contrast"}),
        ("arc", lines_light([100, 300]), {"flux", "flux_p99", "line_count", "line_flux", "line_peak_p90"}),
    ],
)
def test_the_metric_names_of_each_category(category: str, light: np.ndarray | None, own: set[str]) -> None:
    names = set(measure(raw_frame(light), category)) - {"periodic_period"}  # only when there is a period
    assert names == COMMON | own


def test_profiles_are_binned_float32_of_at_most_1024_samples() -> None:
    quality = measure_quality(np.random.default_rng(0).normal(100, 3, (16, 2500)).astype(np.float32), fits.Header(), "bias")
    assert quality.metrics["profile_bin_cols"] == 3.0 and quality.metrics["profile_bin_rows"] == 1.0
    assert quality.profiles["cols"].shape == (833,) and quality.profiles["rows"].shape == (16,)
    assert all(p.dtype == np.float32 for p in quality.profiles.values())


def test_the_same_image_gives_the_same_numbers_in_any_byte_order() -> None:
    image = raw_frame()
    first = measure(image)
    assert measure(image) == first
    assert measure(image.astype(">u2")) == first


def test_an_unknown_category_is_refused() -> None:
    with pytest.raises(ValueError, match="category"):
        measure_quality(raw_frame(), eso_header(), "lamp")


def _odd_images() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(4)
    partly_nan = rng.normal(500.0, 5.0, (64, 64)).astype(np.float32)
    partly_nan[rng.random((64, 64)) < 0.3] = np.nan
    partly_nan[0, 0] = np.inf
    return {
        "all NaN": np.full((64, 64), np.nan, dtype=np.float32),
        "tiny": rng.integers(0, 1000, (8, 8)).astype(np.uint16),
        "one pixel": np.array([[7]], dtype=np.int16),
        "one row": rng.normal(0, 1, (1, 300)),
        "three columns": rng.normal(0, 1, (300, 3)).astype(np.float32),
        "constant": np.full((100, 100), 1000, dtype=np.uint16),
        "negative floats": rng.normal(-50.0, 5.0, (100, 100)).astype(np.float32),
        "partly NaN": partly_nan,
    }


@pytest.mark.parametrize("name", list(_odd_images()))
@pytest.mark.parametrize("category", sorted(CATEGORIES))
def test_odd_images_give_finite_numbers_without_error(name: str, category: str) -> None:
    image = _odd_images()[name]
    quality = measure_quality(image, fits.Header(), category)
    assert isinstance(quality, Quality)
    assert all(isinstance(v, float) and math.isfinite(v) for v in quality.metrics.values())
    assert all(p.dtype == np.float32 and p.ndim == 1 and p.size <= 1024 for p in quality.profiles.values())
    assert all(np.isfinite(p).all() for p in quality.profiles.values())
    if name == "all NaN":
        assert quality.metrics == {"nan_fraction": 100.0}
    if name == "partly NaN":
        assert quality.metrics["nan_fraction"] == pytest.approx(100 * np.mean(~np.isfinite(image)))
        assert quality.metrics["level"] == pytest.approx(500.0, abs=1.0)


def test_constant_bias_has_no_noise_no_structure_no_cosmic_rays() -> None:
    m = measure_quality(np.full((100, 100), 1000, dtype=np.uint16), fits.Header(), "bias").metrics
    assert m["level"] == pytest.approx(1000.0, abs=0.5)
    assert m["amp1.noise"] < 0.2  # what is left of the +-0.5 ADU dither
    assert m["cosmic_ray_fraction"] == 0.0 and m["bad_row_fraction"] == 0.0 and m["row_structure"] < 0.1


def test_metric_labels_name_the_amplifier_and_the_unit() -> None:
    assert metric_label("amp2.level") == ("level, amplifier 2", "ADU")
    assert metric_label("amp1.read_noise") == ("read-out noise, amplifier 1", "ADU")
    assert metric_label("saturated_fraction") == ("saturated fraction", "%")
    assert metric_label("cosmic_ray_fraction")[1] == "‰"
    assert metric_label("grid00", "bias") == ("level of the bottom-left ninth minus the whole image's", "ADU")
    assert metric_label("grid11", "flat")[1] == ""
    assert metric_label("gradient_x", "flat")[1] == "fraction per 1000 px"
    assert metric_label("something_new") == ("something new", "")
    assert isinstance(QC_VERSION, str) and QC_VERSION


def test_every_measured_name_has_a_label() -> None:
    names = set(measure(raw_frame(orders_light()), "flat")) | set(measure(raw_frame(lines_light([100])), "arc"))
    assert all(metric_label(n) != (n.replace("_", " "), "") for n in names)


# ----------------------------------------------------------------------------- real frames


def _real(path: Path, category: str) -> dict[str, float]:
    with fits.open(path) as hdul:
        return measure_quality(hdul[0].data, hdul[0].header, category).metrics


def test_kast_biases_have_sensible_and_consistent_levels_and_read_noise() -> None:
    frames = [_real(KAST / f"b{i}.fits.gz", "bias") for i in range(14, 24)]
    for amp, level in (("amp1", 943.0), ("amp2", 965.0)):
        levels = np.array([m[f"{amp}.level"] for m in frames])
        biases = np.array([m[f"{amp}.bias_level"] for m in frames])
        noise = np.array([m[f"{amp}.read_noise"] for m in frames])
        assert np.all(np.abs(biases - level) < 3)
        assert np.all(np.abs(levels - biases) < 2)  # no light, no glow: data sit on the overscan
        assert np.ptp(levels) < 1.5 and np.ptp(biases) < 1.0
        assert np.all((noise > 2.5) & (noise < 3.5)) and np.ptp(noise) < 0.3
    assert all(m["bad_row_fraction"] == 0.0 and m["saturated_fraction"] == 0.0 for m in frames)


def test_kast_30s_flat_has_twice_the_flux_of_the_15s_flats() -> None:
    short = np.median([_real(KAST / f"b{i}.fits.gz", "flat")["flux"] for i in range(3, 14)])
    long = _real(KAST / "b2.fits.gz", "flat")
    assert long["flux"] / short == pytest.approx(2.0, rel=0.1)
    assert long["saturated_fraction"] > 1.0


def test_kast_arc_shows_lines() -> None:
    arc = _real(KAST / "b1.fits.gz", "arc")
    assert arc["line_count"] >= 15
    assert arc["line_peak_p90"] > 1000.0


def test_small_float32_biases_agree_with_each_other() -> None:
    frames = [_real(MSU / f"biastest{i}.fit", "bias") for i in range(1, 6)]
    levels = np.array([m["level"] for m in frames])
    noise = np.array([m["amp1.noise"] for m in frames])
    assert np.all(np.abs(levels - 35860) < 15) and np.ptp(levels) < 20
    assert np.all((noise > 15) & (noise < 26)) and noise.max() / noise.min() < 1.1


def test_no_lines_are_invented_in_the_small_neon_frame() -> None:
    # This cutout shows no lamp light: its row and column profiles are flat to 3.5 sigma
    # and only one warm spot stands out. An honest line count is (almost) zero.
    arc = _real(MSU / "neon-on-dome-10-sec-high-res-though-scope.fit", "arc")
    assert arc["level"] == pytest.approx(100.0, abs=2.0)
    assert arc["line_count"] <= 1
