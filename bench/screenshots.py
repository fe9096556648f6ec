"""Screenshots of the dashboard's pages for README.md, taken in Chromium from the demo data.

The demo home (``make demo``, or ``calspot demo --no-serve``) is served with
``python -m streamlit run dashboard/app.py`` and each page is opened in Debian's
Chromium, headless, at 1600 x 1000 (what a reviewer sees on a laptop's screen): the
Night report, the Frame page of the night's first flagged frame, the Maps page, the
Dendrogram page and the History page. A page is shot once Streamlit has finished, its
main chart or table is drawn, steadily for 100 ms (see ``served_dashboard.READY``).

Run: ``.venv/bin/python bench/screenshots.py [--home DIR] [--out docs/screenshots]``
(the home defaults to ``$CALSPOT_HOME``, else the demo's ``~/.calspot-demo``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from served_dashboard import ROOT, DashboardError, Ready, chromium, served, wait_ready

from core.cli import DEMO_HOME
from core.config import load_settings
from core.report import night_report
from core.store import Store

VIEWPORT = {"width": 1600, "height": 1000}
PAGES = {
    "night": ("", Ready(present=(".st-key-night_table canvas", '[data-testid="stForm"]'), tables=2)),
    "frame": ("frame?image={image}", Ready(present=(".st-key-frame_image .js-plotly-plot", '[data-testid="stForm"]'), plots=4)),
    "maps": ("maps", Ready(chart=".st-key-map_chart .js-plotly-plot", points=1, plots=1)),
    "dendrogram": ("dendrogram", Ready(chart=".st-key-tree_chart .js-plotly-plot", leaves=2, plots=1)),
    "history": ("history", Ready(present=(".st-key-history_chart_score .js-plotly-plot",), plots=1)),
}


def first_flagged_frame(home: Path) -> int:
    """The image id of the newest night's first flagged frame (its first frame when none is flagged)."""
    store = Store.open(load_settings(home))
    nights = store.nights()
    if not nights:
        raise DashboardError(f"the home {home} holds no night: run `make demo` (or `calspot demo --no-serve`) first")
    rows = [row for row in night_report(store, nights[-1]) if row["image_id"] is not None]
    if not rows:
        raise DashboardError(f"the night {nights[-1]} of {home} has no readable frame to show")
    return next((row["image_id"] for row in rows if row["flagged"]), rows[0]["image_id"])


def take_screenshots(home: Path, out: Path) -> list[Path]:
    """Serve the home, shoot every page into ``out``; returns the files written."""
    image = first_flagged_frame(home)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with served(home) as url, chromium() as browser:
        context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
        for name, (path, ready) in PAGES.items():
            page = context.new_page()
            page.goto(f"{url}/{path.format(image=image)}", wait_until="commit")
            try:
                wait_ready(page, ready)
            except Exception as error:
                raise DashboardError(f"the {name} page was not ready: {error}") from error
            page.mouse.move(0, 0)  # no hover label over the charts
            target = out / f"{name}.png"
            page.screenshot(path=str(target))
            page.close()
            written.append(target)
            print(f"  {target}", flush=True)
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, default=Path(os.environ.get("CALSPOT_HOME", DEMO_HOME)), help="the calspot home to show")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots", help="where the PNG files go")
    args = parser.parse_args()
    print(f"screenshots of the dashboard on {args.home}:", flush=True)
    try:
        take_screenshots(args.home, args.out)
    except DashboardError as error:
        print(f"screenshots: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
