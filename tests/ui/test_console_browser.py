"""The console in a real browser (headless Debian chromium through selenium) against the real
service process: canaries appear as Flagger calls, and gates, rollbacks and tasks change from
the page. LOADTESTER_SCREENSHOT=docs/console.png refreshes the screenshot of docs/console.md."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

from tests.support.console import HAVE_BROWSER, NO_BROWSER, call, until
from tests.support.processes import group_members
from tests.support.service import REPO, Service, StartService
from tests.support.webhook_sink import WebhookSink

pytestmark = [pytest.mark.system, pytest.mark.skipif(not HAVE_BROWSER, reason=NO_BROWSER)]


def canary(name: str, namespace: str, phase: str, checksum: str,
           metadata: dict[str, str] | None = None) -> dict[str, Any]:
    """A Flagger webhook payload."""
    body: dict[str, Any] = {"name": name, "namespace": namespace, "phase": phase,
                            "checksum": checksum}
    if metadata is not None:
        body["metadata"] = metadata
    return body


def row(driver: WebDriver, canary_id: str) -> WebElement:
    """The table row of one canary."""
    return driver.find_element(By.CSS_SELECTOR, f'tr[data-canary="{canary_id}"]')


def row_text(driver: WebDriver, canary_id: str, needle: str) -> bool:
    """True once the canary's row shows the text."""
    return needle in row(driver, canary_id).text


def gate_state(driver: WebDriver, canary_id: str, gate: str) -> str:
    """`open`, `closed` or `stale`, as the row shows the gate or the rollback gate."""
    element = row(driver, canary_id).find_element(By.CSS_SELECTOR, f'[data-gate="{gate}"]')
    return str(element.get_attribute("data-state"))


def click(driver: WebDriver, css: str, scope: str = "") -> None:
    """Click a visible, enabled element, found again if a poll rebuilt it meanwhile."""

    def clicked(d: WebDriver) -> bool:
        parent = d.find_element(By.CSS_SELECTOR, scope) if scope else d
        element = parent.find_element(By.CSS_SELECTOR, css)
        if not (element.is_displayed() and element.is_enabled()):
            return False
        element.click()
        return True

    until(driver, clicked, f"{scope} {css} to be clickable")


def act(driver: WebDriver, scope: str, action: str, *, confirm: bool = True) -> None:
    """Press an action button, then the dialog's confirm (or cancel) button."""
    click(driver, f'button[data-action="{action}"]', scope)
    until(driver, lambda d: d.find_element(By.ID, "confirm").get_attribute("open") is not None,
          "the confirmation dialog")
    click(driver, f'dialog button[data-action="{"confirm" if confirm else "cancel"}"]')
    until(driver, lambda d: d.find_element(By.ID, "confirm").get_attribute("open") is None,
          "the dialog to close")


def open_console(driver: WebDriver, service: Service, path: str = "/ui/") -> None:
    """Load a console page and wait for its first data."""
    driver.get(f"http://127.0.0.1:{service.port}{path}")
    until(driver, lambda d: d.find_element(By.ID, "updated").text.startswith("updated"),
          "the page's first poll")


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    """A webhook receiver for the service's events."""
    receiver = WebhookSink()
    yield receiver
    receiver.close()


@pytest.fixture
def service(start_service: StartService, tmp_path: Path, sink: WebhookSink) -> Iterator[Service]:
    """The service on durable state, forwarding events to `sink`, and to a Slack nobody runs."""
    started = start_service(f"-state={tmp_path / 'state'}", "-log-level=info",
                            f"-event-webhook-url={sink.url}",
                            "-slack-url=http://127.0.0.1:1/services/T0/B0/x")
    started.wait_healthy()
    yield started
    assert started.stop() == 0  # SIGTERM: running tasks end with it


@pytest.fixture
def token_service(start_service: StartService, tmp_path: Path, token_file: Path
                  ) -> Iterator[Service]:
    """The service with -token-file: the console and the API need a token."""
    started = start_service(f"-state={tmp_path / 'state'}", f"-token-file={token_file}")
    started.wait_healthy()
    yield started
    assert started.stop() == 0


def seed(port: int, token: str = "") -> None:
    """Flagger's calls for three canaries: checks, a load run, a gate check and events."""
    assert call(port, "/", canary("podinfo", "test", "Progressing", "pod-1", {
        "type": "bash", "cmd": "echo ready"}), token=token) == (200, "")
    load = {"type": "load", "url": f"http://127.0.0.1:{port}/healthz", "requests": "40",
            "rate": "40", "concurrency": "2", "wait": "true"}
    status, text = call(port, "/", canary("frontend", "shop", "Progressing", "front-7", load),
                        token=token)
    assert status == 200, text
    assert call(port, "/gate/check", canary("podinfo", "test", "WaitingPromotion", "pod-1"),
                token=token) == (403, "Forbidden")
    failing = {"type": "bash", "cmd": "echo 'smoke test: expected 200, got 503' >&2; exit 1"}
    assert call(port, "/", canary("backend", "shop", "Progressing", "back-3", failing),
                token=token)[0] == 500
    events = [
        ("podinfo", "test", "WaitingPromotion", "pod-1", "Normal",
         "Halt podinfo.test advancement waiting for approval confirm-promotion"),
        ("frontend", "shop", "Progressing", "front-7", "Normal",
         "Advance frontend.shop canary weight 20"),
        ("backend", "shop", "Failed", "back-3", "Warning",
         "Canary failed! Scaling down backend.shop"),
    ]
    for name, namespace, phase, checksum, event_type, message in events:
        event = {"eventMessage": message, "eventType": event_type}
        assert call(port, "/events", canary(name, namespace, phase, checksum, event),
                    token=token) == (202, "")


def test_canaries_appear_as_flagger_calls(
    browser: WebDriver, service: Service, sink: WebhookSink,
    browser_errors: Callable[[], list[str]],
) -> None:
    """An open page shows each canary Flagger calls about, with tasks, results and deliveries."""
    open_console(browser, service)
    assert browser.find_element(By.ID, "empty").is_displayed()
    seed(service.port)
    for canary_id in ("podinfo.test", "frontend.shop", "backend.shop"):
        until(browser, lambda d, c=canary_id: row(d, c), f"the row of {canary_id}")
    until(browser, lambda d: row_text(d, "podinfo.test", "WaitingPromotion"), "phase")
    assert "pod-1" in row(browser, "podinfo.test").text
    assert gate_state(browser, "podinfo.test", "gate") == "closed"
    until(browser, lambda d: row_text(d, "frontend.shop", "req/s"), "the load run's result")
    frontend = row(browser, "frontend.shop").text
    assert "p99" in frontend and "0.0% errors" in frontend and "40 requests" in frontend
    until(browser, lambda d: row_text(d, "backend.shop", "expected 200, got 503"),
          "the failed check's reason")
    until(browser, lambda d: row_text(d, "backend.shop", "webhook delivered"),
          "the event's delivery to the webhook sink")
    assert any("Scaling down backend.shop" in message for message in sink.messages)
    slack = row(browser, "backend.shop").find_element(By.CSS_SELECTOR, '[data-sink="slack"]')
    assert slack.get_attribute("data-state") in ("pending", "retrying")
    # the next call shows without a reload
    assert call(service.port, "/gate/check",
                canary("frontend", "shop", "WaitingPromotion", "front-7")) == (403, "Forbidden")
    until(browser, lambda d: row_text(d, "frontend.shop", "WaitingPromotion"), "the new phase")
    # text from Flagger stays text: markup in a message is shown, never run
    markup = "<img src=x onerror=\"document.title='owned'\"> <b>bold</b>"
    assert call(service.port, "/events", canary("podinfo", "test", "WaitingPromotion", "pod-1", {
        "eventMessage": markup, "eventType": "Warning"})) == (202, "")
    until(browser, lambda d: row_text(d, "podinfo.test", "<b>bold</b>"), "the message as text")
    assert not browser.find_elements(By.CSS_SELECTOR, "tr img, tr b")
    assert browser.title != "owned"
    assert browser_errors() == []


def test_approve_binds_to_revision(
    browser: WebDriver, service: Service, browser_errors: Callable[[], list[str]]
) -> None:
    """Approve from the page opens the gate for the revision shown, and no other revision."""
    port = service.port
    waiting = canary("podinfo", "test", "WaitingPromotion", "rev-1")
    assert call(port, "/gate/check", waiting) == (403, "Forbidden")
    open_console(browser, service)
    scope = 'tr[data-canary="podinfo.test"]'
    act(browser, scope, "gate-open", confirm=False)  # cancelled: nothing changes
    assert call(port, "/gate/check", waiting) == (403, "Forbidden")
    act(browser, scope, "gate-open")
    until(browser, lambda d: gate_state(d, "podinfo.test", "gate") == "open", "the gate to open")
    assert call(port, "/gate/check", waiting) == (200, "Approved")
    assert call(port, "/gate/check", {**waiting, "checksum": "rev-2"}) == (403, "Forbidden")
    # Flagger moves on to the next revision: the row shows the approval as an older revision's
    until(browser, lambda d: gate_state(d, "podinfo.test", "gate") == "stale",
          "the approval to show as stale for rev-2")
    # the canary's own page has the audit entry, and can close the gate
    open_console(browser, service, "/ui/canary/test/podinfo")
    until(browser, lambda d: "gate-open" in d.find_element(By.ID, "audit").text, "the audit")
    audit = browser.find_element(By.ID, "audit").text
    assert "anonymous" in audit and "127.0.0.1" in audit and "rev-1" in audit
    act(browser, "#summary", "gate-close")
    until(browser, lambda d: "gate-close" in d.find_element(By.ID, "audit").text, "gate-close")
    assert call(port, "/gate/check", waiting) == (403, "Forbidden")
    assert browser_errors() == []


def test_rollback_from_page(browser: WebDriver, service: Service) -> None:
    """Roll back from the page opens the rollback gate; stopping it closes the gate again."""
    port = service.port
    progressing = canary("backend", "shop", "Progressing", "back-3")
    assert call(port, "/rollback/check", progressing) == (403, "Forbidden")
    open_console(browser, service)
    scope = 'tr[data-canary="backend.shop"]'
    act(browser, scope, "rollback-open")
    until(browser, lambda d: gate_state(d, "backend.shop", "rollback") == "open", "rollback")
    assert call(port, "/rollback/check", progressing) == (200, "Approved")
    assert call(port, "/gate/check", progressing) == (403, "Forbidden")
    act(browser, scope, "rollback-close")
    until(browser, lambda d: gate_state(d, "backend.shop", "rollback") == "closed", "closed")
    assert call(port, "/rollback/check", progressing) == (403, "Forbidden")


def test_cancel_running_task(browser: WebDriver, service: Service, tmp_path: Path) -> None:
    """Cancel on a running background task stops its processes; the row shows it cancelled."""
    pid_file = tmp_path / "task.pid"
    body = canary("podinfo", "test", "Progressing", "pod-1", {
        "type": "cmd", "cmd": f"echo $$ > {pid_file}; sleep 30"})
    assert call(service.port, "/", body) == (202, "")
    open_console(browser, service)
    until(browser, lambda d: pid_file.exists() and pid_file.read_text().endswith("\n"), "the pid")
    pgid = int(pid_file.read_text())
    assert group_members(pgid)
    scope = 'tr[data-canary="podinfo.test"] li.task[data-outcome="running"]'
    act(browser, scope, "task-cancel")
    until(browser, lambda d: d.find_element(
        By.CSS_SELECTOR, 'tr[data-canary="podinfo.test"] li.task[data-outcome="cancelled"]'),
        "the task to show as cancelled")
    until(browser, lambda d: group_members(pgid) == [], "the task's processes to end")
    assert not browser.find_elements(By.CSS_SELECTOR, 'button[data-action="task-cancel"]')


def test_invisible_characters_show_as_escapes(
    browser: WebDriver, service: Service, browser_errors: Callable[[], list[str]]
) -> None:
    """A bidi override (U+202E) and zero-width characters in a command and a checksum show as
    `\\u202e`, `\\u200b` in the row, its tooltips and the confirm dialog, never raw."""
    checksum = "r\u202eev-1\u200b"
    command = "sleep 30 # \u202egnp.exe\u200b\u2066x\u2069"
    assert call(service.port, "/", canary("podinfo", "test", "Progressing", checksum, {
        "type": "cmd", "cmd": command})) == (202, "")
    open_console(browser, service)
    until(browser, lambda d: row_text(d, "podinfo.test", "sleep 30"), "the running task")
    text = row(browser, "podinfo.test").text
    assert "sleep 30 # \\u202egnp.exe\\u200b\\u2066x\\u2069" in text
    assert "r\\u202eev" in text  # the revision's first characters
    raw = ("\u202e", "\u200b", "\u2066", "\u2069")
    assert not any(char in text for char in raw)
    titles = [element.get_attribute("title") or "" for element in
              row(browser, "podinfo.test").find_elements(By.CSS_SELECTOR, "[title]")]
    assert "r\\u202eev-1\\u200b" in titles
    assert not any(char in title for title in titles for char in raw)
    scope = 'tr[data-canary="podinfo.test"] li.task[data-outcome="running"]'
    click(browser, 'button[data-action="task-cancel"]', scope)
    until(browser, lambda d: d.find_element(By.ID, "confirm").get_attribute("open") is not None,
          "the confirmation dialog")
    dialog = browser.find_element(By.ID, "confirm").text
    assert "sleep 30 # \\u202egnp.exe\\u200b" in dialog
    assert not any(char in dialog for char in raw)
    click(browser, 'dialog button[data-action="cancel"]')
    click(browser, 'button[data-action="gate-open"]', 'tr[data-canary="podinfo.test"]')
    until(browser, lambda d: "revision r\\u202eev" in d.find_element(By.ID, "confirm").text,
          "the approval's dialog, naming the revision")
    assert not any(char in browser.find_element(By.ID, "confirm").text for char in raw)
    click(browser, 'dialog button[data-action="cancel"]')
    assert browser_errors() == []


def test_login_with_token(browser: WebDriver, token_service: Service) -> None:
    """With -token-file the page asks for a token; a namespace token sees and acts on its own."""
    port = token_service.port
    waiting = canary("frontend", "shop", "WaitingPromotion", "front-7")
    assert call(port, "/gate/check", waiting, token="admin-secret-0123456789") == (403, "Forbidden")
    assert call(port, "/gate/check", canary("podinfo", "test", "WaitingPromotion", "pod-1"),
                token="admin-secret-0123456789") == (403, "Forbidden")
    browser.get(f"http://127.0.0.1:{port}/ui/")
    form = until(browser, lambda d: d.find_element(By.ID, "login-form").is_displayed() and
                 d.find_element(By.ID, "login-form"), "the sign-in form")
    assert not browser.find_element(By.ID, "content").is_displayed()
    form.find_element(By.ID, "login-token").send_keys("not-a-token")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    until(browser, lambda d: d.find_element(By.ID, "login-error").is_displayed(), "the refusal")
    login(browser, "shop-secret-0123456789")
    until(browser, lambda d: row(d, "frontend.shop"), "the shop canary")
    assert "shopper" in browser.find_element(By.ID, "session").text
    assert not browser.find_elements(By.CSS_SELECTOR, 'tr[data-canary="podinfo.test"]')
    cookie = browser.get_cookie("loadtester_session")
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert "loadtester_session" not in browser.execute_script("return document.cookie")
    act(browser, 'tr[data-canary="frontend.shop"]', "gate-open")
    until(browser, lambda d: gate_state(d, "frontend.shop", "gate") == "open", "the approval")
    assert call(port, "/gate/check", waiting, token="shop-secret-0123456789") == (200, "Approved")
    status, entries = call(port, "/api/v1/audit?namespace=shop&name=frontend", method="GET",
                           token="admin-secret-0123456789")
    assert status == 200
    assert any(entry["who"] == "shopper" and entry["action"] == "gate-open"
               for entry in json.loads(entries)["entries"])
    click(browser, "#logout")
    until(browser, lambda d: d.find_element(By.ID, "login-form").is_displayed(), "signed out")
    login(browser, "admin-secret-0123456789")
    until(browser, lambda d: row(d, "podinfo.test") and row(d, "frontend.shop"), "every canary")


def login(driver: WebDriver, token: str) -> None:
    """Sign in through the page's form."""
    field = until(driver, lambda d: d.find_element(By.ID, "login-token"), "the token field")
    field.clear()
    field.send_keys(token)
    click(driver, "#login-form button[type=submit]")
    until(driver, lambda d: d.find_element(By.ID, "content").is_displayed(), "the console")


def test_screenshot(browser: WebDriver, service: Service, tmp_path: Path) -> None:
    """A screenshot of canaries in different states (and, on request, docs/console.png)."""
    seed(service.port)
    assert call(service.port, "/", canary("podinfo", "test", "WaitingPromotion", "pod-1", {
        "type": "load", "url": f"http://127.0.0.1:{service.port}/healthz", "rate": "5",
        "duration": "10m"})) == (202, "")
    open_console(browser, service)
    until(browser, lambda d: row_text(d, "backend.shop", "webhook delivered"), "the event")
    until(browser, lambda d: row(d, "podinfo.test").find_element(
        By.CSS_SELECTOR, 'li.task[data-outcome="running"]'), "the running load")
    act(browser, 'tr[data-canary="frontend.shop"]', "gate-open")
    act(browser, 'tr[data-canary="backend.shop"]', "rollback-open")
    until(browser, lambda d: gate_state(d, "frontend.shop", "gate") == "open"
          and gate_state(d, "backend.shop", "rollback") == "open", "both changes")
    until(browser, lambda d: not d.find_element(By.ID, "flash").is_displayed(), "the flash")
    # the window just as high as the table (the browser's own frame comes on top)
    bottom = browser.execute_script("return document.getElementById('canaries')"
                                    ".getBoundingClientRect().bottom")
    frame = browser.execute_script("return window.outerHeight - window.innerHeight")
    browser.set_window_size(1500, int(bottom) + int(frame) + 24)
    shot = tmp_path / "console.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    target = os.environ.get("LOADTESTER_SCREENSHOT")
    if target:
        shutil.copyfile(shot, REPO / target)
