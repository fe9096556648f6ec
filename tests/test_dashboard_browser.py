"""The dashboard in a real Chromium: Streamlit served on a free port, driven by Playwright.

Debian's ``chromium`` is used through ``executable_path``; Playwright never downloads
a browser here. The table is drawn on a canvas, so assertions read the frame panel.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from core.config import load_settings
from core.store import Store
from dashboard.night import ROW_HEIGHT
from tests.conftest import FILLED_FLAGGED_FILE, FILLED_REASONS, FILLED_UNREADABLE_FILE

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
START_TIMEOUT_S = 30
STEP_TIMEOUT_MS = 20_000
HEADER_HEIGHT = 35  # pixels of the table's header row (Streamlit's default row height)
LAST_FRAME_SHOWN = "Observed 2024-03-02 20:10:00 UT"  # the frame with the lowest score: last table row
MORNING_VIEWPORT = {"width": 1600, "height": 1000}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, server: subprocess.Popen, log: Path) -> None:
    """Poll Streamlit's health endpoint until it answers, the server dies, or time runs out."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"streamlit exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"streamlit did not answer within {START_TIMEOUT_S} s:\n{log.read_text()}")


@contextmanager
def served_dashboard(log_folder: Path) -> Iterator[str]:
    """The dashboard of ``$CALSPOT_HOME`` served by ``streamlit run`` on a free local port; yields its URL."""
    port = free_port()
    log = log_folder / "streamlit.log"
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "dashboard/app.py",
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
    ]
    with log.open("w") as out:
        server = subprocess.Popen(command, cwd=ROOT, env=dict(os.environ), stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, server, log)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@contextmanager
def chromium_page(viewport: dict[str, int]) -> Iterator:
    """A page of Debian's Chromium of this size, driven by Playwright (the test is skipped without Chromium)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (make chromium) to run the browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=viewport)
        page.set_default_timeout(STEP_TIMEOUT_MS)
        try:
            yield page
        finally:
            browser.close()


@pytest.fixture
def dashboard_url(filled_home: Path, tmp_path: Path) -> Iterator[str]:
    """The dashboard of ``filled_home``."""
    with served_dashboard(tmp_path) as url:
        yield url


@pytest.fixture
def browser_page() -> Iterator:
    """A 1600 x 1200 page of Debian's Chromium."""
    with chromium_page({"width": 1600, "height": 1200}) as page:
        yield page


@contextmanager
def screenshot_on_failure(page, folder: Path) -> Iterator[None]:
    """Leave a screenshot of the page in ``folder`` when the steps inside fail."""
    try:
        yield
    except BaseException:
        shot = folder / "failure.png"
        page.screenshot(path=str(shot))
        print(f"screenshot of the failing page: {shot}")
        raise


def night_table(page):
    """The night's table (Streamlit marks an element with its key as a CSS class)."""
    return page.locator(".st-key-night_table").get_by_test_id("stDataFrame")


def tick_table_row(page, index: int) -> None:
    """Tick the selection box of a table row (the grid is a canvas: click by position)."""
    box = night_table(page).bounding_box()
    page.mouse.click(box["x"] + 12, box["y"] + HEADER_HEIGHT + ROW_HEIGHT * (index + 0.5))


def visible_text(page, text: str):
    return page.get_by_text(text).filter(visible=True).first


def test_review_a_flagged_frame_in_chromium(filled_home: Path, dashboard_url: str, browser_page, tmp_path: Path) -> None:
    page = browser_page
    with screenshot_on_failure(page, tmp_path):
        page.goto(dashboard_url)
        page.get_by_role("heading", name="Night report").wait_for()
        assert page.title() == "calspot"
        for reason in FILLED_REASONS:
            page.get_by_text(reason, exact=True).wait_for()
        visible_text(page, FILLED_FLAGGED_FILE).wait_for()

        tick_table_row(page, 4)
        visible_text(page, LAST_FRAME_SHOWN).wait_for()
        page.get_by_role("button", name="Next flag").click()
        page.get_by_text(FILLED_REASONS[0], exact=True).wait_for()

        page.get_by_label("Reviewer").fill("Ana")
        page.get_by_label("Note").fill("bias level jumped")
        page.get_by_role("button", name="Reject").click()
        page.get_by_text("recorded for Ana").wait_for()

        [label] = Store.open(load_settings(filled_home)).labels()
        assert (label.verdict, label.reviewer, label.note) == ("reject", "Ana", "bias level jumped")


def test_morning_review_at_1600_by_1000(filled_home: Path, dashboard_url: str, browser_page, tmp_path: Path) -> None:
    """The table and the frame panel side by side, the verdict form in view; a verdict moves to the next flag."""
    page = browser_page
    page.set_viewport_size(MORNING_VIEWPORT)
    with screenshot_on_failure(page, tmp_path):
        page.goto(dashboard_url)
        accept = page.get_by_role("button", name="Accept")
        accept.wait_for()
        page.get_by_text(FILLED_REASONS[0], exact=True).wait_for()
        table, button = night_table(page).bounding_box(), accept.bounding_box()
        assert button["x"] > table["x"] + table["width"], "the panel is beside the table"
        assert button["y"] + button["height"] <= MORNING_VIEWPORT["height"], "the verdict form is in view"
        rows_in_view = (MORNING_VIEWPORT["height"] - table["y"] - HEADER_HEIGHT) // ROW_HEIGHT
        assert rows_in_view >= 8, f"room for only {rows_in_view} table rows in view"
        page.get_by_label("Reviewer").fill("Ana")
        accept.click()
        page.get_by_text("recorded for Ana").wait_for()
        visible_text(page, "unreadable: truncated").wait_for()
        page.get_by_text(f"{FILLED_UNREADABLE_FILE} · unreadable file").first.wait_for()
        [label] = Store.open(load_settings(filled_home)).labels()
        assert (label.verdict, label.reviewer) == ("accept", "Ana")
