"""Plotly selection events (plain dicts, as Streamlit hands them over) turned into frame ids."""

from __future__ import annotations

from dashboard.selection import clicked_image_id, is_click, point_image_id, selected_image_ids


def event(points, box=(), lasso=()) -> dict:
    return {
        "selection": {
            "points": list(points),
            "point_indices": [p.get("point_index", 0) for p in points],
            "box": list(box),
            "lasso": list(lasso),
        }
    }


BOX = [{"type": "rect", "x": [0, 1], "y": [0, 1]}]


def test_ids_come_from_customdata_not_from_point_indices() -> None:
    # The first point of the history trace and the first of this night's both have index 0.
    chosen = event(
        [
            {"curve_number": 0, "point_index": 0, "customdata": 41},
            {"curve_number": 2, "point_index": 0, "customdata": 97},
            {"curve_number": 2, "point_index": 1, "customdata": [98, "UVES.fits"]},
        ],
        box=BOX,
    )
    assert selected_image_ids(chosen) == [41, 97, 98]
    assert selected_image_ids(chosen["selection"]) == [41, 97, 98]


def test_points_without_an_id_and_repeats_are_skipped() -> None:
    chosen = event(
        [
            {"customdata": 5},
            {"x": 1.0},
            {"customdata": None},
            {"customdata": []},
            {"customdata": "x"},
            {"customdata": True},
            {"customdata": 5.0},
        ],
        lasso=[{"x": [0], "y": [0]}],
    )
    assert selected_image_ids(chosen) == [5]
    assert point_image_id({"customdata": "12"}) == 12


def test_nothing_selected() -> None:
    assert selected_image_ids(None) == []
    assert selected_image_ids({}) == []
    assert selected_image_ids(event([])) == []
    assert clicked_image_id(None) is None


def test_a_click_is_one_point_without_box_or_lasso() -> None:
    assert is_click(event([{"customdata": 7}]))
    assert clicked_image_id(event([{"customdata": 7}])) == 7
    assert not is_click(event([{"customdata": 7}], box=BOX))  # a box around one frame selects it
    assert not is_click(event([{"customdata": 7}, {"customdata": 8}]))  # shift-clicks add to a selection
    assert clicked_image_id(event([{"customdata": 7}, {"customdata": 8}])) is None
