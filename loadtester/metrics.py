"""Every Prometheus metric of the service, defined in one place on one registry."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

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
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from loadtester.redact import redact

REGISTRY = CollectorRegistry(auto_describe=True)
_process.ProcessCollector(registry=REGISTRY)
_platform.PlatformCollector(registry=REGISTRY)

# HTTP surface
HTTP_REQUESTS = Counter(
    "loadtester_http_requests_total", "HTTP requests answered, by route and status code",
    ["path", "method", "code"], registry=REGISTRY,
)
CONNECTIONS_OPEN = Gauge(
    "loadtester_connections_open", "Client connections open now (the probe-only reserve included)",
    registry=REGISTRY,
)
CONNECTIONS_REFUSED = Counter(
    "loadtester_connections_refused_total",
    "Connections closed unserved because -max-connections were open", registry=REGISTRY,
)
HTTP_REJECTED = Counter(
    "loadtester_http_rejected_total", "Requests answered by the HTTP layer before any route: "
    "malformed (bad_request), headers or whole request too slow (header_timeout, read_timeout)",
    ["reason"], registry=REGISTRY,
)

# tasks (POST /)
TASKS_STARTED = Counter(
    "loadtester_tasks_started_total", "Task runs started, by task type", ["type"],
    registry=REGISTRY,
)
TASKS_FINISHED = Counter(
    "loadtester_tasks_finished_total",
    "Task runs ended, by task type, mode (blocking, background) and outcome (ok, failed, timeout,"
    " cancelled)",
    ["type", "mode", "outcome"], registry=REGISTRY,
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

# gates: counted in the app's store on each scrape, so gates kept across a restart and those
# opened through another replica show too; one series per kind, however many canaries
GATES_OPEN = Gauge(
    "loadtester_gates_open", "Gates open now, by kind (gate or rollback)", ["gate"],
    registry=REGISTRY,
)

# the state store in use: 1 for the one backend (memory, sqlite or redis); fallback="true" when
# it is not the store -state names (its directory could not be written)
STATE_BACKEND = Gauge(
    "loadtester_state_backend",
    "The state store in use (1), by backend (memory, sqlite, redis); fallback=\"true\" when "
    "-state's directory could not be used",
    ["backend", "fallback"], registry=REGISTRY,
)

# built-in load generator and parsed hey results: accumulated per series, rendered on scrape
LOAD_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15,
                0.2, 0.3, 0.4, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10)
# /metrics is unauthenticated and kept in memory: label values a caller chooses are capped
MAX_TARGETS = 20  # targets of one canary; the others are counted as OTHER
MAX_REQUESTS = 20  # request names of one canary and target; the others are counted as OTHER
OTHER = "other"


@dataclass
class LoadSeries:
    """Everything load tests sent to one target on behalf of one canary."""

    codes: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    buckets: list[int] = field(default_factory=lambda: [0] * (len(LOAD_BUCKETS) + 1))
    latency_sum: float = 0.0
    rate: float = 0.0
    protocol: str = ""  # what the built-in generator spoke ("HTTP/1.1", "HTTP/2"); "": unknown

    def add_latencies(self, samples: Iterable[tuple[float, int]]) -> None:
        """Count `count` requests of `seconds` latency for each (seconds, count) pair."""
        for seconds, count in samples:
            self.buckets[bisect_left(LOAD_BUCKETS, seconds)] += count
            self.latency_sum += seconds * count

    def add_buckets(self, counts: Sequence[int], latency_sum: float) -> None:
        """Add per-bucket counts (one a LOAD_BUCKETS bound, then +Inf) and their sum."""
        for index, count in enumerate(counts):
            self.buckets[index] += count
        self.latency_sum += latency_sum

    def add_codes(self, codes: Mapping[int, int]) -> None:
        for code, count in codes.items():
            self.codes[str(code)] = self.codes.get(str(code), 0) + count

    def add_errors(self, errors: Mapping[str, int]) -> None:
        for kind, count in errors.items():
            self.errors[kind] = self.errors.get(kind, 0) + count


class LoadMetrics(Collector):
    """Renders the load series as loadtester_load_* metrics."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, str, str, str], LoadSeries] = {}
        self._targets: dict[tuple[str, str], set[str]] = {}
        self._requests: dict[tuple[str, str, str], set[str]] = {}

    def labels(self, canary: str, namespace: str, target: str,
               request: str = "") -> tuple[str, str, str, str]:
        """The label values of a series: the target without credentials; OTHER for a target
        past the canary's first MAX_TARGETS, and for a request name past the first
        MAX_REQUESTS of the canary and target."""
        # label values are published on /metrics: a target never carries a credential there
        target = _capped(self._targets.setdefault((canary, namespace), set()), redact(target),
                         MAX_TARGETS)
        if request:
            request = _capped(self._requests.setdefault((canary, namespace, target), set()),
                              request, MAX_REQUESTS)
        return canary, namespace, target, request

    def series(self, canary: str, namespace: str, target: str, request: str = "") -> LoadSeries:
        """The series of one canary and target (and a scenario's request), created on first
        use; a series without a request has no `request` label, as before scenarios."""
        return self._series.setdefault(self.labels(canary, namespace, target, request),
                                       LoadSeries())

    def clear(self) -> None:
        """Forget every series and the label values counted against the caps (a test's
        fresh start: the service keeps its series for its lifetime)."""
        self._series.clear()
        self._targets.clear()
        self._requests.clear()

    def collect(self) -> Iterator[Metric]:
        labels = ["canary", "namespace", "target", "request"]
        requests = CounterMetricFamily(
            "loadtester_load_requests", "Requests sent by load tests, by answer code",
            labels=[*labels, "code"])
        errors = CounterMetricFamily(
            "loadtester_load_errors", "Load test requests that got no HTTP answer, by kind",
            labels=[*labels, "kind"])
        latency = HistogramMetricFamily(
            "loadtester_load_request_duration_seconds", "Latency of load test requests",
            labels=labels)
        rate = GaugeMetricFamily(
            "loadtester_load_rate", "Achieved request rate of the latest load test (requests/s)",
            labels=labels)
        protocol = GaugeMetricFamily(
            "loadtester_load_protocol", "The protocol the built-in generator's latest load test "
            "spoke (1), by protocol (HTTP/1.1, HTTP/2)", labels=[*labels, "protocol"])
        for key, series in list(self._series.items()):
            for code, count in series.codes.items():
                requests.add_metric([*key, code], count)
            for kind, count in series.errors.items():
                errors.add_metric([*key, kind], count)
            cumulative, buckets = 0, []
            for bound, count in zip((*LOAD_BUCKETS, float("inf")), series.buckets, strict=True):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else str(float(bound)), cumulative))
            latency.add_metric(list(key), buckets, series.latency_sum)
            rate.add_metric(list(key), series.rate)
            if series.protocol:
                protocol.add_metric([*key, series.protocol], 1)
        for family in (requests, errors, latency, rate, protocol):
            for sample in family.samples:
                if sample.labels.get("request") == "":
                    del sample.labels["request"]
        yield from (requests, errors, latency, rate, protocol)


def _capped(known: set[str], value: str, limit: int) -> str:
    """`value` if it is one of the first `limit` values seen, else OTHER."""
    if value in known:
        return value
    if len(known) < limit:
        known.add(value)
        return value
    return OTHER


LOAD = LoadMetrics()
REGISTRY.register(LOAD)
LOAD_CHECK_FAILURES = Counter(
    "loadtester_load_check_failures", "Answers of a scenario's requests that failed a response"
    " check, by request and check (status, body, maxLatency)",
    ["canary", "namespace", "request", "check"], registry=REGISTRY,
)
LOAD_SHARES = Counter(
    "loadtester_load_shares_total", "Shares of load runs spread over replicas (metadata "
    "replicas), counted by the receiving replica, by how they ended (done, lost, failed, "
    "missing)", ["state"], registry=REGISTRY,
)
LOAD_REPLICAS_LIVE = Gauge(
    "loadtester_load_replicas_live", "Replicas taking shares of load runs, as this replica "
    "last saw them (its heartbeat, every second)", registry=REGISTRY,
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
