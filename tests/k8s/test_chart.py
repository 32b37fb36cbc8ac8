"""The Helm chart (charts/loadtester), rendered by the real helm 3 and helm 4.

Each values set of the matrix is linted (`helm lint --strict`), rendered, validated against the
Kubernetes OpenAPI schemas of 1.29 to 1.35 and the Prometheus Operator CRDs, and its pod checked
against the "restricted" Pod Security Standard. The chart's objects equal the kustomize tree's
for the same settings, so the two install paths cannot drift.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import k8s_validate
from tests.support.helm import (
    CHART,
    Doc,
    by_kind,
    helm,
    kustomize,
    pod_spec,
    template,
    template_error,
)
from tests.support.pod_security import restricted_violations
from tests.support.tools import HELM_VERSIONS, ROOT

pytestmark = pytest.mark.system

VALUES = ROOT / "tests" / "data" / "helm"
K8S = ROOT / "k8s"
PROMTOOL = shutil.which("promtool")

# name -> (helm arguments, release, namespace); the first ones are Flagger's documented installs
MATRIX: dict[str, tuple[list[str], str, str]] = {
    "defaults": ([], "flagger-loadtester", "test"),
    "flagger docs": (["--set", "cmd.timeout=1h", "--set", "cmd.namespaceRegexp="],
                     "flagger-loadtester", "test"),
    "flagger helm tester": (["--set", "serviceAccountName=tiller"], "flagger-helmtester",
                            "kube-system"),
    "flagger prometheus-operator tutorial": ([], "loadtester", "flagger-system"),
    "flagger values file": (["-f", str(VALUES / "flagger-values.yaml")], "flagger-loadtester",
                            "test"),
    "everything on": (["-f", str(VALUES / "everything-on.yaml")], "flagger-loadtester", "test"),
    "ha redis": (["-f", str(VALUES / "ha-redis.yaml")], "flagger-loadtester", "test"),
    "memory": (["--set", "state.backend=memory"], "flagger-loadtester", "test"),
    "bare pod": (["--set", "securityContext.enabled=false",
                  "--set", "podSecurityContext.enabled=false"], "flagger-loadtester", "test"),
}
# sets whose pod the user made less strict than "restricted" on purpose
NOT_RESTRICTED = {"bare pod", "flagger values file"}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """HOME of helm and kubectl: their caches and config, away from the user's."""
    return tmp_path_factory.mktemp("helm-home")


@pytest.fixture(scope="module", params=HELM_VERSIONS)
def helm_version(request: pytest.FixtureRequest) -> str:
    """helm 3 and helm 4."""
    version: str = request.param
    return version


@pytest.fixture(scope="module")
def rendered(helm_version: str, home: Path) -> dict[str, list[Doc]]:
    """Every values set of the matrix, rendered once per helm version."""
    return {name: template(helm_version, home, *args, release=release, namespace=namespace)
            for name, (args, release, namespace) in MATRIX.items()}


def container(docs: list[Doc]) -> Doc:
    """The load tester's container."""
    [first] = pod_spec(docs)["containers"]
    return first


def env(docs: list[Doc]) -> dict[str, str]:
    """The container's environment variables that have a plain value."""
    return {item["name"]: item.get("value", "") for item in container(docs).get("env", [])}


HELM_LABELS = re.compile(r"app\.kubernetes\.io/.*|helm\.sh/chart")


def without_helm_labels(value: Any) -> Any:
    """An object without the labels only Helm adds (chart, instance, managed-by, name)."""
    if isinstance(value, dict):
        return {key: ({name: label for name, label in item.items()
                       if not HELM_LABELS.fullmatch(name)} if key == "labels"
                      else without_helm_labels(item))
                for key, item in value.items()}
    if isinstance(value, list):
        return [without_helm_labels(item) for item in value]
    return value


# --- lint, schemas, pod security -----------------------------------------------------------


@pytest.mark.parametrize("name", MATRIX)
def test_lint_strict(helm_version: str, home: Path, name: str) -> None:
    """`helm lint --strict` passes for every values set of the matrix."""
    args, _release, namespace = MATRIX[name]
    done = helm(helm_version, "lint", "--strict", CHART, "--namespace", namespace, *args,
                home=home)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 chart(s) failed" in done.stdout


@pytest.mark.parametrize("kube_version", k8s_validate.KUBE_VERSIONS)
def test_objects_are_valid_kubernetes(rendered: dict[str, list[Doc]], kube_version: str) -> None:
    """Every rendered object validates against that Kubernetes version's schema (and the CRDs)."""
    errors = {name: k8s_validate.validate(docs, kube_version) for name, docs in rendered.items()}
    assert {name: found for name, found in errors.items() if found} == {}


@pytest.mark.parametrize("name", sorted(set(MATRIX) - NOT_RESTRICTED))
def test_pod_passes_restricted_pod_security(rendered: dict[str, list[Doc]], name: str) -> None:
    """By default (and with every feature on) the pod meets the "restricted" standard."""
    assert restricted_violations(pod_spec(rendered[name])) == []


def test_bare_pod_is_flaggers(rendered: dict[str, list[Doc]]) -> None:
    """securityContext.enabled=false drops both security contexts, as Flagger's chart does."""
    pod = pod_spec(rendered["bare pod"])
    assert "securityContext" not in pod
    assert "securityContext" not in container(rendered["bare pod"])
    assert restricted_violations(pod) != []  # the checker sees the difference


def test_writable_paths_are_emptydirs_only(rendered: dict[str, list[Doc]]) -> None:
    """The root filesystem is read-only; /tmp and the state directory are the writable mounts."""
    for name in ("defaults", "flagger values file", "everything on"):
        docs = rendered[name]
        assert container(docs)["securityContext"]["readOnlyRootFilesystem"] is True, name
        writable = {mount["mountPath"] for mount in container(docs)["volumeMounts"]
                    if not mount.get("readOnly")}
        assert writable - {"/scripts"} == {"/tmp", "/var/lib/loadtester"}, name
        assert env(docs)["LOADTESTER_STATE"] == "/var/lib/loadtester", name


# --- Flagger's chart: same values, same objects ------------------------------------------


def test_flagger_install_renders_flaggers_objects(rendered: dict[str, list[Doc]]) -> None:
    """Flagger's documented install: Deployment and Service named after the release, port 8080
    named http, Service port 80, selected by the `app` label, Flagger's command line."""
    docs = rendered["flagger docs"]
    objects = by_kind(docs)
    assert set(objects) == {("Deployment", "flagger-loadtester"), ("Service", "flagger-loadtester")}
    deployment = objects["Deployment", "flagger-loadtester"]
    service = objects["Service", "flagger-loadtester"]
    assert deployment["spec"]["selector"]["matchLabels"] == {"app": "loadtester"}
    assert service["spec"]["selector"] == {"app": "loadtester"}
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "protocol": "TCP",
                                         "targetPort": "http"}]
    assert container(docs)["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert container(docs)["command"] == ["./loadtester", "-port=8080", "-log-level=info",
                                          "-timeout=1h"]
    assert container(docs)["name"] == "loadtester"


def test_flagger_values_file_keeps_its_meaning(rendered: dict[str, list[Doc]]) -> None:
    """Each value of a Flagger values file lands where Flagger's chart puts it."""
    docs = rendered["flagger values file"]
    objects = by_kind(docs)
    deployment = objects["Deployment", "flagger-loadtester"]
    pod = pod_spec(docs)
    main = container(docs)
    assert deployment["spec"]["replicas"] == 2
    assert main["image"] == "registry.example.com/flagger-loadtester:0.38.0"
    assert main["imagePullPolicy"] == "Always"
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert deployment["spec"]["template"]["metadata"]["labels"]["team"] == "payments"
    assert pod["priorityClassName"] == "high-priority"
    assert main["command"][2:] == ["-log-level=debug", "-timeout=30m",
                                   "-namespace-regexp=^(test|staging)$"]
    assert env(docs)["HTTP_PROXY"] == "http://proxy.example.com:3128"
    assert main["resources"]["requests"] == {"cpu": "10m", "memory": "64Mi"}
    assert {"name": "scripts", "mountPath": "/scripts"} in main["volumeMounts"]
    assert {"name": "scripts", "configMap": {"name": "acceptance-scripts"}} in pod["volumes"]
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["tolerations"][0]["key"] == "dedicated"
    assert "nodeAffinity" in pod["affinity"]
    assert pod["serviceAccountName"] == "flagger-loadtester"
    assert main["securityContext"]["runAsUser"] == 100
    assert main["securityContext"]["runAsGroup"] == 101
    assert pod["securityContext"]["fsGroup"] == 101
    kinds = sorted(doc["kind"] for doc in docs)
    assert kinds == ["ClusterRole", "ClusterRoleBinding", "Deployment", "Gateway",
                     "PodDisruptionBudget", "Service", "ServiceAccount", "VirtualNode",
                     "VirtualNode", "VirtualService"]
    account = objects["ServiceAccount", "flagger-loadtester"]
    assert account["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/loadtester"}
    binding = objects["ClusterRoleBinding", "flagger-loadtester"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "flagger-loadtester",
                                    "namespace": "test"}]
    gateway = objects["Gateway", "flagger-loadtester"]
    assert [server["port"]["number"] for server in gateway["spec"]["servers"]] == [80, 443]
    pdb = objects["PodDisruptionBudget", "flagger-loadtester"]
    assert pdb["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "loadtester"}


def test_helm_tester_uses_the_named_service_account(rendered: dict[str, list[Doc]]) -> None:
    """`--set serviceAccountName=tiller` (Flagger's helm tester) runs the pod as that account."""
    docs = rendered["flagger helm tester"]
    assert pod_spec(docs)["serviceAccountName"] == "tiller"
    assert {kind for kind, _name in by_kind(docs)} == {"Deployment", "Service"}


def test_release_name_without_loadtester_is_prefixed(rendered: dict[str, list[Doc]]) -> None:
    """Release `loadtester` keeps its name; the objects are named as Flagger's chart names them."""
    assert set(by_kind(rendered["flagger prometheus-operator tutorial"])) == {
        ("Deployment", "loadtester"), ("Service", "loadtester")}


# --- this chart's additions ---------------------------------------------------------------


def test_ha_reads_the_redis_url_from_the_secret(rendered: dict[str, list[Doc]]) -> None:
    """state.backend=redis: the URL comes from the Secret's file, readiness follows the store."""
    docs = rendered["ha redis"]
    main = container(docs)
    assert env(docs)["LOADTESTER_STATE_FILE"] == "/etc/loadtester/state/url"
    assert "LOADTESTER_STATE" not in env(docs)
    assert main["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert main["livenessProbe"]["httpGet"]["path"] == "/healthz"
    [volume] = [v for v in pod_spec(docs)["volumes"] if v["name"] == "state-url"]
    assert volume["secret"]["secretName"] == "flagger-loadtester-state"
    deployment = by_kind(docs)["Deployment", "flagger-loadtester"]
    assert deployment["spec"]["replicas"] == 3
    assert "strategy" not in deployment["spec"]  # stateless pods: rolling updates


def test_everything_on_wires_each_feature(rendered: dict[str, list[Doc]]) -> None:
    """Persistence, events, tokens, allowCmd, allowFileDir and the monitoring objects each
    reach the pod."""
    docs = rendered["everything on"]
    objects = by_kind(docs)
    pod = pod_spec(docs)
    variables = env(docs)
    assert objects["Deployment", "flagger-loadtester"]["spec"]["strategy"] == {"type": "Recreate"}
    claim = objects["PersistentVolumeClaim", "flagger-loadtester-state"]
    assert claim["spec"]["storageClassName"] == "standard"
    assert {"name": "state", "persistentVolumeClaim": {"claimName": "flagger-loadtester-state"}} \
        in pod["volumes"]
    events_map = objects["ConfigMap", "flagger-loadtester-events"]
    events = yaml.safe_load(events_map["data"]["events.yaml"])
    assert events["sinks"]["slack"]["type"] == "slack"
    assert variables["LOADTESTER_CONFIG"] == "/etc/loadtester/config/events.yaml"
    assert variables["LOADTESTER_TOKEN_FILE"] == "/etc/loadtester/tokens/tokens"
    assert variables["LOADTESTER_ALLOW_CMD"].splitlines() == [
        "kubectl rollout status deploy/[a-z0-9-]+", "hey .*"]
    assert variables["LOADTESTER_ALLOW_FILE_DIR"].splitlines() == ["/etc/loadtester/bodies"]
    assert variables["LOADTESTER_CONSOLE_URL"] == "https://loadtester.example.com"
    assert {("PodMonitor", "flagger-loadtester"), ("ServiceMonitor", "flagger-loadtester"),
            ("PrometheusRule", "flagger-loadtester"), ("NetworkPolicy", "flagger-loadtester"),
            ("ConfigMap", "flagger-loadtester-dashboard")} <= set(objects)
    dashboard = objects["ConfigMap", "flagger-loadtester-dashboard"]
    assert dashboard["metadata"]["namespace"] == "monitoring"
    assert objects["PodMonitor", "flagger-loadtester"]["metadata"]["labels"]["release"] == \
        "kube-prometheus-stack"


def test_events_config_change_rolls_the_pods(helm_version: str, home: Path) -> None:
    """A changed events config changes the pod template, so the pods restart and read it."""
    def checksum(url: str) -> str:
        docs = template(helm_version, home, "--set", f"events.config.sinks.hook.url={url}",
                        "--set", "events.config.sinks.hook.type=webhook")
        annotations = by_kind(docs)["Deployment", "flagger-loadtester"]["spec"]["template"][
            "metadata"]["annotations"]
        value: str = annotations["checksum/events"]
        return value

    assert checksum("http://a.example/") != checksum("http://b.example/")


def test_notes_print_webhook_console_and_gate(helm_version: str, home: Path,
                                              tmp_path: Path) -> None:
    """NOTES.txt gives the webhook URL, how to reach the console and the gate curl."""
    # `helm install --dry-run` wants a cluster: render NOTES.txt through a copy of the chart
    chart = tmp_path / "loadtester"
    shutil.copytree(CHART, chart)
    shutil.copy(CHART / "templates" / "NOTES.txt", chart / "files" / "NOTES.txt")
    (chart / "templates" / "notes-test.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n"
        '  notes: {{ tpl (.Files.Get "files/NOTES.txt") . | toJson }}\n')
    [notes_map] = template(helm_version, home, "--show-only", "templates/notes-test.yaml",
                           chart=chart)
    notes = notes_map["data"]["notes"]
    assert "http://flagger-loadtester.test/" in notes
    assert "/ui/" in notes and "port-forward svc/flagger-loadtester" in notes
    assert "curl -d '{\"name\":\"podinfo\",\"namespace\":\"test\"}' " \
           "http://flagger-loadtester.test/gate/open" in notes


# --- one source of truth with kustomize ---------------------------------------------------


@pytest.fixture(scope="module")
def chart_as_kustomize(helm_version: str, home: Path) -> dict[tuple[str, str], Doc]:
    """The chart with the names the kustomize tree uses, every monitoring object on."""
    docs = template(helm_version, home, "--set", "nameOverride=flagger-loadtester",
                    "--set", "podMonitor.enabled=true", "--set", "prometheusRule.enabled=true",
                    "--set", "grafanaDashboard.enabled=true",
                    "--set", "grafanaDashboard.namespace=monitoring",
                    "--set", "networkPolicy.enabled=true")
    return {key: without_helm_labels(doc) for key, doc in by_kind(docs).items()}


@pytest.fixture(scope="module")
def kustomize_tree(home: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[
        tuple[str, str], Doc]:
    """The kustomize base with the network-policy Component, the examples' PodMonitor,
    PrometheusRule and dashboard, as an overlay would combine them."""
    overlay = tmp_path_factory.mktemp("overlay")
    relative = Path("../" * len(overlay.parts[1:])) / K8S.relative_to("/")
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": [str(relative), str(relative / "examples" / "alerts"),
                      str(relative / "examples" / "grafana")],
        "components": [str(relative / "components" / "network-policy")]}))
    podmonitor = yaml.safe_load((K8S / "examples" / "podmonitor.yaml").read_text())
    return by_kind([*kustomize(overlay, home), podmonitor])


@pytest.mark.parametrize("key", [
    ("Deployment", "flagger-loadtester"), ("Service", "flagger-loadtester"),
    ("NetworkPolicy", "flagger-loadtester"), ("PodMonitor", "flagger-loadtester"),
    ("PrometheusRule", "flagger-loadtester"), ("ConfigMap", "flagger-loadtester-dashboard")])
def test_chart_equals_kustomize(chart_as_kustomize: dict[tuple[str, str], Doc],
                                kustomize_tree: dict[tuple[str, str], Doc],
                                key: tuple[str, str]) -> None:
    """For the same settings the chart renders exactly the kustomize tree's object (Helm's own
    labels aside; namespaces are the overlay's business)."""
    chart = chart_as_kustomize[key]
    kustomized = json.loads(json.dumps(kustomize_tree[key]))
    if key[0] != "ConfigMap":  # the examples pin namespace test; the dashboard's is monitoring
        kustomized["metadata"].pop("namespace", None)
    assert chart == kustomized


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (apt-get prometheus)")
def test_rendered_rules_pass_promtool(rendered: dict[str, list[Doc]], tmp_path: Path) -> None:
    """`promtool check rules` accepts the rule groups of the rendered PrometheusRule."""
    rule = by_kind(rendered["everything on"])["PrometheusRule", "flagger-loadtester"]
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(rule["spec"]))
    done = subprocess.run([str(PROMTOOL), "check", "rules", str(rules)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"SUCCESS: \d+ rules found", done.stdout)


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "named"), [
    (["--set", "replicaCount=two"], "replicaCount"),
    (["--set", "cmd.timeout=5"], "cmd"),
    (["--set", "cmd.timeout=an hour"], "cmd"),
    (["--set", "state.backend=etcd"], "state"),
    (["--set", "state.volume=x"], "state"),
    (["--set", "events.sinks=x"], "events"),
    (["--set", "tokens.file=x"], "tokens"),
    (["--set", "service.port=http"], "service"),
])
def test_wrong_values_fail_naming_the_value(helm_version: str, home: Path, args: list[str],
                                            named: str) -> None:
    """A value of the wrong type, or an unknown key under state/events/tokens, fails
    `helm template` through values.schema.json with a message naming it."""
    error = template_error(helm_version, home, *args)
    assert named in error
    assert "schema" in error.lower() or "want" in error or "Invalid type" in error


def test_redis_url_in_values_is_refused(helm_version: str, home: Path) -> None:
    """A Redis URL (with its password) in plain values is refused, saying how to pass it."""
    error = template_error(helm_version, home, "--set", "state.backend=redis",
                           "--set", "state.redis.url=redis://:pw@redis:6379/0")
    assert "state.redis.url" in error and "state.redis.existingSecret" in error
    assert "pw@" not in error.split("kubectl create secret", 1)[0]


def test_redis_without_secret_is_refused(helm_version: str, home: Path) -> None:
    """state.backend=redis without the Secret's name says which value is missing."""
    error = template_error(helm_version, home, "--set", "state.backend=redis")
    assert "state.redis.existingSecret" in error


def test_unknown_top_level_keys_are_ignored_as_flaggers_are(helm_version: str,
                                                            home: Path) -> None:
    """Keys the chart does not know outside state/events/tokens (a parent chart's `global`)
    are ignored, as Flagger's chart ignores them."""
    template(helm_version, home, "--set", "global.imageRegistry=x", "--set", "foo=bar")


# --- values, schema and docs/helm.md agree ---------------------------------------------------


def leaf_keys(values: Any, prefix: str = "") -> Iterator[str]:
    """Dotted paths of a values tree, down to maps that are data (labels, annotations, ...)."""
    data_maps = {"podLabels", "podAnnotations", "resources", "nodeSelector", "affinity",
                 "serviceAccountAnnotations", "context", "labels", "config", "emptyDir"}
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and key not in data_maps:
            yield from leaf_keys(value, f"{path}.")
        else:
            yield path


def test_schema_covers_every_value() -> None:
    """values.schema.json declares every key of values.yaml (so the types are checked)."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for path in leaf_keys(values):
        node = schema
        for part in path.split("."):
            assert part in node.get("properties", {}), path
            node = node["properties"][part]


def test_readme_documents_every_value() -> None:
    """docs/helm.md's table of values names every key of values.yaml with its default."""
    readme = (ROOT / "docs" / "helm.md").read_text()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for path in leaf_keys(values):
        assert f"| `{path}` |" in readme, path
