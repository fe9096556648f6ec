"""The Maps and Dendrogram pages in a real Chromium: a box drawn with the mouse, a batch reject, a tree drawn.

Each test serves its own home on its own free port, so that the tests run side by side
under pytest-xdist. The map is PCA, computed through core before the page opens.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import load_settings
from core.maps import night_map
from core.store import Store
from tests.analytics_home import BIAS, BIASES_PER_NIGHT, FLAT, LAST_NIGHT, NIGHTS, make_home
from tests.test_dashboard_browser import chromium_page, screenshot_on_failure, served_dashboard

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
BOX_PADDING_PX = 12

# The plot's data and axes, read in the page: where each point of a trace is on the screen.
POINTS_ON_SCREEN = """
(plot) => {
  const layout = plot._fullLayout;
  const box = plot.getBoundingClientRect();
  const where = (axis, value) => axis.l2p(axis.d2l(value));
  return plot._fullData.filter((trace) => trace.customdata).map((trace) => ({
    name: trace.name,
    points: Array.from(trace.x || [], (x, i) => ({
      id: Number(trace.customdata[i]),
      x: box.left + layout._size.l + where(layout.xaxis, x),
      y: box.top + layout._size.t + where(layout.yaxis, trace.y[i]),
    })),
  }));
}
"""


# Whether plotly's hover label is on a point under the pointer (the pointer passed other points on its way).
HOVER_AT = """
([x, y]) => {
  const plot = document.querySelector('.js-plotly-plot');
  const point = plot?._hoverdata?.[0];
  if (!point) return false;
  const box = plot.getBoundingClientRect(), size = plot._fullLayout._size;
  const px = box.left + size.l + point.xaxis.l2p(point.xaxis.d2l(point.x));
  const py = box.top + size.t + point.yaxis.l2p(point.yaxis.d2l(point.y));
  return Math.abs(px - x) < 8 && Math.abs(py - y) < 8;
}
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The analytics home with the PCA map of its last night stored."""
    home = make_home(tmp_path, monkeypatch)
    settings = load_settings(home)
    assert night_map(Store.open(settings), LAST_NIGHT, settings, "pca") is not None
    return home


@pytest.fixture
def dashboard(home: Path, tmp_path: Path) -> Iterator[str]:
    """The dashboard of ``home``."""
    with served_dashboard(tmp_path) as url:
        yield url


@pytest.fixture
def page() -> Iterator:
    """A 1600 x 1000 page of Debian's Chromium."""
    with chromium_page({"width": 1600, "height": 1000}) as tab:
        yield tab


def drawn_plot(page):
    """The page's first plotly chart once plotly has drawn its traces, scrolled into view."""
    page.wait_for_function("() => document.querySelector('.js-plotly-plot')?._fullData?.length > 0")
    plot = page.locator(".js-plotly-plot").first
    plot.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    return plot


def settled_points(page, plot) -> list[dict]:
    """The points on screen once the chart stops changing (a rerun may still be replacing it)."""
    points = plot.evaluate(POINTS_ON_SCREEN)
    for _ in range(30):
        page.wait_for_timeout(500)
        again = plot.evaluate(POINTS_ON_SCREEN)
        if again == points:
            return points
        points = again
    raise AssertionError("the chart kept changing for 15 s")


def hover_on(page, x: float, y: float) -> None:
    """Rest the pointer on (x, y) until plotly's hover is on the point there (it throttles hover under load)."""
    for attempt in range(20):
        page.mouse.move(x + (attempt % 2), y, steps=2)
        page.wait_for_timeout(250)
        if page.evaluate(HOVER_AT, [x, y]):
            return
    raise AssertionError("plotly never showed the point under the pointer")


def drag_box(page, left: float, top: float, right: float, bottom: float) -> None:
    """Press, move and release the mouse as a person drawing a box selection does."""
    page.mouse.move(left, top)
    page.mouse.down()
    page.mouse.move((left + right) / 2, (top + bottom) / 2, steps=5)
    page.mouse.move(right, bottom, steps=10)
    page.mouse.up()


def test_box_selection_then_batch_reject(home: Path, dashboard: str, page, tmp_path: Path) -> None:
    with screenshot_on_failure(page, tmp_path):
        page.goto(f"{dashboard}/maps")
        page.get_by_role("heading", name="Maps").wait_for()
        page.get_by_text("PCA", exact=True).first.click()
        page.get_by_text(re.compile(r"^PCA of ")).first.wait_for()
        plot = drawn_plot(page)
        traces = settled_points(page, plot)
        biases = next(t["points"] for t in traces if t["name"] == f"{BIAS} (this night)")
        assert len(biases) == BIASES_PER_NIGHT
        left = min(p["x"] for p in biases) - BOX_PADDING_PX
        right = max(p["x"] for p in biases) + BOX_PADDING_PX
        top = min(p["y"] for p in biases) - BOX_PADDING_PX
        bottom = max(p["y"] for p in biases) + BOX_PADDING_PX
        inside = {p["id"] for t in traces for p in t["points"] if left <= p["x"] <= right and top <= p["y"] <= bottom}
        assert {p["id"] for p in biases} <= inside

        plot.hover()
        plot.locator('.modebar-btn[data-val="select"]').click()  # the box of the chart's toolbar
        drag_box(page, left, top, right, bottom)
        page.get_by_role("heading", name=f"{len(inside)} frame{'s' if len(inside) != 1 else ''} selected").wait_for()
        page.get_by_label("Reviewer").fill("Ana")
        page.get_by_label("Note").fill("warm CCD, all of them")
        page.get_by_role("button", name=f"Reject these {len(inside)}").click()
        page.get_by_text("recorded for Ana").wait_for()

        labels = Store.open(load_settings(home)).labels()
        assert {label.image_id for label in labels} == inside
        assert {(label.verdict, label.reviewer, label.note) for label in labels} == {("reject", "Ana", "warm CCD, all of them")}


def test_a_click_opens_the_frame(home: Path, dashboard: str, page, tmp_path: Path) -> None:
    with screenshot_on_failure(page, tmp_path):
        page.goto(f"{dashboard}/maps")
        page.get_by_role("heading", name="Maps").wait_for()
        page.get_by_text("PCA", exact=True).first.click()
        page.get_by_text(re.compile(r"^PCA of ")).first.wait_for()
        plot = drawn_plot(page)
        traces = settled_points(page, plot)
        flat = next(t["points"][0] for t in traces if t["name"] == f"{FLAT} (this night)")
        page.mouse.move(flat["x"] - 20, flat["y"] - 20)
        page.mouse.move(flat["x"], flat["y"], steps=5)
        # Plotly picks the point nearest the pointer (a frame of the history may lie under this one):
        # the click must open the frame plotly shows under the pointer.
        hover_on(page, flat["x"], flat["y"])
        hovered = plot.evaluate("(p) => Number(p._hoverdata[0].customdata)")
        page.mouse.click(flat["x"], flat["y"])
        page.wait_for_url("**/frame?image=*")
        assert int(page.url.rsplit("=", 1)[1]) == hovered
        page.get_by_role("heading", name="Frame", exact=True).wait_for()


def test_dendrogram_is_drawn_with_every_leaf(home: Path, dashboard: str, page, tmp_path: Path) -> None:
    with screenshot_on_failure(page, tmp_path):
        page.goto(f"{dashboard}/dendrogram")
        page.get_by_role("heading", name="Dendrogram").wait_for()
        plot = page.locator(".js-plotly-plot").first
        plot.wait_for()
        leaves = plot.locator(".scatterlayer .trace path.point")
        page.wait_for_function(
            "(n) => document.querySelectorAll('.js-plotly-plot .scatterlayer .trace path.point').length === n",
            arg=BIASES_PER_NIGHT * len(NIGHTS),
        )
        assert leaves.count() == BIASES_PER_NIGHT * len(NIGHTS)
        # The links are one trace (plotly draws a path per run between its gaps: one per link).
        links = plot.locator(".scatterlayer .trace").first.locator("path.js-line").count()
        assert links == BIASES_PER_NIGHT * len(NIGHTS) - 1
        page.get_by_role("heading", name="Clusters at the cut").wait_for()
