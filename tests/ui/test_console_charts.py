"""A load run's charts on the canary page, in a real browser (headless chromium through
selenium) against the real service process: latency and throughput over time, a compare
run's latency CDF and verdict, and the revision trend, as inline SVG."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.support.console import HAVE_BROWSER, NO_BROWSER, call, until
from tests.support.service import Service, StartService

pytestmark = [pytest.mark.system, pytest.mark.skipif(not HAVE_BROWSER, reason=NO_BROWSER)]

CHARTS = ("latency-over-time", "throughput-over-time")


class Target:
    """A real HTTP server on loopback port 0, in a thread, answering 200 after `delay` s."""

    def __init__(self, delay: float) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                time.sleep(delay)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def targets() -> Iterator[tuple[Target, Target]]:
    """A canary 30 ms slower than its primary."""
    canary, primary = Target(0.03), Target(0.0)
    yield canary, primary
    canary.close()
    primary.close()


@pytest.fixture
def service(start_service: StartService, tmp_path: Path) -> Iterator[Service]:
    """The service on durable state."""
    started = start_service(f"-state={tmp_path / 'state'}")
    started.wait_healthy()
    yield started
    assert started.stop() == 0


def test_a_load_run_shows_latency_and_throughput_charts(
    browser: WebDriver, browser_errors: Callable[[], list[str]], service: Service
) -> None:
    """After a load run, the canary page draws both charts with units, titles and lines."""
    port = service.port
    load = {"type": "load", "url": f"http://127.0.0.1:{port}/healthz", "rate": "20",
            "duration": "2s", "concurrency": "2", "wait": "true"}
    body = {"name": "podinfo", "namespace": "test", "phase": "Progressing", "checksum": "abc",
            "metadata": load}
    status, text = call(port, "/", body)
    assert status == 200, text
    browser.get(f"http://127.0.0.1:{port}/ui/canary/test/podinfo")
    run = until(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#runs article[data-run]"),
                "the run's charts")
    for kind in CHARTS:
        chart = run.find_element(By.CSS_SELECTOR, f'svg[data-chart="{kind}"]')
        title = chart.find_element(By.TAG_NAME, "title").get_attribute("textContent")
        assert chart.get_attribute("aria-label") == title
        assert "canary" in title
        texts = [t.get_attribute("textContent") for t in chart.find_elements(By.TAG_NAME, "text")]
        assert "time since the run's start (s)" in texts
        lines = chart.find_elements(By.CSS_SELECTOR, "path[data-line]")
        assert len(lines) == 2 and all(
            line.get_attribute("d").count("L") >= 1 for line in lines)
    latency = run.find_element(By.CSS_SELECTOR, 'svg[data-chart="latency-over-time"]')
    assert "latency (ms)" in latency.text and "p99 peak" in latency.get_attribute("aria-label")
    throughput = run.find_element(By.CSS_SELECTOR, 'svg[data-chart="throughput-over-time"]')
    assert "requests per second" in throughput.text
    assert re.search(r"canary: \d+ requests in \d+ s", throughput.get_attribute("aria-label"))
    if os.environ.get("LOADTESTER_CHART_SHOT"):  # a look at the charts, for people
        run.screenshot(os.environ["LOADTESTER_CHART_SHOT"])
    browser.set_window_size(390, 844)  # a phone: the charts shrink to the page's width
    width = browser.execute_script("return document.documentElement.clientWidth")
    assert all(chart.rect["width"] <= width for chart in
               run.find_elements(By.CSS_SELECTOR, "svg[data-chart]"))
    assert browser_errors() == []


def test_a_compare_run_shows_its_cdf_verdict_and_the_revision_trend(
    browser: WebDriver, browser_errors: Callable[[], list[str]], service: Service,
    targets: tuple[Target, Target],
) -> None:
    """A compare run against a slower canary draws both targets' latency CDF beside the
    verdict; with a later run of another revision, the trend has a point per revision."""
    canary, primary = targets
    port = service.port
    compare = {"type": "load", "url": canary.url, "compare": primary.url, "rate": "50",
               "duration": "2s", "concurrency": "10", "maxRegression": "p50=10%",
               "wait": "true"}
    status, text = call(port, "/", {"name": "podinfo", "namespace": "test",
                                    "phase": "Progressing", "checksum": "aaaa1111",
                                    "metadata": compare})
    assert status == 500 and "Mann-Whitney U" in text, text
    later = {"type": "load", "url": primary.url, "requests": "20", "concurrency": "2",
             "wait": "true"}
    status, text = call(port, "/", {"name": "podinfo", "namespace": "test",
                                    "phase": "Progressing", "checksum": "bbbb2222",
                                    "metadata": later})
    assert status == 200, text
    browser.get(f"http://127.0.0.1:{port}/ui/canary/test/podinfo")
    cdf = until(browser, lambda d: d.find_element(By.CSS_SELECTOR,
                                                  'svg[data-chart="latency-cdf"]'),
                "the compare run's latency CDF")
    title = cdf.find_element(By.TAG_NAME, "title").get_attribute("textContent")
    assert cdf.get_attribute("aria-label") == title
    assert re.search(r"canary p50 [\d.]+ ms, p99 [\d.]+ ms.*primary p50 [\d.]+ ms", title)
    lines = cdf.find_elements(By.CSS_SELECTOR, "path[data-line]")
    assert sorted(line.get_attribute("data-line") for line in lines) == [
        "canary latency", "primary latency"]
    assert all(line.get_attribute("d").count("L") >= 50 for line in lines)
    assert "latency (ms)" in cdf.text and "answers within (%)" in cdf.text
    assert {m.get_attribute("data-marker") for m in
            cdf.find_elements(By.CSS_SELECTOR, "[data-marker]")} == {"canary", "primary"}
    run = cdf.find_element(By.XPATH, "./ancestor::article[1]")
    verdict = run.find_element(By.CSS_SELECTOR, "p.verdict")
    assert verdict.get_attribute("data-verdict") == "fail"
    latency = r"[\d.]+(ms|µs)"
    assert re.search(rf"Verdict: fail — canary p50 {latency} vs primary {latency}", verdict.text)
    trend = browser.find_element(By.CSS_SELECTOR, 'svg[data-chart="revision-trend"]')
    label = trend.get_attribute("aria-label")
    assert label == trend.find_element(By.TAG_NAME, "title").get_attribute("textContent")
    assert re.search(r"aaaa1111: p99 [\d.]+ ms, 0 % errors over 1 run; "
                     r"bbbb2222: p99 [\d.]+ ms, 0 % errors over 1 run", label), label
    assert len(trend.find_elements(By.CSS_SELECTOR, "circle[data-marker]")) >= 4  # + legend
    names = [t.get_attribute("textContent") for t in trend.find_elements(By.TAG_NAME, "text")]
    assert names.index("aaaa1111") < names.index("bbbb2222")
    assert "p99 (ms)" in names and "errors (%)" in names
    if os.environ.get("LOADTESTER_CHART_SHOT"):  # a look at the charts, for people
        shot = os.environ["LOADTESTER_CHART_SHOT"]
        cdf.screenshot(shot.replace(".png", "-cdf.png"))
        trend.screenshot(shot.replace(".png", "-trend.png"))
    browser.set_window_size(390, 844)  # a phone: the charts shrink to the page's width
    width = browser.execute_script("return document.documentElement.clientWidth")
    assert all(chart.rect["width"] <= width for chart in
               browser.find_elements(By.CSS_SELECTOR, "svg[data-chart]"))
    assert browser_errors() == []
