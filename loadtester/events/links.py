"""Links from a message to the canary's console page (-console-url).

Two kinds of message carry one: a canary waiting for approval (phase WaitingPromotion, or the
warning Flagger records at a closed confirm-rollout, confirm-traffic-increase or
confirm-promotion gate: "Halt podinfo.test advancement waiting for [traffic increase |
promotion ]approval NAME"), which links to `<console>/ui/canary/NS/NAME?approve=CHECKSUM`,
and a load run's result (metadata `loadtesterResult: load`), which links to the page itself.
Any other message has no link, so without -console-url every message stays as it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from loadtester.event import LOAD_RESULT_KEY, Event

LOAD_RESULT = "load"
WAITING_PHASE = "WaitingPromotion"
# Flagger's recordEventWarningf at each manual gate (pkg/controller/scheduler_hooks.go);
# "waiting for rollout to finish" is no gate and does not match
GATE_MESSAGE = re.compile(
    r"^Halt \S+ advancement waiting for (?:traffic increase |promotion )?approval(?:\s|$)")


@dataclass(frozen=True)
class ConsoleLink:
    """Where a message points: the URL and the words of its button."""

    url: str
    label: str


def canary_page(console_url: str, namespace: str, name: str) -> str:
    """The console page of one canary, its path parts URL-encoded."""
    return f"{console_url}/ui/canary/{quote(namespace, safe='')}/{quote(name, safe='')}"


def waits_for_approval(event: Event) -> bool:
    """True for an event saying that a canary waits at a gate."""
    return event.phase == WAITING_PHASE or bool(GATE_MESSAGE.match(event.message))


def console_link(console_url: str, event: Event) -> ConsoleLink | None:
    """The link `event`'s message carries, or None (no -console-url, or another event)."""
    if not console_url:
        return None
    page = canary_page(console_url, event.namespace, event.name)
    if event.metadata.get(LOAD_RESULT_KEY) == LOAD_RESULT:
        return ConsoleLink(page, "Open in the console")
    if not waits_for_approval(event):
        return None
    if not event.checksum:
        return ConsoleLink(page, "Open in the console")
    return ConsoleLink(f"{page}?approve={quote(event.checksum, safe='')}", "Review and approve")
