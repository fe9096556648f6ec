"""Time the dashboard in Chromium on a large store: 20 000 images of history and a night of 300.

The store is written through the store's API by ``bench/speed_home.py`` (generated
descriptors of 2048 numbers, quality numbers, profiles, previews, thumbnails, scores
with their explanations, flags and verdicts; the night's raw files as FITS), with 485
history frames per type on the maps and dendrograms: a night map of 10 000 points and
dendrograms of 500 leaves. The night's PCA map is computed by :func:`core.maps.night_map`;
its UMAP and t-SNE maps are stored with :meth:`Store.save_map` under the keys the pages
look for, with the PCA coordinates (drawing does not care how they were fitted; ``--fit``
fits them for real, which takes minutes).

The dashboard is then served (``python -m streamlit run dashboard/app.py``) and opened
in Debian's Chromium, headless, through Playwright. A page is *ready* when Streamlit's
script has finished (no running state, skeleton, spinner or stale element left), the
page's main table or chart is there and every plotly chart on it is drawn (its data laid
out and, for WebGL traces, pixels on its canvas), steadily for 100 ms; the time is the
browser's own, from the start of the navigation. A redraw (another map method, another
type's dendrogram) is timed from the click that asks for it to the new chart drawn.

Each round starts a fresh server and opens the Night page in a fresh browser (its time
includes the server's first imports, printed apart). Then, as an astronomer moves through
the dashboard, each page is reached from its link in the top bar, once with the server's
caches empty (*first time*) and again on further tours (*again*); the Maps page switches
method and the Dendrogram page switches type (timed from the click to the new chart
drawn). Last, each page is opened by its URL in a fresh browser context, which loads
Streamlit's and plotly's JavaScript anew (plotly.js alone takes about 1.5 s to load in
headless Chromium on this 2-core machine). Printed: median, min and max per figure, and
whether its median meets the target (a page within 2 s, a map of 10 000 points and a
dendrogram of 500 leaves within 1 s).

Run: ``.venv/bin/python bench/dashboard_speed.py [--rounds 3] [--passes 3] [--home DIR] [--fit]``
(``--home`` keeps the generated store there and reuses it on the next run; without it
the store is written to a temporary folder and removed afterwards).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from served_dashboard import READY_TIMEOUT_MS, DashboardError, Ready, chromium, served, wait_ready
from speed_home import SpeedHome, speed_home

from core.embed import expected_fingerprint
from core.maps import MAP_METHODS, map_key, map_params, night_map
from core.store import Store

PAGE_TARGET_S = 2.0
DRAW_TARGET_S = 1.0
VIEWPORT = {"width": 1600, "height": 1000}
MAP_POINTS = 10_000
TREE_LEAVES = 500

SIGNATURE = """
(selector) => {
  const plot = document.querySelector(selector);
  if (!plot) return null;
  return [plot._fullLayout?.xaxis?.title?.text,
    ...(plot._fullData || []).map((t) => `${t.type}:${t.x?.length}:${t.customdata?.[0]}`)].join('|');
}
"""
# The time of the last click, in the page's clock: a redraw is timed from the click that asked for it.
CLICK_CLOCK = "document.addEventListener('click', () => { window.__clickAt = performance.now(); }, true);"


MAP_CHART = ".st-key-map_chart .js-plotly-plot"
TREE_CHART = ".st-key-tree_chart .js-plotly-plot"
# One element that only its page has: a page reached from another is ready once the other's is gone.
MARKERS = {
    "Night": ".st-key-night_table",
    "Frame": ".st-key-frame_image",
    "Maps": ".st-key-map_chart",
    "Dendrogram": ".st-key-tree_chart",
    "History": ".st-key-history_chart_score",
}
LINKS = {"Night": "Night report", "Frame": "Frame", "Maps": "Maps", "Dendrogram": "Dendrogram", "History": "History"}


def _page(name: str, **ready) -> Ready:
    return Ready(absent=tuple(marker for other, marker in MARKERS.items() if other != name), **ready)


PAGES = {
    "Night": _page("Night", present=(".st-key-night_table canvas", '[data-testid="stForm"]'), tables=2),
    "Frame": _page("Frame", present=(".st-key-frame_image .js-plotly-plot", '[data-testid="stForm"]'), tables=1, plots=4),
    "Maps": _page("Maps", chart=MAP_CHART, points=MAP_POINTS, plots=1),
    "Dendrogram": _page("Dendrogram", chart=TREE_CHART, leaves=TREE_LEAVES, tables=1, plots=1),
    "History": _page("History", present=(".st-key-history_chart_score .js-plotly-plot",), plots=5),
}
MAP_DRAWN = "map of 10 000 points, another method chosen"
TREE_DRAWN = "dendrogram of 500 leaves, another type chosen"


@dataclass
class Figures:
    """Seconds measured per figure, in the order first measured."""

    seconds: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, value: float) -> None:
        self.seconds.setdefault(name, []).append(value)
        print(f"    {name}: {value:.2f} s", flush=True)


def open_page(context, url: str, ready: Ready) -> float:
    """Seconds from the start of the navigation to the page ready, in a new tab of ``context``."""
    page = context.new_page()
    try:
        page.goto(url, wait_until="commit")
        return wait_ready(page, ready) / 1000.0
    except Exception as error:
        shot = Path(tempfile.gettempdir()) / "dashboard_speed_failure.png"
        page.screenshot(path=str(shot))
        raise DashboardError(f"{url} was not ready within {READY_TIMEOUT_MS / 1000:.0f} s ({error}); screenshot: {shot}") from error
    finally:
        page.close()


def redraw(page, act: Callable[[], None], ready: Ready, changed: bool = True) -> float:
    """Seconds from the click made by ``act`` to the page ready, its main chart drawn anew when ``changed``."""
    before = page.evaluate(SIGNATURE, ready.chart) if changed and ready.chart else None
    page.evaluate("() => { window.__clickAt = undefined; }")
    act()
    drawn = wait_ready(page, ready, before)
    clicked = page.evaluate("() => window.__clickAt")
    if clicked is None:
        raise DashboardError("the click was not seen by the page")
    return (drawn - clicked) / 1000.0


def choose_method(page, method_name: str) -> Callable[[], None]:
    return lambda: page.locator(".st-key-map_method").get_by_text(method_name, exact=True).click()


def choose_option(page, key: str, index: int) -> Callable[[], None]:
    def act() -> None:
        page.locator(f".st-key-{key} [role='combobox']").click()
        page.get_by_role("option").nth(index).click()

    return act


def navigate(page, name: str) -> float:
    """Seconds from a click on the page's link in the top bar to the page ready."""
    link = page.locator('[data-testid="stTopNavLink"]').filter(has_text=LINKS[name])
    return redraw(page, link.click, PAGES[name], changed=False)


def time_map_switches(page, figures: Figures, switches: int) -> None:
    """On the Maps page, choose the other methods in turn, timing each redraw."""
    names = ["PCA", "t-SNE", "UMAP"]
    for k in range(switches):
        figures.add(MAP_DRAWN, redraw(page, choose_method(page, names[k % len(names)]), PAGES["Maps"]))


def time_tree_switches(page, figures: Figures, switches: int) -> None:
    """On the Dendrogram page, choose other types (alternately the second and the first), timing each redraw."""
    for k in range(switches):
        figures.add(TREE_DRAWN, redraw(page, choose_option(page, "tree_group", (k + 1) % 2), PAGES["Dendrogram"]))


def page_urls(url: str, home: SpeedHome) -> dict[str, str]:
    return {
        "Night": f"{url}/",
        "Frame": f"{url}/frame?image={home.night_flagged[-1]}",
        "Maps": f"{url}/maps",
        "Dendrogram": f"{url}/dendrogram",
        "History": f"{url}/history",
    }


def measure_round(browser, home: SpeedHome, figures: Figures, passes: int) -> None:
    """One fresh server: its first page, each page through the top bar (first time, then again), the redraws, new tabs."""
    with served(home.home) as url:
        urls = page_urls(url, home)
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        page.add_init_script(CLICK_CLOCK)
        page.goto(urls["Night"], wait_until="commit")
        figures.add("first page after the server starts (Night, with Python's imports)", wait_ready(page, PAGES["Night"]) / 1000.0)
        tour = ("Frame", "Maps", "Dendrogram", "History", "Night")
        for name in tour:
            figures.add(f"{name} page from the top bar, first time", navigate(page, name))
        for _ in range(passes):
            for name in tour:
                figures.add(f"{name} page from the top bar, again", navigate(page, name))
        navigate(page, "Maps")
        time_map_switches(page, figures, 3)
        navigate(page, "Dendrogram")
        time_tree_switches(page, figures, 2)
        context.close()
        for name in tour:
            context = browser.new_context(viewport=VIEWPORT)
            figures.add(f"{name} page by its URL in a new browser", open_page(context, urls[name], PAGES[name]))
            context.close()


def store_maps(home: SpeedHome, fit: bool) -> None:
    """The night's maps: PCA fitted by core, UMAP and t-SNE fitted too (``fit``) or stored with PCA's coordinates."""
    settings = home.settings
    store = Store.open(settings)
    started = time.perf_counter()
    pca = night_map(store, home.night, settings, "pca", compute=True)
    if pca is None or len(pca.image_ids) != MAP_POINTS:
        raise DashboardError(f"the night's PCA map has {0 if pca is None else len(pca.image_ids)} points, not {MAP_POINTS}")
    fingerprint = expected_fingerprint(settings)
    for method in MAP_METHODS:
        if method == "pca" or night_map(store, home.night, settings, method, compute=False) is not None:
            continue
        if fit:
            night_map(store, home.night, settings, method, compute=True)
            continue
        params = map_params(method, settings)
        key = map_key(pca.scope, pca.image_ids, method, params, fingerprint)
        store.save_map(key, pca.scope, method, dataclasses.asdict(params), fingerprint, pca.image_ids, pca.coordinates)
        if night_map(store, home.night, settings, method, compute=False) is None:
            raise DashboardError(f"the {method} map stored under {key} is not the one the Maps page looks for")
    print(f"  maps of {home.night} stored ({MAP_POINTS} points each) in {time.perf_counter() - started:.0f} s", flush=True)


def report(figures: Figures) -> None:
    """The table: median, min, max per figure, and the target met or not."""
    width = max(len(name) for name in figures.seconds)
    print(f"\n{'figure':<{width}}  runs  median     min     max  target  ")
    for name, values in figures.seconds.items():
        target = DRAW_TARGET_S if name in (MAP_DRAWN, TREE_DRAWN) or name.startswith("map of") else PAGE_TARGET_S
        median = statistics.median(values)
        verdict = "target met" if median <= target else "NOT met"
        print(f"{name:<{width}}  {len(values):>4}  {median:6.2f}s {min(values):6.2f}s {max(values):6.2f}s  {target:4.1f} s  {verdict}")
    print("(a figure meets its target when its median does; the first page after a start is the server's one-off import)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="fresh servers, each with one cold opening of every page")
    parser.add_argument("--passes", type=int, default=3, help="tours of the pages through the top bar per round, after the first")
    parser.add_argument("--home", type=Path, help="where to write (or find) the generated store; a temporary folder by default")
    parser.add_argument("--fit", action="store_true", help="fit the UMAP and t-SNE maps for real (minutes)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="calspot-speed-") as folder:
        started = time.perf_counter()
        print("writing the store (20 000 images of history, a night of 300) ...", flush=True)
        home = speed_home(args.home or Path(folder) / "home")
        print(f"  done in {time.perf_counter() - started:.0f} s", flush=True)
        store_maps(home, args.fit)
        figures = Figures()
        try:
            with chromium() as browser:
                for number in range(1, args.rounds + 1):
                    print(f"round {number} of {args.rounds} (a fresh server)", flush=True)
                    measure_round(browser, home, figures, args.passes)
        except DashboardError as error:
            print(f"dashboard_speed: {error}", file=sys.stderr)
            return 1
        report(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
