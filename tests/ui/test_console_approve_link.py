"""From chat to the decision in a real browser (headless chromium through selenium, the real
service process): the link of a "waiting for approval" message opens the canary's page with
the approve dialog ready for that revision, after sign-in; approving still takes the click."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.support.console import HAVE_BROWSER, NO_BROWSER, WAIT, call, until
from tests.support.service import Service, StartService
from tests.support.webhook_sink import WebhookSink

pytestmark = [pytest.mark.system, pytest.mark.skipif(not HAVE_BROWSER, reason=NO_BROWSER)]

CONSOLE = "https://loadtester.example.com"
ADMIN = "admin-secret-0123456789"
GATE_MESSAGE = "Halt podinfo.test advancement waiting for promotion approval promotion-gate"


def dialog_open(driver: WebDriver) -> bool:
    """True while the confirmation dialog is shown."""
    return driver.find_element(By.ID, "confirm").get_attribute("open") is not None


def waiting(checksum: str, metadata: dict[str, str] | None = None) -> dict[str, Any]:
    """podinfo.test waiting for promotion at `checksum`, as Flagger posts it."""
    body: dict[str, Any] = {"name": "podinfo", "namespace": "test",
                            "phase": "WaitingPromotion", "checksum": checksum}
    if metadata is not None:
        body["metadata"] = metadata
    return body


def chat_link(sink: WebhookSink, port: int) -> str:
    """The console link of the message the service sent, pointed at the test's service."""
    deadline = time.monotonic() + WAIT
    while not sink.bodies:
        assert time.monotonic() < deadline, "no message reached the sink"
        time.sleep(0.05)
    link = str(sink.bodies[0]["console_url"])
    assert link.startswith(CONSOLE + "/")
    return f"http://127.0.0.1:{port}" + link.removeprefix(CONSOLE)


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    """A webhook receiver for the service's messages."""
    receiver = WebhookSink()
    yield receiver
    receiver.close()


def start(start_service: StartService, tmp_path: Path, sink: WebhookSink,
          *extra: str) -> Service:
    """The service with -console-url, sending its messages to `sink`."""
    started = start_service(f"-state={tmp_path / 'state'}", f"-console-url={CONSOLE}",
                            f"-event-webhook-url={sink.url}", *extra)
    started.wait_healthy()
    return started


def test_link_signs_in_then_opens_the_dialog_and_confirm_approves(
    browser: WebDriver, start_service: StartService, tmp_path: Path, sink: WebhookSink,
    token_file: Path, browser_errors: Callable[[], list[str]],
) -> None:
    """The message's ?approve link goes to sign-in first; signed in, the dialog is open for
    that revision and nothing is approved yet; Approve opens the gate for that revision."""
    service = start(start_service, tmp_path, sink, f"-token-file={token_file}")
    port = service.port
    assert call(port, "/gate/check", waiting("rev-1"), token=ADMIN) == (403, "Forbidden")
    event = {"eventMessage": GATE_MESSAGE, "eventType": "Warning"}
    assert call(port, "/events", waiting("rev-1", event), token=ADMIN) == (202, "")
    link = chat_link(sink, port)
    assert link.endswith("/ui/canary/test/podinfo?approve=rev-1")
    browser.get(link)
    until(browser, lambda d: d.find_element(By.ID, "login-form").is_displayed(), "sign-in")
    assert not browser.find_element(By.ID, "content").is_displayed()
    assert not dialog_open(browser)
    browser.find_element(By.ID, "login-token").send_keys(ADMIN)
    browser.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
    until(browser, dialog_open, "the approve dialog")
    dialog = browser.find_element(By.ID, "confirm")
    assert "Approve podinfo.test?" in dialog.text and "revision rev-1 only" in dialog.text
    focused = browser.switch_to.active_element
    assert dialog.find_elements(By.CSS_SELECTOR, "button") and focused.get_attribute(
        "data-action") == "cancel"  # inside the dialog, on the safe choice
    # opening the link, signed in, approved nothing
    assert call(port, "/gate/check", waiting("rev-1"), token=ADMIN) == (403, "Forbidden")
    dialog.find_element(By.CSS_SELECTOR, 'button[data-action="confirm"]').click()
    until(browser, lambda d: not dialog_open(d), "the dialog to close")
    until(browser, lambda d: d.find_element(By.CSS_SELECTOR, '[data-gate="gate"]')
          .get_attribute("data-state") == "open", "the gate to show open")
    assert call(port, "/gate/check", waiting("rev-1"), token=ADMIN) == (200, "Approved")
    assert call(port, "/gate/check", waiting("rev-2"), token=ADMIN) == (403, "Forbidden")
    assert browser_errors() == []
    assert service.stop() == 0


def test_link_for_another_revision_offers_nothing(
    browser: WebDriver, start_service: StartService, tmp_path: Path, sink: WebhookSink,
    browser_errors: Callable[[], list[str]],
) -> None:
    """A link naming an older revision than the canary's current one says so plainly and
    opens no dialog; the gate stays closed."""
    service = start(start_service, tmp_path, sink)
    port = service.port
    assert call(port, "/gate/check", waiting("rev-1")) == (403, "Forbidden")
    assert call(port, "/gate/check", waiting("rev-2")) == (403, "Forbidden")
    browser.get(f"http://127.0.0.1:{port}/ui/canary/test/podinfo?approve=rev-1")
    note = until(browser, lambda d: d.find_element(By.ID, "approve-note").is_displayed()
                 and d.find_element(By.ID, "approve-note"), "the note")
    assert note.get_attribute("data-state") == "mismatch"
    assert "rev-1" in note.text and "rev-2" in note.text and "approves nothing" in note.text
    assert not dialog_open(browser)
    assert call(port, "/gate/check", waiting("rev-2")) == (403, "Forbidden")
    assert browser_errors() == []
    assert service.stop() == 0
