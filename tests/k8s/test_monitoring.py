"""The Grafana dashboard and the PrometheusRule of k8s/examples agree with the service's metrics.

promtool (Debian `prometheus`) checks the alert rules and runs their unit tests
(tests/data/monitoring/alerts-test.yaml), parses every query of the dashboard (its template
variables replaced by values) as a recording rule, and evaluates the key ones on series made
from a real scrape of the service as Prometheus stores them: the service's metric names and
labels plus the target labels of the PodMonitor scrape (job, namespace, pod, instance; its
honorLabels keeps the canary's namespace on the load metrics), from two replicas. Every
metric and label the dashboard and the rules use must appear in that scrape. The dashboard
ConfigMap and the PrometheusRule are rendered by `kubectl kustomize` when kubectl is on PATH
and, in any case, built here from the files.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import shutil
import subprocess
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from loadtester.keys import EVENTS, RUNNER
from tests.support.client import ClientFactory
from tests.support.events import event
from tests.support.k8s import (
    EXAMPLES,
    KUBECTL,
    RENDERERS,
    ROOT,
    Doc,
    kustomize,
    load_yaml,
    one,
)
from tests.support.metrics import scrape, value
from tests.support.servers import CountingServer, Reply
from tests.support.tasks import payload, post, wait_idle

# the one copy of the dashboard and the rules, read by the chart and by k8s/examples' kustomizations
GRAFANA = ROOT / "charts" / "loadtester" / "files" / "grafana"
DASHBOARD = GRAFANA / "dashboard.json"
ALERTS = ROOT / "charts" / "loadtester" / "files" / "alerts"
GRAFANA_EXAMPLE = EXAMPLES / "grafana"  # applies GRAFANA in Grafana's namespace
ALERT_TESTS = ROOT / "tests" / "data" / "monitoring" / "alerts-test.yaml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (apt-get install prometheus)")

# The alerts: dead-lettered events, an outbox not draining, failed background tasks, and a
# load run's error rate.
ALERT_NAMES = {"LoadtesterEventsDeadLettered", "LoadtesterOutboxNotDraining",
               "LoadtesterBackgroundTaskFailed", "LoadtesterLoadErrorRateHigh"}

# The scrape as Prometheus stores it: the PodMonitor's target labels, two replicas.
JOB = "test/flagger-loadtester"
SERVICE_NAMESPACE = "test"
REPLICAS = ("flagger-loadtester-0", "flagger-loadtester-1")
TARGET_LABELS = frozenset({"job", "namespace", "pod", "instance"})
CANARY, CANARY_NAMESPACE = "monitoring-a", "shop"
# The dashboard's template variables and Grafana's own, as the test sets them.
VARIABLES = {"job": JOB, "namespace": CANARY_NAMESPACE, "canary": CANARY,
             "__rate_interval": "5m", "__range": "10m"}
STEPS = 20  # minutes of input series
EVAL_MINUTES = 15
SINKS = {"monitoring-chat": 200, "monitoring-broken": 404, "monitoring-down": 503}
METRIC = re.compile(r"\bloadtester_[a-z_]+")
SELECTOR = re.compile(r"(?P<name>\bloadtester_[a-z_]+)?\{(?P<matchers>[^{}]*)\}")
MATCHER = re.compile(r'(\w+)\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"')
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")

Labels = frozenset[tuple[str, str]]


# --- the files ---------------------------------------------------------------------------


def dashboard() -> Doc:
    """The dashboard JSON."""
    doc: Doc = json.loads(DASHBOARD.read_text())
    return doc


def panels(doc: Doc) -> list[Doc]:
    """Every panel that is not a row, those of collapsed rows included."""
    found: list[Doc] = []
    for panel in doc["panels"]:
        found.extend(panel.get("panels", []) if panel["type"] == "row" else [panel])
    return found


def queries(doc: Doc) -> dict[str, str]:
    """"panel title/refId" -> PromQL of every panel target."""
    return {f"{panel['title']}/{target['refId']}": target["expr"]
            for panel in panels(doc) for target in panel["targets"]}


def variable_selectors(doc: Doc) -> dict[str, str]:
    """Template variable name -> the series selector of its label_values() query."""
    selectors = {}
    for variable in doc["templating"]["list"]:
        if variable["type"] == "query":
            match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", variable["query"])
            assert match, f"{variable['name']}: not a label_values() query"
            selectors[variable["name"]] = match[1]
    return selectors


def substitute(expr: str) -> str:
    """The query with its template variables set to the test's values."""
    return re.sub(r"\$\{?(\w+)\}?", lambda match: VARIABLES[match[1]], expr)


def plain_configmap() -> Doc:
    """The ConfigMap k8s/examples/grafana generates, built here from its fields."""
    kustomization = yaml.safe_load((GRAFANA / "kustomization.yaml").read_text())
    example = yaml.safe_load((GRAFANA_EXAMPLE / "kustomization.yaml").read_text())
    options = kustomization["generatorOptions"]
    assert options["disableNameSuffixHash"] is True
    (generator,) = kustomization["configMapGenerator"]
    assert set(generator) == {"name", "files"}, "only files go into the ConfigMap"
    data = {}
    for entry in generator["files"]:
        key, _, path = entry.rpartition("=")
        data[key or path] = (GRAFANA / path).read_text()
    return {"apiVersion": "v1", "kind": "ConfigMap", "data": data,
            "metadata": {"name": generator["name"], "namespace": example["namespace"],
                         "labels": options["labels"]}}


@pytest.fixture(params=RENDERERS)
def configmap(request: pytest.FixtureRequest) -> Doc:
    """The dashboard ConfigMap, rendered by kubectl or built from the kustomization."""
    if request.param == "kubectl":
        if KUBECTL is None:
            pytest.skip("kubectl is not on PATH")
        return one(kustomize(GRAFANA_EXAMPLE), "ConfigMap")
    return plain_configmap()


@pytest.fixture(params=RENDERERS)
def rule_groups(request: pytest.FixtureRequest) -> list[Doc]:
    """The rule groups of the PrometheusRule, rendered by kubectl or read as YAML."""
    if request.param == "kubectl":
        if KUBECTL is None:
            pytest.skip("kubectl is not on PATH")
        docs = kustomize(EXAMPLES / "alerts")
    else:
        docs = load_yaml(ALERTS / "prometheusrule.yaml")
    rule = one(docs, "PrometheusRule", "flagger-loadtester")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    groups: list[Doc] = rule["spec"]["groups"]
    return groups


def alerts(groups: list[Doc]) -> list[Doc]:
    """Every alerting rule of the groups."""
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def promtool(*args: str | Path) -> str:
    """Run promtool; its output, asserting success."""
    assert PROMTOOL is not None
    result = subprocess.run([PROMTOOL, *map(str, args)], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def write_recording_rules(path: Path, exprs: Iterable[str]) -> Path:
    """A rules file recording each expression, for promtool to parse."""
    rules = [{"record": f"dashboard:query_{index}", "expr": expr}
             for index, expr in enumerate(exprs)]
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    return path


def exprs_of(groups: list[Doc]) -> list[str]:
    """The expressions of every rule."""
    return [rule["expr"] for group in groups for rule in group["rules"]]


# --- a real scrape -----------------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    """One series of the scrape as Prometheus stores it (the value it was scraped with)."""

    name: str
    labels: dict[str, str]
    value: float
    counter: bool

    def input_series(self) -> dict[str, str]:
        """The series as promtool input: a counter growing by 60 x value a minute (a rate of
        `value` per second), a gauge holding value."""
        values = (f"0+{60 * self.value!r}x{STEPS}" if self.counter
                  else f"{self.value!r}+0x{STEPS}")
        labels = frozenset(self.labels.items())
        return {"series": self.name + promql_labels(labels), "values": values}

    def rate(self) -> float:
        """Its rate() per second."""
        return self.value

    def increase(self, minutes: int) -> float:
        """Its increase() over that many minutes."""
        return 60 * minutes * self.value

    @property
    def now(self) -> float:
        """The value at the evaluation time."""
        return 60 * EVAL_MINUTES * self.value if self.counter else self.value


def samples_of(text: str) -> dict[str, list[dict[str, str]]]:
    """Sample name -> the label sets it was scraped with."""
    found: dict[str, list[dict[str, str]]] = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[sample.name].append(sample.labels)
    return found


def stored_series(text: str) -> list[Stored]:
    """The loadtester_* series of a scrape, as two replicas' Prometheus series (exported
    labels win over target labels, as with honorLabels); `_created` and `_sum` left out."""
    stored = []
    for family in text_string_to_metric_families(text):
        if not family.name.startswith("loadtester_"):
            continue
        for sample in family.samples:
            if sample.name.endswith(("_created", "_sum")):
                continue
            for index, pod in enumerate(REPLICAS):
                target = {"job": JOB, "namespace": SERVICE_NAMESPACE, "pod": pod,
                          "instance": f"10.0.0.{index + 1}:8080"}
                stored.append(Stored(sample.name, {**target, **sample.labels}, sample.value,
                                     family.type in ("counter", "histogram")))
    return stored


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait (up to 20 s) until an async check is true."""
    for _ in range(1000):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"still not {what}")


def answering(status: int) -> Callable[[int], Reply]:
    """A server behaviour: every request answered with this status."""
    return lambda _n: Reply(status=status)


@pytest.fixture
async def real_scrape(make_client: ClientFactory, tmp_path: Path) -> str:
    """/metrics of the real app after load tests, tasks, gates and event deliveries."""
    servers = {sink: await CountingServer(answering(status)).start()
               for sink, status in SINKS.items()}
    # 1 in 4 requests answered 503, 1 in 4 slow: latencies in more than one bucket
    target = await CountingServer(
        lambda n: Reply(status=503) if n % 4 == 3 else Reply(delay=0.02 * (n % 4 == 2))).start()
    config = tmp_path / "events.yaml"
    config.write_text(
        "sinks:\n" + "".join(f"  {sink}: {{type: webhook, url: '{server.url}'}}\n"
                             for sink, server in servers.items())
        # a failed delivery waits in the outbox for the rest of the test
        + "delivery: {min_backoff: 1h, max_backoff: 1h}\n")
    try:
        client = await make_client(config=str(config))
        canary = {"name": CANARY, "namespace": CANARY_NAMESPACE}
        load = {"type": "load", "url": target.url, "requests": "40", "concurrency": "2",
                "wait": "true"}
        assert (await post(client, payload(load, **canary)))[0] == 200
        refused = {**load, "url": "http://127.0.0.1:1/", "requests": "8"}
        assert (await post(client, payload(refused, **canary)))[0] == 500
        other = {**load, "requests": "10"}  # another canary, left out by the variables
        assert (await post(client, payload(other, name="monitoring-b",
                                           namespace="elsewhere")))[0] == 200
        assert (await post(client, payload({"type": "bash", "cmd": "true"})))[0] == 200
        assert (await post(client, payload({"type": "bash", "cmd": "exit 1"})))[0] == 500
        assert (await post(client, payload({"cmd": "exit 3"}, name="monitoring-bg")))[0] == 202
        await wait_idle(client)
        sleeper = payload({"cmd": "sleep 30"}, name="monitoring-sleep")
        assert [(await post(client, sleeper))[0] for _ in range(2)] == [202, 202]  # one skipped
        await client.app[RUNNER].cancel_canary("monitoring-sleep", "test", "test over")
        await wait_idle(client)
        assert (await post(client, canary, "/gate/open"))[0] == 202
        assert (await post(client, canary, "/rollback/open"))[0] == 202
        queue = client.app[EVENTS].queue

        def settled(dead: int) -> Callable[[], Awaitable[bool]]:
            async def check() -> bool:
                return bool(await queue.counts() == {"delivered": 1, "dead": dead, "pending": 1})
            return check

        sent = event(name=CANARY, namespace=CANARY_NAMESPACE)
        assert (await client.post("/events", json=sent)).status == 202
        await until(settled(1), "delivered, dead-lettered and waiting")
        # the same message again: folded into the delivery still waiting (and the delivered
        # one), dead-lettered again by the sink that refuses it
        sent["metadata"]["timestamp"] = str(int(sent["metadata"]["timestamp"]) + 1)
        assert (await client.post("/events", json=sent)).status == 202
        await until(settled(2), "folded and dead-lettered")
        async with client.get("/metrics") as response:
            assert response.status == 200
            return str(await response.text())
    finally:
        for server in [*servers.values(), target]:
            await server.close()


# --- expected results of the key queries, computed from the stored series ----------------


def grouped(series: Iterable[Stored], by: tuple[str, ...], of: Callable[[Stored], float],
            combine: Callable[[float, float], float] = lambda a, b: a + b) -> dict[Labels, float]:
    """Aggregate one value of each series by some labels (sum unless `combine` says)."""
    result: dict[Labels, float] = {}
    for item in series:
        key = frozenset((label, item.labels.get(label, "")) for label in by)
        result[key] = combine(result[key], of(item)) if key in result else of(item)
    return result


def bucket_quantile(q: float, buckets: dict[float, float]) -> float:
    """histogram_quantile() of one group of buckets, as Prometheus computes it."""
    bounds = sorted(buckets)
    assert bounds[-1] == math.inf
    rank = q * buckets[math.inf]
    index = next((i for i, bound in enumerate(bounds[:-1]) if buckets[bound] >= rank),
                 len(bounds) - 1)
    if index == len(bounds) - 1:
        return bounds[-2]
    start, end, count = 0.0, bounds[index], buckets[bounds[index]]
    if index > 0:
        start = bounds[index - 1]
        count -= buckets[start]
        rank -= buckets[start]
    return start + (end - start) * (rank / count)


def expected_results(stored: list[Stored]) -> dict[str, dict[Labels, float]]:
    """"panel title/refId" -> the samples its query must give at the evaluation time."""

    def named(*names: str, **labels: str) -> list[Stored]:
        return [s for s in stored if s.name in names
                and all(s.labels.get(key) == val for key, val in labels.items())]

    load_filter = {"job": JOB, "namespace": CANARY_NAMESPACE, "canary": CANARY}
    sent = named("loadtester_load_requests_total", "loadtester_load_errors_total",
                 **load_filter)
    # no answer, a 5xx or a gRPC code other than OK
    failed = [s for s in sent if "kind" in s.labels or (
        re.fullmatch(r"5..|[A-Z][A-Za-z]+", s.labels["code"]) and s.labels["code"] != "OK")]
    per_canary = ("namespace", "canary")
    all_sent = grouped(sent, per_canary, Stored.rate)
    all_failed = grouped(failed, per_canary, Stored.rate)
    buckets: dict[Labels, dict[float, float]] = defaultdict(dict)
    for key, rate in grouped(named("loadtester_load_request_duration_seconds_bucket",
                                   **load_filter), (*per_canary, "le"), Stored.rate).items():
        labels = dict(key)
        bound = float(labels.pop("le"))
        buckets[frozenset(labels.items())][bound] = rate

    def once_per_tester(name: str, label: str) -> dict[Labels, float]:
        per_tester = grouped(named(name, job=JOB), ("job", "namespace", label),
                             lambda s: s.now, max)
        total: dict[Labels, float] = defaultdict(float)
        for key, val in per_tester.items():
            total[frozenset({(label, dict(key)[label])})] += val
        return dict(total)

    tasks = named("loadtester_tasks_finished_total", job=JOB)
    return {
        "Load rate per canary/A": all_sent,
        "Load rate per canary/B": grouped(named("loadtester_load_rate", **load_filter),
                                          per_canary, lambda s: s.now, max),
        "p99 latency per canary/A": {key: bucket_quantile(0.99, group)
                                     for key, group in buckets.items()},
        "Error rate per canary/A": {key: all_failed.get(key, 0.0) / total
                                    for key, total in all_sent.items()},
        "Gates open/A": once_per_tester("loadtester_gates_open", "gate"),
        "Outbox depth/A": once_per_tester("loadtester_outbox_depth", "sink"),
        "Dead letters/A": grouped(named("loadtester_event_deliveries_total", job=JOB,
                                        outcome="dead"), ("sink",), lambda s: s.now),
        "Event deliveries by sink and outcome/A": grouped(
            named("loadtester_event_deliveries_total", job=JOB), ("sink", "outcome"),
            Stored.rate),
        "Tasks by type and outcome/A": grouped(tasks, ("type", "outcome"),
                                               lambda s: s.increase(5)),
        "Tasks in the time range/A": grouped(tasks, ("type", "mode", "outcome"),
                                             lambda s: s.increase(10)),
    }


def promql_labels(labels: Labels) -> str:
    """A label set in promtool's notation."""
    return "{" + ", ".join(f"{key}={json.dumps(val)}" for key, val in sorted(labels)) + "}"


# --- the dashboard -----------------------------------------------------------------------


def test_dashboard_configmap_is_generated_from_the_json(configmap: Doc) -> None:
    """The ConfigMap carries the sidecar's label, a stable name and dashboard.json as is."""
    assert configmap["metadata"]["name"] == "flagger-loadtester-dashboard"
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["data"] == {"flagger-loadtester.json": DASHBOARD.read_text()}
    # the one copy of the dashboard
    assert sorted(path.name for path in GRAFANA.iterdir()) == ["dashboard.json",
                                                               "kustomization.yaml"]


@pytest.mark.system
def test_plain_configmap_matches_kustomize_output() -> None:
    """Building the ConfigMap from the kustomization gives what kubectl kustomize renders."""
    if KUBECTL is None:
        pytest.skip("kubectl is not on PATH")
    assert kustomize(GRAFANA_EXAMPLE) == [plain_configmap()]


def test_dashboard_panels_and_variables() -> None:
    """Unique panel ids on a 24-column grid; every query uses the datasource variable, the
    job variable, and, on load test series only, the canary and namespace variables."""
    doc = dashboard()
    assert doc["uid"] == "flagger-loadtester" and doc["title"]
    variables = {v["name"]: v for v in doc["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert set(variables) == {"datasource", "job", "namespace", "canary"}
    ids = [panel["id"] for panel in doc["panels"]]
    ids += [panel["id"] for row in doc["panels"] for panel in row.get("panels", [])]
    assert len(ids) == len(set(ids))
    for panel in panels(doc):
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"]
            expr = target["expr"]
            used = set(re.findall(r"\$\{?(\w+)\}?", expr))
            assert used <= set(variables) | {"__rate_interval", "__range"}, panel["title"]
            for selector in SELECTOR.finditer(expr):
                matchers = selector["matchers"]
                assert 'job=~"$job"' in matchers, panel["title"]
                on_load = "loadtester_load_" in selector[0]
                assert ('namespace=~"$namespace"' in matchers) == on_load, panel["title"]
                assert ('canary=~"$canary"' in matchers) == on_load, panel["title"]
    for name, query in variable_selectors(doc).items():
        assert METRIC.search(query), name


@pytest.mark.system
@needs_promtool
def test_dashboard_queries_parse(tmp_path: Path) -> None:
    """promtool parses every panel query and variable selector, variables replaced."""
    doc = dashboard()
    exprs = [substitute(expr) for expr in queries(doc).values()]
    exprs += [f"count({substitute(selector)})" for selector in variable_selectors(doc).values()]
    assert not [expr for expr in exprs if "$" in expr]
    rules = write_recording_rules(tmp_path / "dashboard-rules.yaml", exprs)
    assert f"SUCCESS: {len(exprs)} rules found" in promtool("check", "rules", rules)


@pytest.mark.system
@needs_promtool
def test_a_broken_query_fails_the_check(tmp_path: Path) -> None:
    """The check above can fail: promtool rejects a query with a missing parenthesis."""
    rules = write_recording_rules(tmp_path / "broken.yaml",
                                  ['sum by (sink (loadtester_outbox_depth{job="x"})'])
    result = subprocess.run([str(PROMTOOL), "check", "rules", str(rules)], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode != 0


# --- the alert rules ---------------------------------------------------------------------


def test_alerts_name_what_they_are_about(rule_groups: list[Doc]) -> None:
    """The four alerts; each has a severity, a summary and a description naming
    every label it groups by (sink, canary, namespace, type)."""
    rules = alerts(rule_groups)
    assert {rule["alert"] for rule in rules} == ALERT_NAMES
    for rule in rules:
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}
        assert set(rule["annotations"]) >= {"summary", "description"}
        grouped_by = {label.strip() for labels in GROUPING.findall(rule["expr"])
                      for label in labels.split(",")}
        assert grouped_by, rule["alert"]
        for label in grouped_by:
            assert f"$labels.{label}" in rule["annotations"]["description"], (rule["alert"],
                                                                             label)


@pytest.mark.system
@needs_promtool
def test_alert_rules_pass_promtool_check(rule_groups: list[Doc], tmp_path: Path) -> None:
    """promtool check rules accepts the PrometheusRule's groups."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": rule_groups}))
    assert "SUCCESS: 4 rules found" in promtool("check", "rules", rules)


@pytest.mark.system
@needs_promtool
def test_alert_unit_tests(rule_groups: list[Doc], tmp_path: Path) -> None:
    """promtool test rules: each alert fires on its input series and stays quiet otherwise."""
    tests = yaml.safe_load(ALERT_TESTS.read_text())
    checks = [check for test in tests["tests"] for check in test["alert_rule_test"]]
    for name in ALERT_NAMES:
        mine = [check for check in checks if check["alertname"] == name]
        assert any(check["exp_alerts"] for check in mine), f"{name} never fires"
        assert any(not check["exp_alerts"] for check in mine), f"{name} is never quiet"
    assert tests["rule_files"] == ["rules.yaml"]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": rule_groups}))
    shutil.copy(ALERT_TESTS, tmp_path / "alerts-test.yaml")
    assert "SUCCESS" in promtool("test", "rules", tmp_path / "alerts-test.yaml")


# --- against a real scrape ---------------------------------------------------------------


def test_metrics_and_labels_used_exist_in_a_real_scrape(real_scrape: str) -> None:
    """Every metric the dashboard and the rules query, and every label they match or group
    on, is in what the service exports (or a target label of the scrape)."""
    samples = samples_of(real_scrape)
    labels_of = {name: set().union(*map(set, label_sets)) | TARGET_LABELS
                 for name, label_sets in samples.items()}
    rule = one(load_yaml(ALERTS / "prometheusrule.yaml"), "PrometheusRule")
    doc = dashboard()
    exprs = [*exprs_of(rule["spec"]["groups"]), *queries(doc).values(),
             *variable_selectors(doc).values()]
    for expr in exprs:
        names = set(METRIC.findall(expr))
        assert names, expr
        missing = names - set(samples)
        assert not missing, f"not exported: {missing} (in {expr})"
        known = set().union(*(labels_of[name] for name in names)) | {"le", "__name__"}
        used = {label.strip() for group in GROUPING.findall(expr) for label in group.split(",")}
        for selector in SELECTOR.finditer(expr):
            used |= set(MATCHER.findall(selector["matchers"]))
            if selector["name"]:
                assert set(MATCHER.findall(selector["matchers"])) <= (
                    labels_of[selector["name"]] | {"__name__"}), selector[0]
        assert used <= known, f"labels {used - known} not exported (in {expr})"


@pytest.mark.system
@needs_promtool
def test_key_dashboard_queries_on_a_real_scrape(real_scrape: str, tmp_path: Path) -> None:
    """Load rate, p99 and error rate per canary, gates open, outbox depth, dead letters,
    deliveries and tasks: each query gives the expected samples on the scraped series."""
    stored = stored_series(real_scrape)
    expected = expected_results(stored)
    assert all(expected.values()), [key for key, samples in expected.items() if not samples]
    # the scrape holds what the test drove
    assert expected["Error rate per canary/A"] == {
        frozenset({("namespace", CANARY_NAMESPACE), ("canary", CANARY)}): (10 + 8) / (40 + 8)}
    assert expected["Gates open/A"] == {frozenset({("gate", "gate")}): 1,
                                        frozenset({("gate", "rollback")}): 1}
    assert expected["Outbox depth/A"][frozenset({("sink", "monitoring-down")})] == 1
    assert expected["Dead letters/A"][frozenset({("sink", "monitoring-broken")})] > 0
    assert expected["Tasks in the time range/A"][frozenset(
        {("type", "cmd"), ("mode", "background"), ("outcome", "failed")})] > 0
    exprs = queries(dashboard())
    # compared in millionths: Prometheus' rate() extrapolation leaves a last-bit error on many
    # integers (rate of 0+420x20 per minute is 7.000000000000001), which promtool compares exactly
    tests = [{
        "expr": f"round(({substitute(exprs[key])}) * 1e6)",
        "eval_time": f"{EVAL_MINUTES}m",
        "exp_samples": [{"labels": promql_labels(labels), "value": math.floor(val * 1e6 + 0.5)}
                        for labels, val in samples.items()],
    } for key, samples in expected.items()]
    unit = {"rule_files": [], "evaluation_interval": "1m",
            "tests": [{"interval": "1m",
                       "input_series": [item.input_series() for item in stored],
                       "promql_expr_test": tests}]}
    path = tmp_path / "dashboard-test.yaml"
    path.write_text(yaml.safe_dump(unit, width=1000))
    assert "SUCCESS" in promtool("test", "rules", path)


async def test_finished_tasks_carry_their_mode(make_client: ClientFactory) -> None:
    """loadtester_tasks_finished_total tells a failed background run from a failed check."""
    client = await make_client()
    before = await scrape(client)
    assert (await post(client, payload({"type": "bash", "cmd": "exit 1"})))[0] == 500
    assert (await post(client, payload({"cmd": "exit 2"}, name="mode-bg")))[0] == 202
    await wait_idle(client)
    after = await scrape(client)

    def delta(**labels: str) -> float:
        name = "loadtester_tasks_finished_total"
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta(type="bash", mode="blocking", outcome="failed") == 1
    assert delta(type="cmd", mode="background", outcome="failed") == 1
    assert delta(type="cmd", mode="blocking", outcome="failed") == 0
