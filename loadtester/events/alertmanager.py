"""Prometheus Alertmanager v2: a Warning event or phase Failed fires an alert; Succeeded
resolves it by sending the same labels with `endsAt`.

Labels: alertname, canary, namespace, severity (warning for Warning events, critical for
phase Failed) plus the sink's own `labels`. Resolving sends both severities, so that whichever
fired ends. Events that neither fire nor resolve are not sent to this sink at all.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import Field

from loadtester.event import Event
from loadtester.events.limits import cut
from loadtester.events.sink import Duration, HttpCall, SinkBase, SinkOptions, json_call

API_PATH = "/api/v2/alerts"
# The v2 API documents no size for annotations, but it keeps them in memory and copies them
# into every notification of every receiver (whose own tools have limits): 16 KiB each.
ANNOTATION_LIMIT = 16 * 1024


class AlertmanagerOptions(SinkOptions):
    type: Literal["alertmanager"]
    alertname: str = "FlaggerCanaryAlert"
    labels: dict[str, str] = Field(default_factory=dict)
    resolve_phases: list[str] = Field(default_factory=lambda: ["Succeeded"])
    ttl: Duration = 24 * 3600.0
    generator_url: str = ""


class AlertmanagerSink(SinkBase):
    kind = "alertmanager"

    def __init__(self, name: str, options: AlertmanagerOptions, url: str) -> None:
        base = url.rstrip("/")
        super().__init__(name, options, base if base.endswith(API_PATH) else base + API_PATH)
        self.options = options

    def labels(self, event: Event, severity: str) -> dict[str, str]:
        return {**self.options.labels, "alertname": self.options.alertname,
                "canary": event.name, "namespace": event.namespace, "severity": severity}

    def alerts(self, event: Event, count: int) -> list[dict[str, Any]]:
        """The alerts this event posts; empty when it neither fires nor resolves."""
        at = event.time
        annotations = {key: cut(value, ANNOTATION_LIMIT, "bytes") for key, value in {
            "summary": self.render_title(event, count),
            "description": self.render_text(event, count),
            "phase": event.phase, "checksum": event.checksum}.items()}
        link = self.link(event)
        if link is not None:  # -console-url only
            annotations["console_url"] = link.url
        extra = {"generatorURL": self.options.generator_url} if self.options.generator_url else {}
        if event.phase in self.options.resolve_phases:
            ends = at.isoformat()
            return [{"labels": self.labels(event, severity), "annotations": annotations,
                     "endsAt": ends, **extra} for severity in ("critical", "warning")]
        if event.phase == "Failed" or event.event_type == "Warning":
            severity = "critical" if event.phase == "Failed" else "warning"
            alert: dict[str, Any] = {"labels": self.labels(event, severity),
                                     "annotations": annotations, "startsAt": at.isoformat(),
                                     **extra}
            if self.options.ttl > 0:
                alert["endsAt"] = (at + timedelta(seconds=self.options.ttl)).isoformat()
            return [alert]
        return []

    def accepts(self, event: Event) -> bool:
        return (event.phase in self.options.resolve_phases or event.phase == "Failed"
                or event.event_type == "Warning")

    def request(self, event: Event, count: int) -> HttpCall:
        return json_call(self.url, self.alerts(event, count))
