"""What the dashboard shows of report rows, without Streamlit running."""

from __future__ import annotations

import base64

import pytest

from dashboard import formatting


def row(
    name: str, *, ext: int | None = 0, flagged: bool = False, score: float | None = 1.0, verdict: str | None = None, **extra
) -> dict:
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
        "e.fits", "c.fits", "d.fits", "f.fits", "a.fits", "b.fits",
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
        row("a.fits", flagged=True, score=7.5, reasons=["bias level: +14 ADU", "noise", "rows"], verdict="accept",
            thumbnail=b"png"),
        row("b.fits.Z", ext=None, flagged=True, score=None, reasons=["unreadable: truncated"]),
    ]
    table = formatting.table(rows)
    assert list(table.columns) == formatting.TABLE_COLUMNS
    assert list(table["flag"]) == ["⚑", "⚑"]
    assert table["reasons"][0] == "bias level: +14 ADU; noise (+1 more)"
    assert list(table["verdict"]) == ["accepted", ""]
    assert table["ext"].isna().tolist() == [False, True]
    assert table["image type"][1] == "unreadable file"
    assert table["thumbnail"][0].startswith("data:image/png;base64,") and table["thumbnail"].isna()[1]


def test_detail_tables() -> None:
    details = {
        "deviations": [
            {"metric": "bias_level_1", "label": "bias level", "unit": "ADU", "value": 184.0, "reference": 170.0,
             "scatter": 1.4, "z": 9.8},
            {"metric": "descriptor", "label": "descriptor distance", "unit": "", "value": None, "reference": 0.1,
             "scatter": 0.01, "z": None},
        ],
        "neighbours": [{"image_id": 7, "path": "/raw/2024-03-01/x.fits", "ext": 1, "distance": 0.04}],
    }
    deviations = formatting.deviations_table(details)
    assert list(deviations["quantity"]) == ["bias level [ADU]", "descriptor distance"]
    assert deviations["z"][0] == pytest.approx(9.8) and deviations["value"].isna()[1]
    neighbours = formatting.neighbours_table(details)
    assert neighbours.to_dict("records")[0] == {
        "file": "x.fits", "ext": 1, "distance": 0.04, "path": "/raw/2024-03-01/x.fits",
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
    assert formatting.frame_label(row("a.fits", flagged=True, verdict="reject")) == (
        "⚑ a.fits ext 0 · UVES_BLUE_BIAS_ext0 · rejected"
    )
    assert formatting.frame_label(row("b.fits.Z", ext=None)) == "b.fits.Z · unreadable file"


def test_difference_caption_says_what_the_grey_means():
    from dashboard.formatting import difference_caption

    caption = difference_caption({"difference": {"frames": 3, "scale_adu": 12.5}})
    assert caption == "minus the median of the 3 nearest reference frames (white +12.5 ADU, black -12.5 ADU)"
    assert difference_caption({}) == "minus the median of the 0 nearest reference frames"
