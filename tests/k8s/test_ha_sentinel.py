"""The Sentinel variant of the HA example (k8s/examples/ha/sentinel, a Component added after
k8s/examples/ha): three Redis pods, each with a sentinel, replace the single Redis; the
objects are valid and "restricted", agree with each other and with the load tester's URL,
and the pods, run for real in a private network namespace, fail over with the service
following (tests/support/sentinel_pods.py)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from loadtester.cli import parse_settings
from loadtester.sentinel_url import parse_sentinel_url
from tests.support.k8s import (
    EXAMPLES,
    KUBECTL,
    RENDERERS,
    ROOT,
    Doc,
    kustomize,
    load_component_plain,
    load_plain,
    one,
    pod_labels,
    resolve_port,
    secret_values,
    selects,
    write_kustomization,
)
from tests.support.k8s_validate import KUBE_VERSIONS, validate
from tests.support.pod_security import restricted_violations

HA = EXAMPLES / "ha"
SENTINEL = HA / "sentinel"
NAME = "flagger-loadtester-sentinel"
SECRET = "flagger-loadtester-state"


@pytest.fixture(params=RENDERERS)
def docs(request: pytest.FixtureRequest, tmp_path: Path) -> list[Doc]:
    """The base with the HA and Sentinel Components, by kubectl or merged in-test."""
    if request.param == "kubectl":
        if KUBECTL is None:
            pytest.skip("kubectl is not on PATH")
        return kustomize(write_kustomization(tmp_path, HA, SENTINEL))
    return load_component_plain(HA, SENTINEL)


def containers(docs: list[Doc]) -> dict[str, Doc]:
    """The Redis pods' containers (init ones too) by name."""
    spec = one(docs, "StatefulSet", NAME)["spec"]["template"]["spec"]
    return {c["name"]: c for c in [*spec["initContainers"], *spec["containers"]]}


def init_script(docs: list[Doc]) -> str:
    """The shell script of the init container that writes the configs."""
    command = containers(docs)["config"]["command"]
    assert command[:2] == ["sh", "-c"]
    script: str = command[2]
    return script


@pytest.mark.system
def test_components_read_in_the_test_match_kustomize(tmp_path: Path) -> None:
    """Merging both Components' YAML in-test gives exactly what kubectl kustomize renders."""
    if KUBECTL is None:
        pytest.skip("kubectl is not on PATH")

    def key(doc: Doc) -> str:
        return json.dumps(doc, sort_keys=True)

    rendered = kustomize(write_kustomization(tmp_path, HA, SENTINEL))
    assert sorted(map(key, load_component_plain(HA, SENTINEL))) == sorted(map(key, rendered))


@pytest.mark.system
@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_objects_are_valid_kubernetes(docs: list[Doc], version: str) -> None:
    """Every object validates against each supported Kubernetes version's schema."""
    assert validate(docs, version) == []


def test_redis_pods_pass_restricted_pod_security(docs: list[Doc]) -> None:
    """The Redis pods (init, redis, sentinel) meet the "restricted" Pod Security Standard."""
    assert restricted_violations(one(docs, "StatefulSet", NAME)["spec"]["template"]["spec"]) == []
    for name, container in containers(docs).items():
        assert container["securityContext"]["readOnlyRootFilesystem"] is True, name


def test_component_leaves_the_namespace_to_its_user() -> None:
    """No object or patch of the Component names a namespace."""
    assert all("namespace" not in doc["metadata"] for doc in load_plain(SENTINEL))


def test_three_redis_pods_replace_the_single_redis(docs: list[Doc]) -> None:
    """One StatefulSet of three pods, each a redis and a sentinel; the single Redis is gone."""
    [statefulset] = [doc for doc in docs if doc["kind"] == "StatefulSet"]
    assert statefulset["metadata"]["name"] == NAME and statefulset["spec"]["replicas"] == 3
    assert not [doc for doc in docs if doc["metadata"]["name"] == "flagger-loadtester-redis"]
    assert list(containers(docs)) == ["config", "redis", "sentinel"]
    assert containers(docs)["sentinel"]["command"][0] == "redis-sentinel"
    assert one(docs, "Deployment", "flagger-loadtester")["spec"]["replicas"] == 3


def test_headless_service_names_every_pod(docs: list[Doc]) -> None:
    """The StatefulSet's Service is headless, publishes starting pods, has both ports."""
    statefulset = one(docs, "StatefulSet", NAME)
    service = one(docs, "Service", statefulset["spec"]["serviceName"])
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True
    assert selects({"matchLabels": service["spec"]["selector"]}, pod_labels(statefulset))
    by_port = {port["port"]: port["targetPort"] for port in service["spec"]["ports"]}
    assert resolve_port(containers(docs)["redis"], by_port[6379]) == 6379
    assert resolve_port(containers(docs)["sentinel"], by_port[26379]) == 26379


def test_url_names_every_sentinel_and_the_monitored_name(docs: list[Doc]) -> None:
    """The Secret's URL lists each pod's sentinel by its stable name and the service name the
    sentinels monitor, with the password Redis, the sentinels and the probes use."""
    values = secret_values(one(docs, "Secret", SECRET))
    url = parse_sentinel_url(values["url"])
    statefulset = one(docs, "StatefulSet", NAME)
    service = statefulset["spec"]["serviceName"]
    assert url.sentinels == tuple((f"{NAME}-{pod}.{service}", 26379) for pod in range(3))
    assert f"sentinel monitor {url.service} $primary 6379 2" in init_script(docs)
    assert url.password == url.sentinel_password == values["password"]
    for name, container in containers(docs).items():
        refs = [e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e
                and "secretKeyRef" in e["valueFrom"]]
        assert refs and all(ref == {"name": SECRET, "key": "password"} for ref in refs), name


def test_loadtester_accepts_the_url(docs: list[Doc], tmp_path: Path) -> None:
    """The URL, read from the mounted Secret file, passes the service's start-up checks."""
    url = secret_values(one(docs, "Secret", SECRET))["url"]
    (tmp_path / "url").write_text(url)
    settings = parse_settings([], environ={"LOADTESTER_STATE_FILE": str(tmp_path / "url")})
    assert settings.state == url and settings.state_backend == "redis"
    assert "CHANGE-ME" not in settings.state_for_logs


def test_redis_pod_disruption_budget_keeps_the_quorum(docs: list[Doc]) -> None:
    """A drain takes one Redis pod at a time (two sentinels, the quorum, stay); the load
    tester's budget still selects only its own pods."""
    statefulset = one(docs, "StatefulSet", NAME)
    budget = one(docs, "PodDisruptionBudget", NAME)["spec"]
    assert budget["maxUnavailable"] == 1
    assert selects(budget["selector"], pod_labels(statefulset))
    loadtester = one(docs, "PodDisruptionBudget", "flagger-loadtester")["spec"]["selector"]
    assert not selects(loadtester, pod_labels(statefulset))


def test_init_script_is_valid_shell(docs: list[Doc]) -> None:
    """The init script parses (sh -n), writes both configs, and resolves and announces names."""
    script = init_script(docs)
    done = subprocess.run(["sh", "-n", "-c", script], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    for line in ("sentinel resolve-hostnames yes", "sentinel announce-hostnames yes"):
        assert line in script
    assert re.search(r"> /config/redis\.conf$", script, re.M)
    assert re.search(r"> /config/sentinel\.conf$", script, re.M)


@pytest.mark.system
@pytest.mark.timeout(240)
def test_pods_fail_over_and_the_loadtester_follows(tmp_path: Path) -> None:
    """Three pods bootstrap (pod 0 primary), the primary's pod is SIGKILLed: the service answers
    503, then 200 with the gate kept once a replica is promoted; pod 0, restarted, replicates
    from the new primary. Real redis-server and redis-sentinel in a private network namespace."""
    unshare = shutil.which("unshare")
    if unshare is None or shutil.which("redis-sentinel") is None:
        pytest.skip("needs unshare and redis-sentinel")
    as_root = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    done = subprocess.run(
        [unshare, *as_root, "--net", "--mount", sys.executable, "-m",
         "tests.support.sentinel_pods", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=220, check=False)
    if done.returncode != 0 and "unshare failed" in done.stderr:
        pytest.skip(f"no private namespaces here: {done.stderr.strip()[-200:]}")
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.splitlines()[-1])
    pod = [f"{NAME}-{n}.{NAME}" for n in range(3)]
    assert [line.rpartition(" ")[2] for line in seen["init"]] == [pod[0]] * 3
    assert seen["roles"] == ["master", "slave", "slave"]
    assert seen["ready"] == [200, "OK"] and seen["open"] == [202, ""]
    assert seen["replicas_acked"] == "2"
    assert seen["without_primary"] == 503
    assert seen["after_failover"] == [200, "Approved"]
    promoted = seen["promoted"].splitlines()
    assert promoted[0] in pod[1:] and promoted[1] == "6379"
    assert seen["restart_init"].rpartition(" ")[2] == promoted[0]
    assert seen["rejoined"] == ["slave", promoted[0]]
    assert "CHANGE-ME" not in seen["logs"]
