"""End to end: `planner dashboard` served headless, driven by Playwright in Debian's Chromium.

The Plan page solves the example scenario and must show the numbers `planner plan` prints for it.
Set PLANNER_SCREENSHOTS=FOLDER to keep a screenshot of each page (the README's pictures).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require
from tests.planner.test_cli import _planner

CHROMIUM = Path("/usr/bin/chromium")
EXAMPLE = Path(__file__).resolve().parents[2] / "data" / "scenarios" / "example.yaml"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_dashboard(sqlite_url: str) -> tuple[subprocess.Popen[str], str]:
    """`planner dashboard` on a free port, once it answers its health check."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "planner.cli", "--db", sqlite_url, "dashboard", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                if reply.status == 200:
                    return server, url
        except OSError:
            if server.poll() is not None:
                pytest.fail(f"planner dashboard exited: {server.stderr.read() if server.stderr else ''}")
            if time.monotonic() > deadline:
                server.terminate()
                pytest.fail("planner dashboard did not answer within 90 s")
            time.sleep(0.5)


@pytest.fixture
def dashboard_url(sqlite_url: str) -> Iterator[str]:
    server, url = _start_dashboard(sqlite_url)
    try:
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_sigterm_to_planner_dashboard_stops_the_server(sqlite_url: str) -> None:
    """A service manager stops the dashboard with SIGTERM: the server must go with it, port and all
    (it used to run on as an orphan holding the port)."""
    server, url = _start_dashboard(sqlite_url)
    port = int(url.rsplit(":", 1)[1])
    server.terminate()
    server.wait(timeout=30)
    time.sleep(0.5)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def _cli_summary(sqlite_url: str) -> dict[str, str]:
    result = _planner("plan", str(EXAMPLE), env_db=sqlite_url)
    assert result.returncode == 0, result.stderr
    found = re.search(r"([\d.]+) mJ/token facility .*\$([\d.]+)/M tokens, ([\d.]+) gCO2/M tokens", result.stdout)
    gpus = re.search(r"tok/s on (\d+) GPUs", result.stdout)
    assert found and gpus, result.stdout
    return {"Fleet mJ/token": found[1], "$ per M tokens": found[2], "gCO2 per M tokens": found[3], "GPUs": gpus[1]}


def test_the_plan_page_in_a_real_browser_matches_planner_plan(dashboard_url: str, sqlite_url: str, tmp_path: Path):
    require(CHROMIUM.is_file(), f"Debian's Chromium is not at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright import sync_api as playwright
    except ImportError:
        require(False, "the playwright package is missing (pip install -e '.[dev]')")
    expected = _cli_summary(sqlite_url)
    keep = Path(os.environ.get("PLANNER_SCREENSHOTS", tmp_path))
    keep.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(dashboard_url)  # the default page: Measurements
        page.get_by_text("Energy against latency").wait_for(timeout=60_000)
        page.wait_for_timeout(2000)
        page.screenshot(path=str(keep / "measurements.png"), full_page=True)

        page.goto(f"{dashboard_url}/plan")
        page.get_by_role("button", name="Solve").click(timeout=60_000)
        page.get_by_text("Fleet mJ/token").wait_for(timeout=120_000)
        page.wait_for_timeout(1500)
        shown = {}
        for label in expected:
            metric = page.locator('[data-testid="stMetric"]', has_text=label).first
            shown[label] = metric.locator('[data-testid="stMetricValue"]').inner_text().strip()
        page.screenshot(path=str(keep / "plan.png"), full_page=True)

        page.goto(f"{dashboard_url}/forecast")
        page.get_by_role("button", name="Run forecast").click(timeout=60_000)
        page.get_by_text("Timeline", exact=True).wait_for(timeout=180_000)
        page.wait_for_timeout(2000)
        page.screenshot(path=str(keep / "forecast.png"), full_page=True)

        page.goto(f"{dashboard_url}/schedule")
        page.get_by_role("button", name="Schedule").click(timeout=60_000)
        page.get_by_text("Against the baselines").wait_for(timeout=180_000)
        page.wait_for_timeout(2000)
        page.screenshot(path=str(keep / "schedule.png"), full_page=True)
        browser.close()
    assert shown == expected
    assert (keep / "plan.png").stat().st_size > 10_000

