"""Every Prometheus metric of the service, defined in one place on one registry."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import (
    platform_collector as _platform,
)
from prometheus_client import (
    process_collector as _process,
)

REGISTRY = CollectorRegistry(auto_describe=True)
_process.ProcessCollector(registry=REGISTRY)
_platform.PlatformCollector(registry=REGISTRY)

# HTTP surface
HTTP_REQUESTS = Counter(
    "loadtester_http_requests_total", "HTTP requests answered, by route and status code",
    ["path", "method", "code"], registry=REGISTRY,
)

# tasks (POST /)
TASKS_STARTED = Counter(
    "loadtester_tasks_started_total", "Task runs started, by task type", ["type"],
    registry=REGISTRY,
)
TASKS_FINISHED = Counter(
    "loadtester_tasks_finished_total",
    "Task runs ended, by task type and outcome (ok, failed, timeout, cancelled)",
    ["type", "outcome"], registry=REGISTRY,
)
TASK_DURATION = Histogram(
    "loadtester_task_duration_seconds", "Wall-clock duration of task runs", ["type"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
    registry=REGISTRY,
)
TASKS_RUNNING = Gauge(
    "loadtester_tasks_running", "Task runs in progress", ["type", "mode"], registry=REGISTRY,
)
TASKS_SKIPPED = Counter(
    "loadtester_tasks_skipped_total",
    "Background task requests skipped because the same task is already running", ["type"],
    registry=REGISTRY,
)

# gates
GATE_OPEN = Gauge(
    "loadtester_gate_open", "1 when a gate is open, 0 when closed",
    ["gate", "canary", "namespace"], registry=REGISTRY,
)

# built-in load generator and parsed hey results
LOAD_REQUESTS = Counter(
    "loadtester_load_requests_total", "Requests sent by load tests, by answer code",
    ["canary", "namespace", "target", "code"], registry=REGISTRY,
)
LOAD_DURATION = Histogram(
    "loadtester_load_request_duration_seconds", "Latency of load test requests",
    ["canary", "namespace", "target"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
LOAD_ERRORS = Counter(
    "loadtester_load_errors_total", "Load test requests that got no HTTP answer, by kind",
    ["canary", "namespace", "target", "kind"], registry=REGISTRY,
)
LOAD_RATE = Gauge(
    "loadtester_load_rate", "Achieved request rate of the latest load test (requests/s)",
    ["canary", "namespace", "target"], registry=REGISTRY,
)

# events
EVENTS_RECEIVED = Counter(
    "loadtester_events_received_total", "Flagger events received, by event type and phase",
    ["type", "phase"], registry=REGISTRY,
)
EVENT_DELIVERIES = Counter(
    "loadtester_event_deliveries_total",
    "Event delivery attempts, by sink and outcome (delivered, retry, dead)",
    ["sink", "outcome"], registry=REGISTRY,
)
EVENT_DELIVERY_SECONDS = Histogram(
    "loadtester_event_delivery_seconds", "Time from receiving an event to delivering it",
    ["sink"], buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 1800, 3600),
    registry=REGISTRY,
)
OUTBOX_DEPTH = Gauge(
    "loadtester_outbox_depth", "Event deliveries waiting in the outbox", ["sink"],
    registry=REGISTRY,
)
EVENTS_FOLDED = Counter(
    "loadtester_events_folded_total", "Repeated events folded into an earlier one",
    ["sink"], registry=REGISTRY,
)


def render() -> bytes:
    """The registry in Prometheus text format."""
    return generate_latest(REGISTRY)
