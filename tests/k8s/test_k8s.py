"""The Dockerfile and the Kubernetes manifests agree with each other and with the service.

The kustomize base is rendered with `kubectl kustomize` when kubectl is on PATH and, in any
case, read as plain YAML (the base has no transformations, so both must give the same
objects). The HA Component (k8s/examples/ha) and the network-policy Component
(k8s/components/network-policy) are added to the base by `kubectl kustomize` when kubectl is
on PATH and, in any case, by a small strategic merge written here for their patches; a test
checks that both agree. The Dockerfile cannot be built here, so its key facts
are checked statically and the ./loadtester shim it writes is run with sh.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from loadtester.cli import parse_settings
from loadtester.flags import FLAGS
from tests.support.dockerfile import logical_lines
from tests.support.k8s import (
    EXAMPLES,
    K8S,
    KUBECTL,
    RENDERERS,
    ROOT,
    Doc,
    env_of,
    example_canary,
    flag_value,
    kustomize,
    load_component_plain,
    load_plain,
    load_yaml,
    loadtester_container,
    mounts_of,
    one,
    only_container,
    pod_labels,
    pod_spec,
    redis_options,
    resolve_port,
    secret_values,
    selects,
    webhooks,
    write_kustomization,
)

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
LOCK = ROOT / "requirements.lock"
PYPROJECT = ROOT / "pyproject.toml"

UID = 10001
STATE_DIR = "/var/lib/loadtester"
WORKDIR = "/home/app"
FLAGGER_COMMAND = ["./loadtester", "-port=8080", "-log-level=info", "-timeout=1h"]
SERVICE_HOST = "flagger-loadtester.test"

# Every path of the service a Flagger webhook may call.
SERVED_PATHS = frozenset(
    {
        "/",
        "/gate/check",
        "/gate/open",
        "/gate/close",
        "/gate/approve",
        "/gate/halt",
        "/rollback/check",
        "/rollback/open",
        "/rollback/close",
        "/events",
    }
)
HOOK_TYPES = frozenset(
    {
        "confirm-rollout",
        "pre-rollout",
        "rollout",
        "confirm-traffic-increase",
        "confirm-promotion",
        "post-rollout",
        "rollback",
        "event",
    }
)
TASK_TYPES = frozenset({"cmd", "bash", "helm", "helmv3", "kubectl", "concord", "ngrinder", "load"})
# Functions Flagger's MetricTemplate queries may call (MetricTemplateModel).
FLAGGER_TEMPLATE_FUNCS = frozenset(
    {"name", "namespace", "target", "service", "ingress", "interval"}
)
# Commands of the base image (Debian essential packages) that example commands may use.
BASE_COMMANDS = frozenset({"grep", "sed", "cat", "echo", "test", "sh", "sleep"})
GO_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$")
CANARY_FILES = ("canary.yaml", "canary-builtin-load.yaml")
OVERLAY_FILES = ("deployment-patch.yaml", "state-pvc.yaml", "events-config.yaml")
HA = EXAMPLES / "ha"
NETPOL = K8S / "components" / "network-policy"
FLAGGER_NAMESPACE = "flagger-system"
REDIS_PORT = 6379
# The tools of Flagger's loadtester image (Dockerfile.loadtester), and the versions it pins
# (bats: the tag of the bats/bats image it copies /opt/bats from).
FLAGGER_TOOLS = frozenset(
    {"helm", "kubectl", "ghz", "grpc_health_probe", "git", "bats", "hey", "wrk", "curl", "jq"}
    | {"bash"}
)
FLAGGER_VERSIONS = {
    "HELM_VERSION": "3.21.1",
    "KUBECTL_VERSION": "v1.36.2",
    "GHZ_VERSION": "0.120.0",
    "GRPC_HEALTH_PROBE_VERSION": "v0.4.35",
    "BATS_VERSION": "1.11.1",
}
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture(params=RENDERERS)
def base(request: pytest.FixtureRequest) -> list[Doc]:
    """The kustomize base, rendered by kubectl or read as plain YAML."""
    if request.param == "kubectl":
        if KUBECTL is None:
            pytest.skip("kubectl is not on PATH")
        return kustomize(K8S)
    return load_plain(K8S)


@pytest.fixture
def overlay(tmp_path: Path) -> list[Doc]:
    """The overlay that deployment-patch.yaml documents, built next to copies of its files."""
    if KUBECTL is None:
        pytest.skip("kubectl is not on PATH")
    directory = tmp_path / "overlay"
    directory.mkdir()
    for name in OVERLAY_FILES:
        shutil.copy(EXAMPLES / name, directory / name)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": "test",
        "resources": [os.path.relpath(K8S, directory), "state-pvc.yaml", "events-config.yaml"],
        "patches": [{"path": "deployment-patch.yaml"}],
    }
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return kustomize(directory)


def with_component(request: pytest.FixtureRequest, tmp_path: Path, component: Path) -> list[Doc]:
    """The base with one Component, rendered by kubectl or merged in-test (request.param)."""
    if request.param == "kubectl":
        if KUBECTL is None:
            pytest.skip("kubectl is not on PATH")
        return kustomize(write_kustomization(tmp_path, component))
    return load_component_plain(component)


@pytest.fixture(params=RENDERERS)
def ha(request: pytest.FixtureRequest, tmp_path: Path) -> list[Doc]:
    """The base with the HA Component."""
    return with_component(request, tmp_path, HA)


@pytest.fixture(params=RENDERERS)
def netpol(request: pytest.FixtureRequest, tmp_path: Path) -> list[Doc]:
    """The base with the network-policy Component."""
    return with_component(request, tmp_path, NETPOL)


# --- the kustomize base ------------------------------------------------------------------


def test_base_holds_the_deployment_and_service_only(base: list[Doc]) -> None:
    """The base renders one Deployment and one Service, none of the examples."""
    assert sorted((d["kind"], d["metadata"]["name"]) for d in base) == [
        ("Deployment", "flagger-loadtester"),
        ("Service", "flagger-loadtester"),
    ]


@pytest.mark.system
def test_plain_yaml_matches_kustomize_output() -> None:
    """Reading the base as YAML gives what kubectl kustomize renders (no transformations)."""
    if KUBECTL is None:
        pytest.skip("kubectl is not on PATH")

    def key(doc: Doc) -> str:
        return json.dumps(doc, sort_keys=True)

    assert sorted(map(key, load_plain(K8S))) == sorted(map(key, kustomize(K8S)))


def test_base_image_is_set_in_one_place(base: list[Doc]) -> None:
    """The Deployment names its image; the one `images:` entry of the base sets the reference."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    (entry,) = kustomization["images"]
    (deployment,) = load_yaml(K8S / "deployment.yaml")
    assert only_container(deployment)["image"] == entry["name"]
    assert loadtester_container(base)["image"] == f"{entry['newName']}:{entry['newTag']}"
    assert entry["newTag"] != "latest"
    mentioned = [path for path in K8S.rglob("*.yaml") if entry["newName"] in path.read_text()]
    assert mentioned == [K8S / "kustomization.yaml"]


@pytest.mark.system
def test_an_overlay_sets_the_image_with_one_entry(tmp_path: Path) -> None:
    """An overlay's `images:` entry, named as the README says, replaces the base's image."""
    if KUBECTL is None:
        pytest.skip("kubectl is not on PATH")
    base_entry = yaml.safe_load((K8S / "kustomization.yaml").read_text())["images"][0]
    image = {"name": base_entry["newName"], "newName": "registry.example.com/lt",
             "newTag": "9.9.9"}  # fmt: skip
    docs = kustomize(write_kustomization(tmp_path, images=[image]))
    assert loadtester_container(docs)["image"] == "registry.example.com/lt:9.9.9"


def test_service_port_80_reaches_the_container_port(base: list[Doc]) -> None:
    """The Service's port 80 targets the container's http port, and selects the pods."""
    service = one(base, "Service", "flagger-loadtester")
    deployment = one(base, "Deployment", "flagger-loadtester")
    container = loadtester_container(base)
    [port] = service["spec"]["ports"]
    assert port["port"] == 80
    assert resolve_port(container, port["targetPort"]) == 8080
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert pod_labels["app"] == "flagger-loadtester"


def test_command_is_flaggers_and_listens_on_the_container_port(base: list[Doc]) -> None:
    """The command is Flagger's own line, and its -port= is the containerPort."""
    container = loadtester_container(base)
    assert container["command"] == FLAGGER_COMMAND
    assert "args" not in container
    [port] = container["ports"]
    assert (port["name"], port["containerPort"]) == ("http", 8080)
    assert int(flag_value(container["command"], "port")) == port["containerPort"]


def test_command_and_env_parse_as_the_service_settings(base: list[Doc]) -> None:
    """The service's own flag parser accepts the command and env, with matching port and state."""
    container = loadtester_container(base)
    settings = parse_settings(container["command"][1:], environ=env_of(container))
    assert settings.port == 8080
    assert settings.log_level == "info"
    assert settings.timeout == 3600
    assert settings.state == STATE_DIR
    assert not settings.in_memory


def test_environment_variables_are_known_flags(base: list[Doc]) -> None:
    """Every LOADTESTER_* variable of the manifests names a flag of the service."""
    known = {flag.env for flag in FLAGS} | {flag.env + "_FILE" for flag in FLAGS if flag.secret}
    patch = one(load_yaml(EXAMPLES / "deployment-patch.yaml"), "Deployment")
    [patched] = patch["spec"]["template"]["spec"]["containers"]
    names = set(env_of(loadtester_container(base))) | set(env_of(patched))
    assert {n for n in names if n.startswith("LOADTESTER_")} <= known


def test_service_links_are_disabled(base: list[Doc]) -> None:
    """No injected LOADTESTER_PORT=tcp://... from a Service named loadtester can break -port."""
    assert pod_spec(base)["enableServiceLinks"] is False


def test_probes_hit_healthz_on_the_container_port(base: list[Doc]) -> None:
    """Liveness and readiness probes GET /healthz on the port the service listens on."""
    container = loadtester_container(base)
    listen = int(flag_value(container["command"], "port"))
    for probe in ("livenessProbe", "readinessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == "/healthz", probe
        assert resolve_port(container, get["port"]) == listen, probe
        assert container[probe]["timeoutSeconds"] >= 1


def test_security_context_is_locked_down(base: list[Doc]) -> None:
    """Read-only root, uid 10001, non-root, no privilege escalation, no capabilities."""
    context = loadtester_container(base)["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["runAsUser"] == UID
    assert context["runAsNonRoot"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    pod = pod_spec(base)["securityContext"]
    assert (pod["runAsUser"], pod["fsGroup"], pod["runAsNonRoot"]) == (UID, UID, True)


def test_writable_paths_are_empty_dirs(base: list[Doc]) -> None:
    """/tmp and the state directory are emptyDir volumes, and LOADTESTER_STATE points there."""
    container = loadtester_container(base)
    mounts = mounts_of(container, pod_spec(base))
    assert set(mounts) == {"/tmp", STATE_DIR}
    for path, volume in mounts.items():
        assert "emptyDir" in volume, path
    assert env_of(container)["LOADTESTER_STATE"] == STATE_DIR


def test_resources_have_requests_and_limits(base: list[Doc]) -> None:
    """CPU and memory have both a request and a limit."""
    resources = loadtester_container(base)["resources"]
    for section in ("requests", "limits"):
        assert set(resources[section]) == {"cpu", "memory"}, section


def test_single_replica_for_the_pod_local_store(base: list[Doc]) -> None:
    """One replica: gates in a pod-local SQLite file cannot be shared by two pods."""
    assert one(base, "Deployment", "flagger-loadtester")["spec"]["replicas"] == 1


# --- the overlay of the examples ---------------------------------------------------------


@pytest.mark.system
def test_overlay_keeps_state_on_a_claim(overlay: list[Doc]) -> None:
    """The example overlay swaps the state emptyDir for the example PVC, with Recreate."""
    claim = one(overlay, "PersistentVolumeClaim")
    deployment = one(overlay, "Deployment", "flagger-loadtester")
    state = mounts_of(loadtester_container(overlay), pod_spec(overlay))[STATE_DIR]
    assert set(state) == {"name", "persistentVolumeClaim"}
    assert state["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    assert {doc["metadata"]["namespace"] for doc in overlay} == {"test"}


@pytest.mark.system
def test_overlay_keeps_the_base_guarantees(overlay: list[Doc]) -> None:
    """The patched Deployment keeps Flagger's command, probes and security context."""
    container = loadtester_container(overlay)
    assert container["command"] == FLAGGER_COMMAND
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    settings = parse_settings(container["command"][1:], environ=env_of(container))
    assert settings.config == "/etc/loadtester/config/events.yaml"


@pytest.mark.system
def test_overlay_mounts_the_events_config_and_secret(overlay: list[Doc]) -> None:
    """-config and every url_file of the events config are files of mounted volumes."""
    container = loadtester_container(overlay)
    mounts = mounts_of(container, pod_spec(overlay))
    configmap = one(overlay, "ConfigMap", "flagger-loadtester-events")
    secret = one(overlay, "Secret", "flagger-loadtester-secrets")

    def mounted_file(path: str) -> tuple[Doc, str]:
        where = PurePosixPath(path)
        return mounts[str(where.parent)], where.name

    volume, key = mounted_file(env_of(container)["LOADTESTER_CONFIG"])
    assert volume["configMap"]["name"] == configmap["metadata"]["name"]
    assert key in configmap["data"]
    config = yaml.safe_load(configmap["data"][key])
    files = [s["url_file"] for s in config["sinks"].values() if "url_file" in s]
    assert files
    for path in files:
        volume, key = mounted_file(path)
        assert volume["secret"]["secretName"] == secret["metadata"]["name"]
        assert key in {**secret.get("data", {}), **secret.get("stringData", {})}


# --- the HA Component (k8s/examples/ha) ---------------------------------------------------


@pytest.mark.system
@pytest.mark.parametrize("component", [HA, NETPOL], ids=["ha", "network-policy"])
def test_component_read_in_the_test_matches_kustomize(tmp_path: Path, component: Path) -> None:
    """Reading a Component's YAML next to the base (merge_patch) gives exactly what kubectl
    kustomize renders, so the tests that read it check what a user applies."""
    if KUBECTL is None:
        pytest.skip("kubectl is not on PATH")

    def key(doc: Doc) -> str:
        return json.dumps(doc, sort_keys=True)

    rendered = kustomize(write_kustomization(tmp_path, component))
    assert sorted(map(key, load_component_plain(component))) == sorted(map(key, rendered))


def test_ha_component_leaves_the_namespace_to_its_user() -> None:
    """No object of the Component names a namespace; the including kustomization sets it."""
    docs = load_plain(HA)
    assert docs
    assert all("namespace" not in doc["metadata"] for doc in docs)


def test_ha_runs_three_replicas(ha: list[Doc]) -> None:
    """The load tester's Deployment runs three replicas."""
    assert one(ha, "Deployment", "flagger-loadtester")["spec"]["replicas"] == 3


def test_ha_disruption_budget_keeps_two_loadtester_pods(ha: list[Doc]) -> None:
    """The PDB selects the Deployment's pods, not Redis's, and keeps two of the three up."""
    deployment = one(ha, "Deployment", "flagger-loadtester")
    spec = one(ha, "PodDisruptionBudget")["spec"]
    selector = spec["selector"]["matchLabels"]
    assert selector.items() <= pod_labels(deployment).items()
    assert not selector.items() <= pod_labels(one(ha, "StatefulSet")).items()
    replicas = deployment["spec"]["replicas"]
    kept = spec["minAvailable"] if "minAvailable" in spec else replicas - spec["maxUnavailable"]
    assert kept == 2


def test_ha_spreads_replicas_over_nodes_and_zones(ha: list[Doc]) -> None:
    """Topology spread on hostname and zone (ScheduleAnyway) counts the load tester's pods."""
    labels = pod_labels(one(ha, "Deployment", "flagger-loadtester"))
    spread = {c["topologyKey"]: c for c in pod_spec(ha)["topologySpreadConstraints"]}
    assert set(spread) == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    for topology, constraint in spread.items():
        assert constraint["maxSkew"] == 1, topology
        assert constraint["labelSelector"]["matchLabels"].items() <= labels.items(), topology
    assert spread["topology.kubernetes.io/zone"]["whenUnsatisfiable"] == "ScheduleAnyway"


def test_ha_readiness_is_readyz_and_liveness_healthz(ha: list[Doc]) -> None:
    """Readiness GETs /readyz, liveness still /healthz, both on the port the service listens."""
    container = loadtester_container(ha)
    listen = int(flag_value(container["command"], "port"))
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = container[probe]["httpGet"]
        assert get["path"] == path, probe
        assert resolve_port(container, get["port"]) == listen, probe


def test_ha_state_url_is_a_key_of_the_mounted_secret(ha: list[Doc]) -> None:
    """LOADTESTER_STATE_FILE is a key of a read-only Secret mount; LOADTESTER_STATE is gone."""
    container = loadtester_container(ha)
    env = env_of(container)
    assert "LOADTESTER_STATE" not in env
    path = PurePosixPath(env["LOADTESTER_STATE_FILE"])
    [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == str(path.parent)]
    assert mount["readOnly"] is True
    volume = mounts_of(container, pod_spec(ha))[str(path.parent)]["secret"]
    files = {item["path"]: item["key"] for item in volume.get("items", [])}
    assert not files or path.name in files, "the Secret volume does not hold that file"
    key = files.get(path.name, path.name)
    secret = one(ha, "Secret", volume["secretName"])
    assert key in secret_values(secret)


def test_ha_environment_parses_to_the_redis_url(ha: list[Doc], tmp_path: Path) -> None:
    """Over the image's ENV (LOADTESTER_STATE included), the pod's env selects the Secret's URL."""
    container = loadtester_container(ha)
    url = secret_values(one(ha, "Secret", "flagger-loadtester-state"))["url"]
    (tmp_path / "url").write_text(url)
    environ = {**dockerfile().env, **env_of(container), "LOADTESTER_STATE_FILE": f"{tmp_path}/url"}
    settings = parse_settings(container["command"][1:], environ=environ)
    assert settings.state == url


def test_ha_state_url_reaches_redis_with_its_password(ha: list[Doc]) -> None:
    """The URL names the Redis Service and port, with the password Redis and its probes use."""
    secret = one(ha, "Secret", "flagger-loadtester-state")
    values = secret_values(secret)
    url = urlsplit(values["url"])
    assert url.scheme == "redis"
    service = one(ha, "Service", url.hostname)
    statefulset = one(ha, "StatefulSet")
    redis = only_container(statefulset)
    [port] = service["spec"]["ports"]
    assert port["port"] == url.port == REDIS_PORT
    assert resolve_port(redis, port["targetPort"]) == REDIS_PORT
    assert service["spec"]["selector"].items() <= pod_labels(statefulset).items()
    loadtester = one(ha, "Service", "flagger-loadtester")["spec"]["selector"]
    assert not loadtester.items() <= pod_labels(statefulset).items()
    from_secret = {
        e["name"]: e["valueFrom"]["secretKeyRef"] for e in redis["env"] if "valueFrom" in e
    }
    password_var = re.fullmatch(r"\$\((\w+)\)", redis_options(redis["args"])["--requirepass"])
    assert password_var is not None
    for name in (password_var.group(1), "REDISCLI_AUTH"):
        ref = from_secret[name]
        assert ref["name"] == secret["metadata"]["name"], name
        assert values[ref["key"]] == url.password, name


def test_ha_redis_appends_to_a_claim_at_data(ha: list[Doc]) -> None:
    """One Redis, appendonly yes / everysec, its /data on a volumeClaimTemplate, pinned image."""
    statefulset = one(ha, "StatefulSet", "flagger-loadtester-redis")
    assert statefulset["spec"]["replicas"] == 1
    redis = only_container(statefulset)
    options = redis_options(redis["args"])
    assert (options["--appendonly"], options["--appendfsync"]) == ("yes", "everysec")
    assert options.get("--dir", "/data") == "/data"
    claims = {t["metadata"]["name"] for t in statefulset["spec"]["volumeClaimTemplates"]}
    [data] = [m for m in redis["volumeMounts"] if m["mountPath"] == "/data"]
    assert data["name"] in claims
    name, _, tag = redis["image"].partition(":")
    assert name in ("redis", "valkey/valkey") and re.fullmatch(r"\d+\.\d+\.\d+-alpine", tag)
    for probe in ("readinessProbe", "livenessProbe"):
        assert "redis-cli -h 127.0.0.1 ping" in " ".join(redis[probe]["exec"]["command"]), probe


def test_ha_redis_runs_as_non_root_on_a_read_only_root(ha: list[Doc]) -> None:
    """Redis runs as a non-root uid, read-only root, no privilege escalation or capabilities."""
    statefulset = one(ha, "StatefulSet", "flagger-loadtester-redis")
    pod = statefulset["spec"]["template"]["spec"]["securityContext"]
    context = only_container(statefulset)["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] != 0 and "fsGroup" in pod
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]


def test_ha_keeps_the_base_security_context(ha: list[Doc]) -> None:
    """The load tester keeps the base's read-only root, uid 10001 and pod security context."""
    base = load_plain(K8S)
    context = loadtester_container(ha)["securityContext"]
    assert context == loadtester_container(base)["securityContext"]
    assert (context["readOnlyRootFilesystem"], context["runAsUser"]) == (True, UID)
    assert pod_spec(ha)["securityContext"] == pod_spec(base)["securityContext"]


# --- the network-policy Component (k8s/components/network-policy) ---------------------------

# The peers the policy admits: Flagger's namespace, the load tester's own, Prometheus.
ADMITTED_PEERS = [
    {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": FLAGGER_NAMESPACE}}},
    {"podSelector": {}},
    {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
     "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}},
]


def test_network_policy_component_leaves_the_namespace_to_its_user() -> None:
    """The policy names no namespace of its own; the including kustomization sets it."""
    (policy,) = load_plain(NETPOL)
    assert "namespace" not in policy["metadata"]


def test_network_policy_selects_the_loadtester_pods(netpol: list[Doc]) -> None:
    """The policy's pod selector selects the Deployment's pods."""
    policy = one(netpol, "NetworkPolicy", "flagger-loadtester")
    deployment = one(netpol, "Deployment", "flagger-loadtester")
    assert policy["spec"]["podSelector"]["matchLabels"]
    assert selects(policy["spec"]["podSelector"], pod_labels(deployment))


def test_network_policy_admits_exactly_flagger_own_namespace_and_prometheus(
        netpol: list[Doc]) -> None:
    """One ingress rule: the three peers, on the container's port only, over TCP."""
    spec = one(netpol, "NetworkPolicy", "flagger-loadtester")["spec"]
    (rule,) = spec["ingress"]
    assert rule["from"] == ADMITTED_PEERS
    (port,) = rule["ports"]
    assert port.get("protocol", "TCP") == "TCP" and "endPort" not in port
    container = loadtester_container(netpol)
    assert resolve_port(container, port["port"]) == 8080
    assert resolve_port(container, one(netpol, "Service")["spec"]["ports"][0]["targetPort"]) == (
        resolve_port(container, port["port"]))


def test_network_policy_leaves_egress_open(netpol: list[Doc]) -> None:
    """Only ingress is restricted: tasks still reach canaries, chat tools and Redis."""
    spec = one(netpol, "NetworkPolicy", "flagger-loadtester")["spec"]
    assert spec["policyTypes"] == ["Ingress"]
    assert "egress" not in spec


@pytest.mark.system
def test_network_policy_composes_with_the_ha_component(tmp_path: Path) -> None:
    """With HA too: three replicas all selected, Redis left alone (kubectl, else YAML merge)."""
    docs = (kustomize(write_kustomization(tmp_path, HA, NETPOL)) if KUBECTL
            else load_component_plain(HA) + load_plain(NETPOL))
    policy = one(docs, "NetworkPolicy", "flagger-loadtester")
    deployment = one(docs, "Deployment", "flagger-loadtester")
    assert deployment["spec"]["replicas"] == 3
    assert selects(policy["spec"]["podSelector"], pod_labels(deployment))
    redis = one(docs, "StatefulSet")
    assert not selects(policy["spec"]["podSelector"], pod_labels(redis))
    assert policy["spec"]["ingress"][0]["from"] == ADMITTED_PEERS


@pytest.mark.system
def test_network_policy_flagger_namespace_changes_with_the_documented_patch(
        tmp_path: Path) -> None:
    """The patch the Component documents moves Flagger's peer to another namespace."""
    if KUBECTL is None:
        pytest.skip("kubectl is not on PATH")
    comments = (NETPOL / "kustomization.yaml").read_text()
    path = "/spec/ingress/0/from/0/namespaceSelector/matchLabels/kubernetes.io~1metadata.name"
    assert f"path: {path}" in comments
    patch = [{"op": "replace", "path": path, "value": "istio-system"}]
    docs = kustomize(write_kustomization(tmp_path, NETPOL, patches=[{
        "target": {"kind": "NetworkPolicy", "name": "flagger-loadtester"},
        "patch": json.dumps(patch)}]))
    peers = one(docs, "NetworkPolicy")["spec"]["ingress"][0]["from"]
    assert peers[0] == {"namespaceSelector": {
        "matchLabels": {"kubernetes.io/metadata.name": "istio-system"}}}
    assert peers[1:] == ADMITTED_PEERS[1:]


# --- the example Canaries ----------------------------------------------------------------


def test_example_canary_uses_every_hook_type() -> None:
    """canary.yaml calls the load tester from each of Flagger's eight hook types."""
    assert {hook["type"] for hook in webhooks(example_canary("canary.yaml"))} == HOOK_TYPES


@pytest.mark.parametrize("filename", CANARY_FILES)
def test_example_webhooks_call_paths_the_service_serves(filename: str) -> None:
    """Every webhook URL is the load tester's Service (port 80) and a path it serves."""
    for hook in webhooks(example_canary(filename)):
        url = urlsplit(hook["url"])
        assert (url.scheme, url.hostname, url.port) == ("http", SERVICE_HOST, None), hook["name"]
        assert (url.path or "/") in SERVED_PATHS, hook["name"]


@pytest.mark.parametrize("filename", CANARY_FILES)
def test_example_webhooks_match_their_hook_type(filename: str) -> None:
    """Gates call /gate/*, rollback /rollback/check, events /events, tasks / with a task type."""
    for hook in webhooks(example_canary(filename)):
        path = urlsplit(hook["url"]).path or "/"
        kind = hook["type"]
        if kind.startswith("confirm-"):
            assert path == "/gate/check", hook["name"]
        elif kind == "rollback":
            assert path == "/rollback/check", hook["name"]
        elif kind == "event":
            assert path == "/events", hook["name"]
        elif path == "/":
            assert hook["metadata"]["type"] in TASK_TYPES, hook["name"]
        else:
            assert kind == "post-rollout" and path.startswith("/gate/"), hook["name"]


@pytest.mark.parametrize("filename", CANARY_FILES)
def test_example_webhook_metadata_is_strings(filename: str) -> None:
    """Metadata values are strings, as Flagger's CRD (map of string to string) requires."""
    for hook in webhooks(example_canary(filename)):
        for key, value in hook.get("metadata", {}).items():
            assert isinstance(value, str), f"{hook['name']}: {key}={value!r}"


def test_example_canary_runs_the_tutorial_commands() -> None:
    """The acceptance test and the hey load test are those of Flagger's tutorial."""
    by_type = {hook["type"]: hook for hook in webhooks(example_canary("canary.yaml"))}
    assert by_type["pre-rollout"]["metadata"] == {
        "type": "bash",
        "cmd": "curl -sd 'test' http://podinfo-canary:9898/token | grep token",
    }
    assert by_type["rollout"]["metadata"] == {
        "type": "cmd",
        "cmd": "hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/",
    }


def shell_commands() -> Iterator[tuple[str, str]]:
    """(hook name, command) of every bash and cmd task in the example Canaries."""
    for filename in CANARY_FILES:
        for hook in webhooks(example_canary(filename)):
            metadata = hook.get("metadata", {})
            if urlsplit(hook["url"]).path in ("", "/") and metadata.get("type") in ("bash", "cmd"):
                yield hook["name"], metadata["cmd"]


@pytest.mark.parametrize(("name", "command"), list(shell_commands()))
def test_example_shell_commands_use_tools_of_the_image(name: str, command: str) -> None:
    """Each bash/cmd command is valid shell and starts only programs the image installs."""
    check = subprocess.run(
        ["bash", "-n", "-c", command], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stderr
    available = set(dockerfile().apt_packages) | dockerfile().downloaded_tools | BASE_COMMANDS
    for segment in re.split(r"\|\|?|&&|;", command):
        program = shlex.split(segment)[0]
        assert program in available, f"{name}: {program} is not in the image"


def test_builtin_load_canary_uses_structured_load_metadata() -> None:
    """The built-in load Canary describes its rollout load test with structured metadata."""
    hooks = webhooks(example_canary("canary-builtin-load.yaml"))
    [rollout] = [hook for hook in hooks if hook["type"] == "rollout"]
    metadata = rollout["metadata"]
    assert metadata["type"] == "load"
    assert "cmd" not in metadata
    assert urlsplit(metadata["url"]).hostname == "podinfo-canary.test"
    assert float(metadata["rate"]) > 0
    assert int(metadata["concurrency"]) > 0
    assert 0 <= float(metadata["maxErrorRate"]) <= 100
    for key in ("duration", "maxP99"):
        assert GO_DURATION.match(metadata[key]), key
    for hook in hooks:
        if hook.get("metadata", {}).get("type") == "load":
            assert hook["metadata"].get("wait", "false") in ("true", "false")


def test_builtin_load_canary_uses_the_example_metric_templates() -> None:
    """Its metrics reference MetricTemplates that metric-templates.yaml defines."""
    templates = {
        (d["metadata"]["name"], d["metadata"]["namespace"])
        for d in load_yaml(EXAMPLES / "metric-templates.yaml")
        if d["kind"] == "MetricTemplate"
    }
    metrics = example_canary("canary-builtin-load.yaml")["spec"]["analysis"]["metrics"]
    refs = {(m["templateRef"]["name"], m["templateRef"]["namespace"]) for m in metrics}
    assert refs == templates


def test_metric_templates_query_the_load_metrics() -> None:
    """Success rate and p99 templates read the loadtester_load_* series of one canary."""
    docs = load_yaml(EXAMPLES / "metric-templates.yaml")
    queries = {}
    for doc in docs:
        assert (doc["apiVersion"], doc["kind"]) == ("flagger.app/v1beta1", "MetricTemplate")
        assert doc["spec"]["provider"]["type"] == "prometheus"
        query = doc["spec"]["query"]
        queries[doc["metadata"]["name"]] = query
        assert set(re.findall(r"{{\s*(\w+)\s*}}", query)) <= FLAGGER_TEMPLATE_FUNCS
        for opening, closing in ("()", "[]"):
            assert query.count(opening) == query.count(closing)
        rendered = re.sub(r"{{\s*(\w+)\s*}}", r"<\1>", query)
        selectors = re.findall(r"loadtester_\w+{([^}]*)}", rendered)
        assert selectors
        for selector in selectors:
            assert 'canary="<name>"' in selector and 'namespace="<namespace>"' in selector
    success = queries["loadtester-success-rate"]
    assert "loadtester_load_requests_total" in success
    assert "loadtester_load_errors_total" in success
    p99 = queries["loadtester-latency-p99"]
    assert "histogram_quantile(0.99" in p99
    assert "loadtester_load_request_duration_seconds_bucket" in p99


class _Series:
    """A PromQL instant vector of one label-less sample, or empty (None)."""

    def __init__(self, value: float | None) -> None:
        self.value = value

    def _op(self, other: Any, fn: Any) -> _Series:
        right = other.value if isinstance(other, _Series) else other
        if self.value is None or right is None:
            return _Series(None)
        return _Series(fn(self.value, right))

    def __add__(self, other: Any) -> _Series:
        return self._op(other, lambda a, b: a + b)

    def __truediv__(self, other: Any) -> _Series:
        return self._op(other, lambda a, b: a / b if b else float("nan"))

    def __rmul__(self, other: Any) -> _Series:
        return self._op(other, lambda a, b: a * b)

    def __or__(self, other: _Series) -> _Series:
        return self if self.value is not None else other


def evaluate_success_rate(query: str, answered: dict[str, float], errors: float) -> float | None:
    """The success-rate query on rates of answers by code and of transport errors, with
    PromQL's rules for what has no series: sum() of nothing is empty, empty op x is empty,
    `a or b` is b where a is empty. None: "no values"."""

    def term(match: re.Match[str]) -> str:
        selector = match.group(2)
        if match.group(1) == "loadtester_load_errors_total":
            value = errors or None
        else:
            pattern = re.search(r'code=~"([^"]+)"', selector)
            assert pattern is not None
            codes = [n for code, n in answered.items() if re.fullmatch(pattern.group(1), code)]
            value = sum(codes) if codes else None
        return f"S({value})"

    rendered = re.sub(r"{{\s*(\w+)\s*}}", r"<\1>", query)
    text = re.sub(r"sum\(\s*rate\((\w+){([^}]*)}\[[^]]*\]\)\s*\)", term, rendered)
    text = text.replace("vector(0)", "S(0)").replace(" or ", " | ")
    assert set(re.sub(r"S\((None|[\d.]+)\)", "", text)) <= set("0123456789.()+/*| \n")
    result = eval(f"({text.strip()})", {"S": _Series})  # only S(...), numbers and operators
    assert isinstance(result, _Series)
    return None if result.value is None or math.isnan(result.value) else result.value


def test_success_rate_is_zero_when_every_request_fails() -> None:
    """All 5xx or all refused: the success rate is 0 (a failed check), not "no values"."""
    (doc,) = [d for d in load_yaml(EXAMPLES / "metric-templates.yaml")
              if d["metadata"]["name"] == "loadtester-success-rate"]  # fmt: skip
    query = doc["spec"]["query"]
    assert evaluate_success_rate(query, {"500": 4.0}, 0) == 0
    assert evaluate_success_rate(query, {}, 3.0) == 0
    assert evaluate_success_rate(query, {"503": 1.0}, 1.0) == 0
    assert evaluate_success_rate(query, {"200": 3.0, "500": 1.0}, 0) == 75
    assert evaluate_success_rate(query, {"200": 2.0, "404": 1.0}, 1.0) == 75
    assert evaluate_success_rate(query, {"200": 5.0}, 0) == 100
    assert evaluate_success_rate(query, {}, 0) is None  # no traffic is not a failure
    # ghz runs: gRPC code names; every code but OK is a failure, as maxErrorRate counts them
    assert evaluate_success_rate(query, {"OK": 3.0, "Unavailable": 1.0}, 0) == 75
    assert evaluate_success_rate(query, {"DeadlineExceeded": 2.0}, 0) == 0


def test_events_config_routes_name_defined_sinks() -> None:
    """Routes of the events config send only to sinks it defines, Slack and Alertmanager."""
    configmap = one(load_yaml(EXAMPLES / "events-config.yaml"), "ConfigMap")
    config = yaml.safe_load(configmap["data"]["events.yaml"])
    assert {sink["type"] for sink in config["sinks"].values()} == {"slack", "alertmanager"}
    for route in config["routes"]:
        assert route["match"]
        assert set(route["sinks"]) <= set(config["sinks"])


def test_events_config_loads_with_the_service_loader(tmp_path: Path) -> None:
    """The example events config is accepted by the service's own -config loader."""
    from loadtester.events.config import load_event_config
    from loadtester.settings import Settings

    docs = load_yaml(EXAMPLES / "events-config.yaml")
    secret = one(docs, "Secret")["stringData"]
    text = one(docs, "ConfigMap")["data"]["events.yaml"]
    for key, value in secret.items():
        (tmp_path / key).write_text(value + "\n")
        text = text.replace(f"/etc/loadtester/secrets/{key}", str(tmp_path / key))
    (tmp_path / "events.yaml").write_text(text)
    config = load_event_config(Settings(config=str(tmp_path / "events.yaml"), state="memory"))
    assert sorted(config.sinks) == ["am", "slack"]
    assert config.routes


# --- the Dockerfile ----------------------------------------------------------------------


@dataclass
class Instruction:
    """One Dockerfile instruction, continuation lines joined."""

    keyword: str
    value: str


@dataclass
class Dockerfile:
    """The facts the tests need from the Dockerfile."""

    args: dict[str, str]
    stages: list[list[Instruction]]

    @property
    def final(self) -> list[Instruction]:
        return self.stages[-1]

    def values(self, keyword: str, stage: list[Instruction] | None = None) -> list[str]:
        return [i.value for i in (self.final if stage is None else stage) if i.keyword == keyword]

    def exec_form(self, keyword: str) -> list[str]:
        [value] = self.values(keyword)
        parsed: list[str] = json.loads(value)
        return parsed

    @property
    def env(self) -> dict[str, str]:
        pairs = [p for value in self.values("ENV") for p in shlex.split(value)]
        return dict(pair.split("=", 1) for pair in pairs)

    @property
    def apt_packages(self) -> list[str]:
        for run in self.values("RUN"):
            words = shlex.split(run)
            if "apt-get" in words and "install" in words:
                rest = words[words.index("install") + 1 :]
                return [w for w in rest[: rest.index("&&")] if not w.startswith("-")]
        return []

    def stage(self, name: str) -> list[Instruction]:
        """The instructions of the stage `FROM ... AS name`."""
        [found] = [s for s in self.stages if s[0].value.split()[-1:] == [name]]
        return found

    @property
    def downloaded_tools(self) -> set[str]:
        """Tools the `tools` stage installs into /out/bin (copied to /usr/local/bin), and bats
        (installed into /out/bats, copied to /opt/bats and linked onto PATH)."""
        runs = self.values("RUN", self.stage("tools"))
        tools = {m for run in runs for m in re.findall(r" /out/bin/([\w-]+)$", run, re.M)}
        tools |= {m for run in runs for m in re.findall(r" /out/bin/([\w-]+)\b", run)}
        if any(re.search(r"install\.sh\"? /out/bats\b", run) for run in runs) and any(
            "ln -s /opt/bats/bin/bats /usr/local/bin/bats" in run for run in self.values("RUN")
        ):
            tools.add("bats")
        return tools

    @property
    def shim(self) -> tuple[str, str, str]:
        """(path, text, mode) of the script written with printf in a RUN."""
        for run in self.values("RUN"):
            words = shlex.split(run)
            if "printf" not in words:
                continue
            start = words.index("printf")
            end = words.index(">", start)
            assert words[start + 1] == "%s\\n"
            path = words[end + 1]
            chmod = words.index("chmod", end)
            assert words[chmod + 2] == path
            return path, "\n".join(words[start + 2 : end]) + "\n", words[chmod + 1]
        raise AssertionError("no printf-written shim in the Dockerfile")


def dockerfile() -> Dockerfile:
    """Parse the Dockerfile: global ARGs, then the instructions of each stage."""
    lines = logical_lines(DOCKERFILE.read_text())
    args: dict[str, str] = {}
    stages: list[list[Instruction]] = []
    for line in lines:
        keyword, _, value = line.partition(" ")
        instruction = Instruction(keyword.upper(), value.strip())
        if instruction.keyword == "FROM":
            stages.append([])
        if not stages:
            assert instruction.keyword == "ARG"
            name, _, default = instruction.value.partition("=")
            args[name] = default
            continue
        stages[-1].append(instruction)
    return Dockerfile(args, stages)


def test_dockerfile_builds_on_python_311_slim_bookworm() -> None:
    """Every stage starts from python:3.11-slim-bookworm (same Python for the copied venv)."""
    parsed = dockerfile()
    froms = [stage[0].value.split()[0] for stage in parsed.stages]
    resolved = {re.sub(r"\$\{(\w+)\}", lambda m: parsed.args[m.group(1)], f) for f in froms}
    assert resolved == {"python:3.11-slim-bookworm"}


def test_dockerfile_runs_as_uid_10001() -> None:
    """The image runs as numeric uid/gid 10001, the manifests' runAsUser."""
    parsed = dockerfile()
    assert parsed.values("USER")[-1] in (str(UID), f"{UID}:{UID}")
    [useradd] = [run for run in parsed.values("RUN") if "useradd" in run]
    assert f"--uid {UID}" in useradd and f"--gid {UID}" in useradd


def test_dockerfile_installs_the_webhook_tools() -> None:
    """hey, wrk, curl, jq, bash, git, ca-certificates (and wget for Flagger's probes) from apt."""
    parsed = dockerfile()
    required = {"hey", "wrk", "curl", "jq", "bash", "git", "ca-certificates", "wget", "tini"}
    assert required <= set(parsed.apt_packages)
    [install] = [run for run in parsed.values("RUN") if "apt-get install" in run]
    assert "--no-install-recommends" in install
    assert "rm -rf /var/lib/apt/lists/*" in install


def test_dockerfile_pip_installs_the_project_without_cache() -> None:
    """The locked dependencies (hashes required), then the project alone (--no-deps, no build
    isolation: no unhashed download), with pip --no-cache-dir into the venv the runtime copies."""
    parsed = dockerfile()
    build = parsed.stages[0]
    [venv] = [run for run in parsed.values("RUN", build) if "-m venv" in run]
    venv_dir = venv.split()[-1]
    [deps, project] = [run for run in parsed.values("RUN", build) if "pip install" in run]
    assert deps == (
        f"{venv_dir}/bin/pip install --no-cache-dir --require-hashes -r /src/requirements.lock"
    )
    assert project.startswith(
        f"{venv_dir}/bin/pip install --no-cache-dir --no-deps --no-build-isolation /src"
    )
    copies = parsed.values("COPY", build)
    assert copies.index("requirements.lock /src/requirements.lock") < copies.index(". /src")
    assert any(c.endswith(f"{venv_dir} {venv_dir}") for c in parsed.values("COPY"))


def locked_pins() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, sha256 hashes) of requirements.lock."""
    pins: dict[str, tuple[str, list[str]]] = {}
    name = ""
    for line in LOCK.read_text().splitlines():
        pin = re.match(r"^([A-Za-z0-9._-]+)==(\S+) \\$", line)
        if pin:
            name = re.sub(r"[-_.]+", "-", pin.group(1)).lower()
            pins[name] = (pin.group(2), [])
        elif line.strip().startswith("--hash="):
            algorithm, _, digest = line.strip().removeprefix("--hash=").rstrip(" \\").partition(":")
            assert algorithm == "sha256" and SHA256_HEX.match(digest), line
            pins[name][1].append(digest)
        else:
            assert not line.strip() or line.lstrip().startswith("#"), line
    return pins


def test_lock_pins_every_runtime_and_build_dependency_with_hashes() -> None:
    """requirements.lock pins each dependency and build requirement of pyproject.toml, at a
    version its specifier allows, with a SHA-256 for every file."""
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads(PYPROJECT.read_text())
    pins = locked_pins()
    wanted = project["project"]["dependencies"] + project["build-system"]["requires"]
    for text in wanted:
        requirement = Requirement(text)
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        assert name in pins, f"{text} is not in requirements.lock"
        assert requirement.specifier.contains(pins[name][0]), (text, pins[name][0])
    assert all(hashes for _, hashes in pins.values())


@pytest.mark.parametrize("python", ["3.11.2", "3.11.7", "3.12.0"])
def test_lock_pins_what_each_python_needs(python: str) -> None:
    """Every package a locked package requires on this Python (markers evaluated, as installed
    here), such as redis's async-timeout below 3.11.3 (Debian 12), is pinned: `pip install
    --require-hashes -r requirements.lock` refuses an unpinned one."""
    import importlib.metadata

    from packaging.requirements import Requirement

    pins = locked_pins()
    environment = {"python_full_version": python, "python_version": python.rsplit(".", 1)[0],
                   "extra": ""}
    missing = []
    for name in pins:
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:  # only on some Pythons: not installed
            continue
        for text in requires:
            requirement = Requirement(text)
            needed = requirement.marker is None or requirement.marker.evaluate(environment)
            if needed and re.sub(r"[-_.]+", "-", requirement.name).lower() not in pins:
                missing.append(f"{name}: {text}")
    assert missing == []


def test_dockerfile_has_every_tool_of_flaggers_image() -> None:
    """helm, kubectl, ghz, grpc_health_probe, git, bats, hey, wrk, curl, jq and bash: each
    from apt or a checked download (or, if ever dropped, said so in the Dockerfile)."""
    parsed = dockerfile()
    installed = set(parsed.apt_packages) | parsed.downloaded_tools
    for tool in FLAGGER_TOOLS - installed:
        assert f"{tool}: left out" in DOCKERFILE.read_text(), f"{tool} is not in the image"
    assert not installed & {"bats"} & set(parsed.apt_packages), "bats comes from 1.11.1"
    assert {"helm", "kubectl", "ghz", "grpc_health_probe", "bats"} <= parsed.downloaded_tools
    tools = parsed.stage("tools")
    args = dict(a.partition("=")[::2] for a in parsed.values("ARG", tools))
    assert {name: args.get(name) for name in FLAGGER_VERSIONS} == FLAGGER_VERSIONS


def curl_downloads(run: str) -> list[tuple[str, list[str]]]:
    """(file written, the RUN's words after that file name) of each curl in a RUN."""
    lexer = shlex.shlex(run, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    words = list(lexer)
    separators = {";", "|", "&&", "||"}
    found = []
    for i, word in enumerate(words):
        if word != "curl" or (i and words[i - 1] not in separators):
            continue
        end = next((j for j in range(i, len(words)) if words[j] in separators), None)
        args = words[i + 1 : end]
        if not any("://" in a for a in args):
            continue  # curl --version
        [flag] = [a for a in args if re.fullmatch(r"-[a-zA-Z]*o", a)]
        output = i + 1 + args.index(flag) + 1
        found.append((words[output], words[output + 1 :]))
    return found


def test_dockerfile_checks_every_download_against_a_pinned_sha256() -> None:
    """Every curl writes a file that `sha256sum -c` checks against a pinned SHA-256 before
    use; nothing is downloaded with ADD or wget, nor piped into tar or a shell."""
    parsed = dockerfile()
    for stage in parsed.stages:
        assert not any("://" in add for add in parsed.values("ADD", stage))
        for run in parsed.values("RUN", stage):
            assert not re.search(r"(^|&&|;|\|)\s*wget\s+(?!--version)", run), run
            assigned = re.findall(r"\bsha256=(\S*?)(?:\s|;|$)", run)
            for value in assigned:
                if not SHA256_HEX.match(value):
                    # none pinned (or the build's own): no download then, the tool is left out
                    assert value in ('""', '"$GHZ_SHA256_ARM64"'), value
                    assert re.search(r'if \[ -z "\$sha256" \]; then [^;]+; +exit 0;', run), run
            for file, rest in curl_downloads(run):
                check = [
                    i
                    for i in range(len(rest) - 4)
                    if rest[i] == "echo" and rest[i + 2 : i + 5] == ["|", "sha256sum", "-c"]
                ]
                assert check, f"{file} is not checked with sha256sum -c"
                digest, _, target = rest[check[0] + 1].partition("  ")
                assert target == file
                assert SHA256_HEX.match(digest) or (digest == "${sha256}" and assigned), digest
                before = [w for w in rest[: check[0]] if file in w and "://" not in w]
                assert not before, f"{file} is used before its check"


def test_dockerfile_names_the_source_of_each_sha256() -> None:
    """Each RUN that checks a SHA-256 follows a comment saying where the value was published."""
    lines = DOCKERFILE.read_text().splitlines()
    starts = [n for n, line in enumerate(lines) if line.startswith("RUN ")]
    checked = 0
    for start in starts:
        end = start
        while lines[end].endswith("\\"):
            end += 1
        if "sha256sum -c" not in "\n".join(lines[start : end + 1]):
            continue
        checked += 1
        above = start - 1
        comments = []
        while above >= 0 and (lines[above].startswith(("#", "ARG "))):
            comments.append(lines[above])
            above -= 1
        assert any("SHA-256:" in c for c in comments), lines[start]
    assert checked == 6


def test_dockerfile_smoke_test_runs_every_tool() -> None:
    """The last RUN, as the service user, asks every tool for its version."""
    parsed = dockerfile()
    smoke = parsed.values("RUN")[-1]
    assert parsed.final.index(
        next(i for i in parsed.final if i.keyword == "USER")
    ) < parsed.final.index(next(i for i in reversed(parsed.final) if i.keyword == "RUN"))
    for tool in FLAGGER_TOOLS | {"wget", "tini"}:
        assert re.search(rf"(^|&& |then |{{ ){tool} ", smoke), f"{tool} is not smoke-tested"
    assert "./loadtester --version" in smoke


def test_dockerfile_default_command_is_flaggers() -> None:
    """ENTRYPOINT + CMD is Flagger's line, run from WORKDIR /home/app on the exposed port."""
    parsed = dockerfile()
    assert parsed.exec_form("ENTRYPOINT") + parsed.exec_form("CMD") == FLAGGER_COMMAND
    assert parsed.values("WORKDIR")[-1] == WORKDIR
    assert parsed.values("EXPOSE") == ["8080"]


def test_dockerfile_needs_only_the_mounted_paths_writable() -> None:
    """HOME, TMPDIR and the state dir are the volumes the manifests mount as emptyDirs."""
    parsed = dockerfile()
    env = parsed.env
    assert (env["HOME"], env["TMPDIR"], env["LOADTESTER_STATE"]) == ("/tmp", "/tmp", STATE_DIR)
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert set(json.loads(parsed.values("VOLUME")[0])) == {"/tmp", STATE_DIR}
    assert any(f"-o {UID} -g {UID}" in run and STATE_DIR in run for run in parsed.values("RUN"))
    docs = load_plain(K8S)
    assert set(mounts_of(loadtester_container(docs), pod_spec(docs))) == {"/tmp", STATE_DIR}


def test_dockerfile_shim_is_the_workdir_loadtester() -> None:
    """./loadtester in WORKDIR is a root-owned 0755 shim exec'ing the venv's console script."""
    parsed = dockerfile()
    path, text, mode = parsed.shim
    assert path == f"{WORKDIR}/loadtester"
    assert mode == "0755"
    assert text.startswith("#!/bin/sh\n")
    [venv] = [run for run in parsed.values("RUN", parsed.stages[0]) if "-m venv" in run]
    assert f"app={venv.split()[-1]}/bin/loadtester\n" in text


def test_dockerfile_shim_passes_arguments_through(tmp_path: Path) -> None:
    """The shim runs the console script with Flagger's arguments unchanged."""
    _, text, _ = dockerfile().shim
    fake = tmp_path / "console-script"
    fake.write_text('#!/bin/sh\nprintf "<%s>\\n" "$0" "$@"\n')
    fake.chmod(0o755)
    shim = tmp_path / "loadtester"
    shim.write_text(re.sub(r"^app=.*$", f"app={fake}", text, flags=re.MULTILINE))
    shim.chmod(0o755)
    args = [*FLAGGER_COMMAND[1:], "-namespace-regexp=^(test|prod)$", "two words"]
    result = subprocess.run([str(shim), *args], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"<{fake}>", *(f"<{a}>" for a in args)]


def test_dockerfile_shim_puts_tini_first_as_pid_1(tmp_path: Path) -> None:
    """As PID 1 the shim execs tini -- console script, so orphans get reaped."""
    _, text, _ = dockerfile().shim
    assert '[ "$$" -eq 1 ] && [ -x /usr/bin/tini ]' in text
    tini = tmp_path / "tini"
    tini.write_text('#!/bin/sh\nprintf "<%s>\\n" tini "$@"\n')
    tini.chmod(0o755)
    as_pid_1 = text.replace('"$$"', "1").replace("/usr/bin/tini", str(tini))
    shim = tmp_path / "loadtester"
    shim.write_text(re.sub(r"^app=.*$", "app=/console-script", as_pid_1, flags=re.MULTILINE))
    shim.chmod(0o755)
    result = subprocess.run(
        [str(shim), "-port=8080", "two words"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    lines = ["<tini>", "<-->", "</console-script>", "<-port=8080>", "<two words>"]
    assert result.stdout.splitlines() == lines


def test_dockerfile_shim_puts_health_proto_back_on_a_mounted_tmp(tmp_path: Path) -> None:
    """An emptyDir on /tmp hides the image's /tmp/ghz: the shim copies health.proto there."""
    _, text, _ = dockerfile().shim
    proto = tmp_path / "share" / "health.proto"
    proto.parent.mkdir()
    proto.write_text('syntax = "proto3";\n')
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    text = text.replace("/usr/local/share/ghz/health.proto", str(proto))
    text = text.replace("/tmp/ghz", f"{tmp}/ghz")
    shim = tmp_path / "loadtester"
    shim.write_text(re.sub(r"^app=.*$", "app=/bin/true", text, flags=re.MULTILINE))
    shim.chmod(0o755)
    for _ in range(2):
        result = subprocess.run([str(shim)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
        assert (tmp / "ghz" / "health.proto").read_text() == proto.read_text()


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or a parent decides (! re-includes)."""
    parts = PurePosixPath(path).parts
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = re.escape(pattern.lstrip("!")).replace(r"\*\*/", "(.*/)?")
        glob = glob.replace(r"\*", "[^/]*").replace(r"\[", "[").replace(r"\]", "]")
        if any(re.fullmatch(glob, candidate) for candidate in candidates):
            excluded = not negated
    return excluded


def test_dockerignore_keeps_only_the_build_inputs() -> None:
    """The build context holds pyproject.toml, setup.py, the lock, README.md and the package
    (its .pxd files, no compiled module, stamp or generated C), nothing else."""
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    needed_files = ("pyproject.toml", "setup.py", "requirements.lock", "README.md",
                    "loadtester/cli.py", "loadtester/loadgen/running/connection.pxd")
    for needed in (*needed_files, "loadtester/tasks/x.py"):
        assert not ignored(needed, patterns), needed
    for unwanted in (
        ".git/config",
        ".loadtester/loadtester.db",
        "tests/k8s/test_k8s.py",
        "k8s/deployment.yaml",
        "loadtester/__pycache__/cli.cpython-311.pyc",
        "loadtester/loadgen/running/connection.cpython-311-x86_64-linux-gnu.so",
        "loadtester/loadgen/running/connection.sha256",
        "loadtester/loadgen/running/connection.c",
        ".venv/bin/python",
    ):
        assert ignored(unwanted, patterns), unwanted
