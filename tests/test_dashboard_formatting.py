"""What the dashboard shows of report rows, without Streamlit running."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image as PILImage

from dashboard import formatting


def row(name: str, *, ext: int | None = 0, flagged: bool = False, score: float | None = 1.0, verdict: str | None = None, **extra) -> dict:
    """A report row as :func:`core.report.night_report` gives it (only the keys the dashboard reads)."""
    base = {
        "path": f"/raw/2024-03-02/{name}",
        "ext": ext,
        "image_type": "UVES_BLUE_BIAS_ext0" if ext is not None else "",
        "mode": "1x1",
        "score": score,
        "threshold": 3.0 if score is not None else None,
        "flagged": flagged,
        "reasons": [],
        "reference": "history",
        "details": {},
        "image_id": 1,
        "verdict": verdict,
        "thumbnail": None,
        "model_version": "frame-detector-1|1|resnet50/imagenet/in224/p1",
    }
    return base | extra


def test_thumbnail_becomes_a_data_uri() -> None:
    uri = formatting.thumbnail_uri(b"\x89PNG-bytes")
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == b"\x89PNG-bytes"
    assert formatting.thumbnail_uri(None) is None


def test_flagged_first_then_score_descending_unscored_last() -> None:
    rows = [
        row("a.fits", score=0.5),
        row("b.fits", score=None),
        row("c.fits", flagged=True, score=4.0),
        row("d.fits", ext=None, flagged=True, score=None),
        row("e.fits", flagged=True, score=9.0),
        row("f.fits", score=2.5),
    ]
    assert names(formatting.order_rows(rows)) == [
        "e.fits",
        "c.fits",
        "d.fits",
        "f.fits",
        "a.fits",
        "b.fits",
    ]


def test_reason_summary_counts_what_it_leaves_out() -> None:
    assert formatting.reason_summary(["one", "two", "three", "four"]) == "one; two (+2 more)"
    assert formatting.reason_summary(["one"]) == "one"
    assert formatting.reason_summary([]) == ""


def names(rows) -> list[str]:
    return [formatting.file_name(r) for r in rows]


def test_filters_combine() -> None:
    rows = [
        row("UVES.2024-03-02T20:00.fits", flagged=True),
        row("UVES.2024-03-02T20:10.fits", image_type="UVES_BLUE_FLAT_ext0"),
        row("broken.fits.Z", ext=None, flagged=True),
    ]
    assert names(formatting.filter_rows(rows, flagged_only=True)) == ["UVES.2024-03-02T20:00.fits", "broken.fits.Z"]
    assert names(formatting.filter_rows(rows, image_types=["unreadable file"])) == ["broken.fits.Z"]
    assert names(formatting.filter_rows(rows, search=" t20:10 ")) == ["UVES.2024-03-02T20:10.fits"]
    assert formatting.image_types(rows) == ["UVES_BLUE_BIAS_ext0", "UVES_BLUE_FLAT_ext0", "unreadable file"]


def test_night_counts_and_the_frames_to_review() -> None:
    rows = [
        row("a.fits", flagged=True, verdict="reject"),
        row("b.fits", flagged=True),
        row("c.fits"),
        row("d.fits.Z", ext=None, flagged=True),
    ]
    assert formatting.night_counts(rows) == {"images": 3, "flagged": 3, "unreadable": 1, "to_review": 2}
    keys = [formatting.frame_key(r) for r in rows]
    assert formatting.first_to_review(rows) == keys[1]
    assert formatting.next_to_review(rows, keys[1]) == keys[3]
    assert formatting.next_to_review(rows, keys[3]) == keys[1]
    assert formatting.next_to_review(rows[:3], keys[1]) is None
    assert formatting.first_to_review([row("z.fits")]) == "/raw/2024-03-02/z.fits#0"
    assert formatting.first_to_review([]) is None


def test_table_columns_and_values() -> None:
    rows = [
        row("a.fits", flagged=True, score=7.5, reasons=["bias level: +14 ADU", "noise", "rows"], verdict="accept", thumbnail=b"png"),
        row("b.fits.Z", ext=None, flagged=True, score=None, reasons=["unreadable: truncated"]),
    ]
    table = formatting.table(rows)
    assert list(table.columns) == formatting.TABLE_COLUMNS
    assert list(table["flag"]) == ["⚑", "⚑"]
    assert table["reasons"][0] == "bias level: +14 ADU (+2 more)"
    assert table["how far out"][0] == pytest.approx(formatting.severity(7.5, 3.0)) and table["how far out"].isna()[1]
    assert list(table["verdict"]) == ["✓", ""]
    assert list(table["image type"]) == ["UVES_BLUE_BIAS_ext0", "unreadable file"]
    assert table["thumbnail"][0].startswith("data:image/png;base64,") and table["thumbnail"].isna()[1]


def test_detail_tables() -> None:
    details = {
        "deviations": [
            {"metric": "bias_level_1", "label": "bias level", "unit": "ADU", "value": 184.0, "reference": 170.0, "scatter": 1.4, "z": 9.8},
            {
                "metric": "descriptor",
                "label": "descriptor distance",
                "unit": "",
                "value": None,
                "reference": 0.1,
                "scatter": 0.01,
                "z": None,
            },
        ],
        "neighbours": [{"image_id": 7, "path": "/raw/2024-03-01/x.fits", "ext": 1, "distance": 0.04}],
    }
    deviations = formatting.deviations_table(details)
    assert list(deviations["quantity"]) == ["bias level [ADU]", "descriptor distance"]
    assert deviations["z"][0] == pytest.approx(9.8) and deviations["value"].isna()[1]
    neighbours = formatting.neighbours_table(details)
    assert neighbours.to_dict("records")[0] == {
        "file": "x.fits",
        "ext": 1,
        "distance": 0.04,
        "path": "/raw/2024-03-01/x.fits",
    }
    assert formatting.deviations_table({}).empty and formatting.neighbours_table({}).empty


def test_reference_summary_in_words() -> None:
    reference = {"kind": "history", "frames": 1, "nights": 12, "first_night": "2024-02-01", "last_night": "2024-03-01"}
    assert (
        formatting.reference_summary(row("a.fits", details={"reference": reference}))
        == "frames of earlier nights: 1 frame, 12 nights (2024-02-01 to 2024-03-01)"
    )
    assert formatting.reference_summary(row("a.fits", reference="none")) == "nothing: no reference yet"


def test_random_weights_are_noticed() -> None:
    assert not formatting.uses_random_weights([row("a.fits")])
    random = row("b.fits", model_version="frame-detector-1|1|resnet50/random-seed0/in224/p1")
    assert formatting.uses_random_weights([row("a.fits"), random])


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("UVES_BLUE_BIAS_ext0", r"UVES\_BLUE\_BIAS\_ext0"),
        ("bias level: +14.2 ADU, 9.8 sigma", "bias level: +14.2 ADU, 9.8 sigma"),
        ("- starts like a list", r"\- starts like a list"),
        ("1. starts like a list", r"1\. starts like a list"),
        ("costs $5 [link](x)", r"costs \$5 \[link\](x)"),
    ],
)
def test_escape_markdown(text: str, escaped: str) -> None:
    assert formatting.escape_markdown(text) == escaped


def test_frame_label_names_flag_type_and_verdict() -> None:
    assert formatting.frame_label(row("a.fits", flagged=True, verdict="reject")) == ("⚑ a.fits ext 0 · UVES_BLUE_BIAS_ext0 · rejected")
    assert formatting.frame_label(row("b.fits.Z", ext=None)) == "b.fits.Z · unreadable file"


def test_difference_caption_says_what_the_grey_means():
    from dashboard.formatting import difference_caption

    caption = difference_caption({"difference": {"frames": 3, "scale_adu": 12.5}})
    assert caption == "minus the median of the 3 nearest reference frames (white +12.5 ADU, black -12.5 ADU)"
    assert difference_caption({}) == "minus the median of the 0 nearest reference frames"


@pytest.mark.parametrize(
    ("score", "threshold", "words"),
    [
        (1.0, 6.0, "typical"),
        (4.0, 6.0, "within normal range"),
        (7.0, 6.0, "just past threshold"),
        (30.0, 6.0, "well past threshold (5.0 times)"),
        (44245.7, 6.0, "far out (7,374 times the threshold)"),
        (None, 6.0, "not scored"),
        (3.0, None, "no threshold"),
    ],
)
def test_distance_in_words(score, threshold, words) -> None:
    assert formatting.distance_words(score, threshold) == words


def test_severity_is_bounded_and_half_way_at_the_threshold() -> None:
    assert formatting.severity(0.0, 6.0) == 0.0
    assert formatting.severity(6.0, 6.0) == pytest.approx(50.0)
    huge, large = formatting.severity(44245.7, 6.0), formatting.severity(30.0, 6.0)
    assert large < huge < 100.0
    assert formatting.severity(2.0, 6.0) < formatting.severity(3.0, 6.0) < 50.0
    assert formatting.severity(None, 6.0) is None and formatting.severity(3.0, None) is None


def test_threshold_note_says_where_the_threshold_comes_from() -> None:
    floor = {"threshold_basis": "floor", "history_threshold": 3.14}
    assert formatting.threshold_note(6.0, floor) == "threshold 6.0, the floor: this type's history alone would allow 3.1"
    history = {"threshold_basis": "history", "history_threshold": 8.4}
    assert formatting.threshold_note(8.4, history).startswith("threshold 8.4, from this type's history")
    assert formatting.threshold_note(6.0, {}) == "threshold 6.0"
    assert formatting.threshold_note(None, {}).startswith("no threshold")
    tuned = {"threshold_basis": "verdicts", "unsupervised_threshold": 6.0, "learned": {"model": "bad-frames-2"}}
    assert formatting.threshold_note(3.2, tuned) == "threshold 3.2, tuned on the experts' verdicts by bad-frames-2 (without them 6.0)"
    assert formatting.group_threshold([row("a.fits", threshold=3.2, details=tuned)]) == "3.2, tuned on verdicts"


def test_score_line_keeps_the_raw_score_beside_the_words() -> None:
    line = formatting.score_line(row("a.fits", score=44245.7, threshold=6.0))
    assert line == "score 44,245.7 sigma (threshold 6.0): far out (7,374 times the threshold)"
    assert formatting.score_line(row("b.fits", score=None)) == "not scored"


def test_farthest_out_first_when_thresholds_differ() -> None:
    rows = [
        row("a.fits", flagged=True, score=9.0, threshold=8.0),
        row("b.fits", flagged=True, score=7.0, threshold=3.0),
    ]
    assert names(formatting.order_rows(rows)) == ["b.fits", "a.fits"]


def test_type_summary_counts_and_colours_each_group() -> None:
    floor = {"threshold_basis": "floor", "history_threshold": 3.1}
    rows = [
        row("a.fits", flagged=True, verdict="reject", threshold=6.0, details=floor),
        row("b.fits", flagged=True, threshold=6.0, details=floor),
        row("c.fits", threshold=6.0, details=floor),
        row(
            "d.fits",
            image_type="UVES_BLUE_FLAT_ext0",
            flagged=True,
            verdict="accept",
            threshold=8.4,
            details={"threshold_basis": "history", "history_threshold": 8.4},
        ),
        row("e.fits", image_type="UVES_BLUE_WAVE_ext0", mode="1x1 CD2", threshold=6.0, details=floor),
        row("f.fits", image_type="UVES_BLUE_WAVE_ext0", mode="2x2", flagged=True, verdict="reject", threshold=6.0),
        row("g.fits.Z", ext=None, flagged=True, score=None, mode=""),
    ]
    summary = formatting.type_summary(rows)
    assert list(summary.columns) == formatting.SUMMARY_COLUMNS
    records = {(r["image type"], r["mode"]): r for r in summary.to_dict("records")}
    bias = records[("UVES_BLUE_BIAS_ext0", "1x1")]
    assert (bias["frames"], bias["flagged"], bias["reviewed"]) == (3, 2, 1)
    assert bias["status"] == formatting.STATUS["review"] and bias["threshold"] == "6.0, floor (history 3.1)"
    flat = records[("UVES_BLUE_FLAT_ext0", "1x1")]
    assert flat["status"] == formatting.STATUS["reviewed"] and flat["threshold"] == "8.4, history"
    assert records[("UVES_BLUE_WAVE_ext0", "1x1 CD2")]["status"] == formatting.STATUS["fine"]
    assert records[("UVES_BLUE_WAVE_ext0", "2x2")]["status"] == formatting.STATUS["rejected"]
    unreadable = records[("unreadable file", "")]
    assert unreadable["status"] == formatting.STATUS["review"] and unreadable["threshold"] == ""
    # The groups that need a look first; each status in its colour.
    assert list(summary["status"]) == [formatting.STATUS[s] for s in ("review", "review", "rejected", "reviewed", "fine")]
    colours = formatting.styled_summary(summary).to_html()
    assert formatting.STATUS_COLOURS[formatting.STATUS["review"]] in colours
    assert formatting.type_summary([]).empty


def test_deviations_say_how_far_out_in_words() -> None:
    details = {
        "threshold": 6.0,
        "deviations": [
            {"metric": "p99", "label": "99th percentile", "unit": "ADU", "value": 462.8, "reference": 215.9, "scatter": 0.48, "z": 510.7},
            {"metric": "level", "label": "level", "unit": "ADU", "value": 197.3, "reference": 197.9, "scatter": 0.59, "z": -1.1},
        ],
    }
    assert list(formatting.deviations_table(details)["in words"]) == ["far out (85 times the threshold)", "typical"]


def test_short_reasons_leave_the_sigma_to_the_bar() -> None:
    assert formatting.short_reason("fraction of corrupted rows: +15.4 %, 698.4 sigma above the last 7 nights") == (
        "fraction of corrupted rows: +15.4 %"
    )
    mismatch = "looks like a LAMP,WAVE; the header says BIAS (100 % of the nearest frames of all types agree)"
    assert formatting.short_reason(mismatch) == "looks like a LAMP,WAVE; the header says BIAS"
    assert formatting.short_reason("unreadable: truncated") == "unreadable: truncated"


def test_pictures_are_kept_low() -> None:
    tall = io.BytesIO()
    PILImage.new("L", (64, 256)).save(tall, format="PNG")
    assert formatting.picture_width(tall.getvalue(), height=128, widest=200) == 32
    wide = io.BytesIO()
    PILImage.new("L", (512, 64)).save(wide, format="PNG")
    assert formatting.picture_width(wide.getvalue(), height=128, widest=200) == 200


def test_the_learning_order_puts_uncertain_frames_first_and_the_rest_after() -> None:
    rows = [
        row("far.fits", flagged=True, score=300.0, image_id=1),
        row("reviewed.fits", flagged=True, score=3.1, verdict="reject", image_id=2),
        row("near.fits", score=2.9, image_id=3),
        row("cut.fits", ext=None, flagged=True, score=None, image_id=None),
        row("quiet.fits", score=0.3, image_id=4),
    ]
    ordered = formatting.in_learning_order(rows, {})
    assert [r["path"].rsplit("/", 1)[1] for r in ordered] == ["near.fits", "quiet.fits", "far.fits", "reviewed.fits", "cut.fits"]
    assert formatting.first_to_review(ordered, flags_only=False) == formatting.frame_key(rows[2])
    assert formatting.first_to_review(ordered) == formatting.frame_key(rows[0])  # the flags alone
    assert formatting.next_to_review(ordered, formatting.frame_key(rows[2]), flags_only=False) == formatting.frame_key(rows[4])
