"""Reasons, notes, names and header values reach the browser as text: markup in them never runs or links.

A header, a reason, a reviewer's name, a note and a certification carry a ``<script>``
element, a ``javascript:`` link in Markdown and an HTML image with an ``onerror``
handler; the Night, Frame and History pages are opened in a real Chromium and the
page must hold none of them as elements (only as the text they are).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from core.config import load_settings
from core.store import NewScore, Store
from tests.conftest import FILLED_FLAGGED_FILE, FILLED_MODEL_VERSION, FILLED_NIGHT
from tests.test_dashboard_browser import chromium_page, screenshot_on_failure, served_dashboard

pytestmark = pytest.mark.browser

MARKUP = '<script>window.pwned = 1</script> [click](javascript:window.pwned=2) <img src=x onerror="window.pwned=3">'


def plant_markup(home: Path) -> tuple[int, str]:
    """Markup in a reason, a verdict's reviewer and note, a certification and the file's header; the frame's id and path."""
    store = Store.open(load_settings(home))
    row = next(r for r in store.night_rows(FILLED_NIGHT) if r["path"].endswith(FILLED_FLAGGED_FILE))
    run = store.start_run("test", {})
    reasons = [f"the header says {MARKUP}"]
    store.add_scores([NewScore(row["image_id"], 7.5, 3.0, True, "history", reasons, {"threshold": 3.0})], run, FILLED_MODEL_VERSION)
    store.add_label(row["path"], row["ext"], "reject", f"Mallory {MARKUP}", f"note {MARKUP}")
    store.certify(row["image_type"], row["mode"], FILLED_NIGHT, f"Mallory {MARKUP}", f"certified {MARKUP}")
    header = fits.Header()
    header["INSTRUME"] = "UVES"
    header["OBJECT"] = MARKUP[:68]
    Path(row["path"]).parent.mkdir(parents=True, exist_ok=True)
    fits.PrimaryHDU(np.full((16, 16), 170.0, np.float32), header).writeto(row["path"])
    return row["image_id"], row["path"]


def assert_inert(page) -> None:
    """No planted element and no script ran: the markup is only text."""
    assert page.evaluate("window.pwned") is None
    assert page.locator("a[href^='javascript']").count() == 0
    assert page.locator("img[src='x']").count() == 0
    assert all("pwned" not in (s.text_content() or "") for s in page.locator("script").all())


def test_markup_in_reasons_names_notes_and_headers_is_shown_as_text(filled_home: Path, tmp_path: Path) -> None:
    image_id, _ = plant_markup(filled_home)
    with served_dashboard(tmp_path) as url, chromium_page({"width": 1600, "height": 2400}) as page, screenshot_on_failure(page, tmp_path):
        page.goto(url)
        # the table is a canvas; its cells are also in the page's accessible grid, as text
        page.locator("[role=gridcell]").filter(has_text="the header says <script>").first.wait_for(state="attached")
        assert_inert(page)
        page.goto(f"{url}/frame?image={image_id}")
        page.get_by_role("heading", name="Header").wait_for()
        page.get_by_text("the header says <script>", exact=False).first.wait_for()
        page.get_by_text("rejected by Mallory <script>", exact=False).first.wait_for()
        page.wait_for_timeout(1000)  # the header table draws on a canvas: give it its turn
        assert_inert(page)
        page.goto(f"{url}/history")
        page.get_by_text("certified <script>", exact=False).first.wait_for()
        assert_inert(page)
