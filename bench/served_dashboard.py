"""The dashboard served for a benchmark: Streamlit on a free local port, and Debian's Chromium to open it.

Shared by ``bench/dashboard_speed.py`` and ``bench/screenshots.py``. The server runs
``python -m streamlit run dashboard/app.py`` with ``CALSPOT_HOME`` set to the home
given (other ``CALSPOT_*`` variables are left out, so that the home's own settings
count) and is stopped when the block ends. Chromium is Debian's ``/usr/bin/chromium``,
driven by Playwright through ``executable_path``: no browser is ever downloaded.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
START_TIMEOUT_S = 60
READY_TIMEOUT_MS = 60_000
STEADY_MS = 100


class DashboardError(RuntimeError):
    """The dashboard or the browser could not be started (the message says why)."""


def free_port() -> int:
    """A TCP port of this machine that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise DashboardError(f"streamlit exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise DashboardError(f"streamlit did not answer within {START_TIMEOUT_S} s:\n{log.read_text()}")


@contextmanager
def served(home: Path) -> Iterator[str]:
    """The dashboard of a calspot home, served on a free port; yields its URL and stops the server afterwards."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALSPOT_")}
    env["CALSPOT_HOME"] = str(home)
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "dashboard/app.py",
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
    ]
    with tempfile.TemporaryDirectory(prefix="calspot-served-") as folder:
        log = Path(folder) / "streamlit.log"
        with log.open("w") as out:
            server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(url, server, log)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


@contextmanager
def chromium() -> Iterator:
    """Debian's Chromium, headless, through Playwright; yields the browser and closes it afterwards."""
    if not CHROMIUM.exists():
        raise DashboardError(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium, or make chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# Ready: Streamlit done, the page's elements there, every plotly chart drawn, steadily for STEADY_MS.
# Returns the time (ms from the navigation start) the page first became ready, or false.
READY = """
(spec) => {
  const now = performance.now();
  const failed = document.querySelector('[data-testid="stException"]');
  if (failed) return {error: failed.innerText.slice(0, 500)};
  const glDrawn = (canvas) => {
    const probe = document.createElement('canvas');
    probe.width = 256; probe.height = 256;
    const context = probe.getContext('2d');
    context.drawImage(canvas, 0, 0, 256, 256);
    const pixels = context.getImageData(0, 0, 256, 256).data;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) return true;
    return false;
  };
  const signature = (plot) => [plot._fullLayout?.xaxis?.title?.text,
    ...(plot._fullData || []).map((t) => `${t.type}:${t.x?.length}:${t.customdata?.[0]}`)].join('|');
  const ready = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
    if (document.querySelector('[data-testid="stSkeleton"], [data-testid="stSpinner"], [data-stale="true"]')) return false;
    if (spec.present.some((selector) => !document.querySelector(selector))) return false;
    if (spec.absent.some((selector) => document.querySelector(selector))) return false;
    if (document.querySelectorAll('[data-testid="stDataFrame"] canvas').length < spec.tables) return false;
    const plots = Array.from(document.querySelectorAll('.js-plotly-plot'));
    if (plots.length < spec.plots) return false;
    for (const plot of plots) {
      if (!plot._fullLayout || !plot._fullData || plot._fullData.length === 0) return false;
      if (plot._fullData.some((t) => t.type === 'scattergl')) {
        const canvas = plot.querySelector('canvas.gl-canvas-context');
        if (!canvas || !glDrawn(canvas)) return false;
      }
    }
    if (spec.chart) {
      const chart = document.querySelector(spec.chart);
      if (!chart || !chart._fullData) return false;
      if (spec.points && chart._fullData.reduce((n, t) => n + (t.x?.length || 0), 0) < spec.points) return false;
      if (spec.leaves && chart.querySelectorAll('.scatterlayer .trace path.point').length < spec.leaves) return false;
      if (spec.before !== null && signature(chart) === spec.before) return false;
    }
    return true;
  };
  if (!ready()) { window.__readySince = undefined; return false; }
  if (window.__readySince === undefined) window.__readySince = now;
  return now - window.__readySince >= spec.steady ? {at: window.__readySince} : false;
}
"""


@dataclass(frozen=True)
class Ready:
    """What a page shows once it is ready: elements present (and another page's absent), tables, plotly charts, the main chart's size."""

    present: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    tables: int = 0
    plots: int = 0
    chart: str | None = None
    points: int = 0
    leaves: int = 0

    def spec(self, before: str | None = None) -> dict:
        return {**asdict(self), "present": list(self.present), "absent": list(self.absent), "before": before, "steady": STEADY_MS}


def wait_ready(page, ready: Ready, before: str | None = None) -> float:
    """Milliseconds of the page's clock at which it became ready (see READY)."""
    page.evaluate("() => { window.__readySince = undefined; }")
    handle = page.wait_for_function(READY, arg=ready.spec(before), polling="raf", timeout=READY_TIMEOUT_MS)
    result = handle.json_value()
    if "error" in result:
        raise DashboardError(f"the page shows an exception: {result['error']}")
    return float(result["at"])
