"""The Frame page's figures and tables, without Streamlit running."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from core.preprocess import display_image
from core.store.records import ImageRow
from dashboard import formatting, frame_figures


def ramp(ny: int = 300, nx: int = 200) -> np.ndarray:
    """An image whose value grows with y (row index) only: bright at the top as ds9 shows FITS y."""
    return np.repeat(np.arange(ny, dtype=np.float32)[:, None], nx, axis=1)


def image_row(image_id: int, night: str, *, verdict: str | None = None, flagged: bool | None = False) -> ImageRow:
    return ImageRow(
        image_id=image_id,
        file_id=image_id,
        path=f"/raw/{night}/f{image_id}.fits",
        ext=0,
        night=night,
        date_obs=datetime.fromisoformat(f"{night}T20:00:00"),
        instrument="UVES",
        arm="BLUE",
        image_type="UVES_BLUE_BIAS_ext0",
        mode="1x1",
        category="bias",
        header_type="BIAS",
        shape=(300, 200),
        score=1.0,
        threshold=6.0,
        flagged=flagged,
        verdict=verdict,
        reasons=[],
        model_version="m",
    )


def test_heatmap_has_y_up_pixel_coordinates_and_adu_on_hover() -> None:
    display = display_image(ramp(1600, 800), "minmax", side=400)
    figure = frame_figures.image_heatmap(display, "800 x 1600")
    [heatmap] = figure.data
    assert heatmap.type == "heatmap" and display.factor == (4, 4)
    # Block centres in FITS pixels (1-based): the first block covers pixels 1-4.
    assert (heatmap.x0, heatmap.dx, heatmap.y0, heatmap.dy) == (2.5, 4, 2.5, 4)
    z = np.asarray(heatmap.z)
    assert z[0].mean() < z[-1].mean()  # row 0 (y = 1) dark, drawn at the bottom
    assert figure.layout.yaxis.autorange is True and figure.layout.yaxis.scaleanchor == "x"
    assert np.asarray(heatmap.customdata).max() == pytest.approx(display.adu.max())
    assert "ADU" in heatmap.hovertemplate
    assert heatmap.colorbar.ticktext[0] == f"{display.limits[0]:.5g}"
    assert z.dtype == np.uint8 and np.asarray(heatmap.customdata).dtype == np.float32
    assert len(figure.to_json()) < 8 * display.values.size  # bytes, not 21 characters of JSON per block


def test_histogram_marks_the_display_limits_and_the_pixels_outside() -> None:
    counts, edges = np.array([0, 5, 100, 5]), np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    figure = frame_figures.histogram_figure(counts, edges, below=3, above=12, limits=(1.0, 3.0))
    [bars] = figure.data
    assert list(bars.x) == [0.5, 1.5, 2.5, 3.5] and np.isnan(bars.y[0])  # log axis: empty bins left blank
    assert figure.layout.yaxis.type == "log"
    assert [shape.x0 for shape in figure.layout.shapes] == [1.0, 3.0]
    assert "3 below and 12 above the range" in figure.layout.title.subtitle.text


def test_profiles_in_raw_pixels_against_the_reference() -> None:
    profile, reference = np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 1.0, 1.0])
    figure = frame_figures.profile_figure("cols", profile, reference, binning=4, reference_name="12 reference frames")
    reference_trace, frame_trace = figure.data
    assert frame_trace.name == "this frame" and reference_trace.name == "median of 12 reference frames"
    assert list(frame_trace.x) == [2.5, 6.5, 10.5]  # sample i covers pixels 4i+1 .. 4i+4
    assert "along x" in figure.layout.title.text
    only_reference = frame_figures.profile_figure("rows", None, reference)
    assert [t.name for t in only_reference.data] == ["reference"]


def test_metric_history_marks_this_frame_and_the_rejected_ones() -> None:
    history = [(datetime(2025, 1, d), 170.0 + d, s) for d, s in ((1, "good"), (2, "rejected"), (3, "good"))]
    figure = frame_figures.metric_history_figure("bias level", "ADU", history, 184.2, datetime(2025, 1, 4), reference=172.0, scatter=1.5)
    names = [t.name for t in figure.data]
    assert names == ["earlier frames", "earlier frames (rejected)", "this frame"]
    assert list(figure.data[0].y) == [171.0, 173.0] and figure.data[-1].y == (184.2,)
    assert figure.layout.shapes[0].y0 == pytest.approx(170.5) and figure.layout.shapes[0].y1 == pytest.approx(173.5)
    bare = frame_figures.metric_history_figure("level", "", [], 3.0, "2025-01-04")
    assert [t.name for t in bare.data] == ["this frame"] and not bare.layout.shapes


def test_deviating_metrics_are_stored_numbers_far_enough_out() -> None:
    details = {
        "deviations": [
            {"metric": "descriptor_distance", "label": "descriptor distance", "z": 40.0},
            {"metric": "ron", "label": "read-out noise", "unit": "ADU", "z": 4.1},
            {"metric": "bias_level", "label": "bias level", "unit": "ADU", "z": -9.8},
            {"metric": "gradient_x", "label": "gradient", "z": 1.2},
            {"metric": "p99", "label": "99th percentile", "z": None},
        ]
    }
    metrics = {"ron": 4.2, "bias_level": 184.0, "gradient_x": 0.1, "p99": 200.0}
    assert [d["metric"] for d in formatting.deviating_metrics(details, metrics)] == ["bias_level", "ron"]
    assert formatting.deviating_metrics({}, metrics) == []


def test_metric_history_points_carry_their_review_status() -> None:
    history = [
        image_row(1, "2025-01-01"),
        image_row(2, "2025-01-02", verdict="reject", flagged=True),
        image_row(3, "2025-01-03", flagged=True),
        image_row(4, "2025-01-04", verdict="accept", flagged=True),
        image_row(5, "2025-01-05"),
    ]
    values = {1: {"ron": 3.1}, 2: {"ron": 9.0}, 3: {"ron": 5.0}, 4: {"ron": 3.3}, 5: {}}
    points = formatting.metric_history(history, values, "ron")
    assert [(p[1], p[2]) for p in points] == [(3.1, "good"), (9.0, "rejected"), (5.0, "flagged"), (3.3, "good")]
    assert points[0][0] == datetime(2025, 1, 1, 20)


def test_quality_table_compares_every_number_with_its_history() -> None:
    metrics = {"amp1.bias_level": 184.2, "amp1.read_noise": 3.3, "profile_bin_rows": 2.0}
    history = [{"amp1.bias_level": 170.0 + i, "amp1.read_noise": 3.0 + 0.1 * i} for i in range(11)]
    details = {"deviations": [{"metric": "amp1.bias_level", "z": 9.8}]}
    table = formatting.quality_table(metrics, history, "bias", details)
    assert list(table["quantity"]) == ["bias level, amplifier 1 [ADU]", "read-out noise, amplifier 1 [ADU]"]
    first = table.iloc[0]
    assert first["history median"] == pytest.approx(175.0) and first["history 10 %"] == pytest.approx(171.0)
    assert first["z"] == pytest.approx(9.8) and table["z"].isna().iloc[1]
    alone = formatting.quality_table(metrics, [], "bias", {})
    assert alone["history median"].isna().all() and len(alone) == 2


def test_header_and_identity_tables_are_text() -> None:
    header = formatting.header_table([("INSTRUME", "UVES", "instrument"), ("EXPTIME", "0.0", "")])
    assert header.to_dict("records")[0] == {"keyword": "INSTRUME", "value": "UVES", "comment": "instrument"}
    identity = dict(formatting.identity_table(image_row(7, "2025-01-03")).values.tolist())
    assert identity["size"] == "200 x 300 pixels" and identity["observed"] == "2025-01-03 20:00:00 UT"
    assert identity["header type"] == "BIAS"


def test_reference_and_neighbour_captions() -> None:
    assert formatting.reference_name(35, 7) == "35 reference frames of 7 nights"
    assert formatting.reference_name(1, 0) == "1 reference frame"
    neighbour = {"path": "/raw/2025-01-03/x.fits", "ext": 1, "night": "2025-01-03", "verdict": "accept", "flagged": True}
    assert formatting.neighbour_caption(neighbour, 0.01234) == "x.fits ext 1 · 2025-01-03 · accepted · distance 0.0123"
    assert "not flagged" in formatting.neighbour_caption({**neighbour, "verdict": None, "flagged": False}, None)
