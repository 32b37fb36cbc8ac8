"""The offline Kubernetes schema validator (tests/support/k8s_validate.py) is live: it passes
valid objects on every supported Kubernetes version, names the field of each error, rejects
kinds no schema knows, and the project's manifests pass it."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.k8s_validate import KUBE_VERSIONS, validate
from tests.support.tools import ROOT, tool

pytestmark = pytest.mark.system

Doc = dict[str, Any]

DEPLOYMENT: Doc = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "flagger-loadtester", "labels": {"app": "flagger-loadtester"}},
    "spec": {
        "replicas": 1,
        "selector": {"matchLabels": {"app": "flagger-loadtester"}},
        "template": {
            "metadata": {"labels": {"app": "flagger-loadtester"}},
            "spec": {
                "containers": [{
                    "name": "loadtester",
                    "image": "ghcr.io/example/loadtester:0.1.0",
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "resources": {"limits": {"memory": "512Mi", "cpu": 1}},
                }],
            },
        },
    },
}

PODMONITOR: Doc = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "PodMonitor",
    "metadata": {"name": "flagger-loadtester", "namespace": "test"},
    "spec": {
        "selector": {"matchLabels": {"app": "flagger-loadtester"}},
        "podMetricsEndpoints": [{"port": "http", "path": "/metrics", "interval": "15s"}],
    },
}

PROMETHEUS_RULE: Doc = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "PrometheusRule",
    "metadata": {"name": "flagger-loadtester"},
    "spec": {"groups": [{"name": "loadtester", "rules": [{
        "alert": "LoadtesterDown",
        "expr": "up{job='loadtester'} == 0",
        "for": "5m",
        "labels": {"severity": "warning"},
    }]}]},
}


def changed(doc: Doc, path: str, value: Any = None, *, delete: bool = False) -> Doc:
    """A deep copy of doc with the dotted path (numbers index lists) set to value, or deleted."""
    doc = copy.deepcopy(doc)
    *parents, last = [int(part) if part.isdigit() else part for part in path.split(".")]
    node: Any = doc
    for part in parents:
        node = node[part]
    if delete:
        del node[last]
    else:
        node[last] = value
    return doc


def kustomize(directory: Path) -> list[Doc]:
    """The objects `kubectl kustomize` renders from a directory."""
    kubectl = shutil.which("kubectl") or str(tool("kubectl"))
    result = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_valid_deployment_passes_on_every_version(version: str) -> None:
    """A valid Deployment has no errors on any Kubernetes version from 1.29 to 1.35."""
    assert validate([DEPLOYMENT], version) == []


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_unknown_field_is_an_error(version: str) -> None:
    """A field the schema does not declare is reported with its full path."""
    doc = changed(DEPLOYMENT, "spec.template.spec.containers.0.foo", "bar")
    assert validate([doc], version) == [
        "Deployment/flagger-loadtester: spec.template.spec.containers[0].foo: unknown field"
    ]


def test_wrong_type_is_an_error() -> None:
    """replicas: "two" is reported as a wrong type at spec.replicas."""
    doc = changed(DEPLOYMENT, "spec.replicas", "two")
    assert validate([doc], "1.35") == [
        "Deployment/flagger-loadtester: spec.replicas: wrong type: expected integer, "
        "got string 'two'"
    ]


def test_missing_required_field_is_an_error() -> None:
    """A Deployment without spec.selector, and a container without a name, are reported."""
    doc = changed(DEPLOYMENT, "spec.selector", delete=True)
    doc = changed(doc, "spec.template.spec.containers.0.name", delete=True)
    assert sorted(validate([doc], "1.29")) == [
        "Deployment/flagger-loadtester: spec.selector: required field missing",
        "Deployment/flagger-loadtester: spec.template.spec.containers[0].name: "
        "required field missing",
    ]


def test_every_error_of_every_object_is_reported() -> None:
    """Errors are collected across fields and objects, not stopped at the first."""
    bad = changed(changed(DEPLOYMENT, "spec.replicas", "two"), "metadata.labels.app", 1)
    errors = validate([bad, changed(bad, "metadata.name", "other")], "1.32")
    assert len(errors) == 4
    assert "Deployment/other: metadata.labels.app: wrong type: expected string, got integer 1" \
        in errors


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_valid_podmonitor_passes(version: str) -> None:
    """A valid PodMonitor and PrometheusRule pass against the Prometheus Operator CRDs."""
    assert validate([PODMONITOR, PROMETHEUS_RULE], version) == []


def test_podmonitor_numeric_port_is_an_error() -> None:
    """podMetricsEndpoints[].port is a port name (a string) in the CRD: 8080 is rejected."""
    doc = changed(PODMONITOR, "spec.podMetricsEndpoints.0.port", 8080)
    assert validate([doc], "1.33") == [
        "PodMonitor/flagger-loadtester: spec.podMetricsEndpoints[0].port: wrong type: "
        "expected string, got integer 8080"
    ]


def test_podmonitor_unknown_field_is_an_error() -> None:
    """An unknown field in a PodMonitor endpoint, or in its metadata, is reported."""
    doc = changed(PODMONITOR, "spec.podMetricsEndpoints.0.scrapeEvery", "15s")
    doc = changed(doc, "metadata.label", {"app": "x"})
    assert sorted(validate([doc], "1.30")) == [
        "PodMonitor/flagger-loadtester: metadata.label: unknown field",
        "PodMonitor/flagger-loadtester: spec.podMetricsEndpoints[0].scrapeEvery: unknown field",
    ]


def test_prometheusrule_bad_fields_are_errors() -> None:
    """A PrometheusRule with an unknown rule field, a bad duration and no group name fails."""
    doc = changed(PROMETHEUS_RULE, "spec.groups.0.rules.0.severity", "page")
    doc = changed(doc, "spec.groups.0.rules.0.for", "5 minutes")
    doc = changed(doc, "spec.groups.0.name", delete=True)
    errors = validate([doc], "1.34")
    assert "PrometheusRule/flagger-loadtester: spec.groups[0].rules[0].severity: unknown field" \
        in errors
    assert "PrometheusRule/flagger-loadtester: spec.groups[0].name: required field missing" \
        in errors
    assert any(error.startswith("PrometheusRule/flagger-loadtester: spec.groups[0].rules[0]"
                                ".for: '5 minutes' does not match") for error in errors)
    assert len(errors) == 3


def test_istio_objects_are_checked_against_their_crds() -> None:
    """Istio Gateway and VirtualService pass when valid and fail on a wrong type or field."""
    gateway: Doc = {
        "apiVersion": "networking.istio.io/v1beta1", "kind": "Gateway",
        "metadata": {"name": "loadtester"},
        "spec": {"selector": {"istio": "ingressgateway"}, "servers": [{
            "port": {"number": 80, "name": "http", "protocol": "HTTP"},
            "hosts": ["loadtester.example.com"]}]},
    }
    service: Doc = {
        "apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
        "metadata": {"name": "loadtester"},
        "spec": {"hosts": ["loadtester.example.com"], "gateways": ["loadtester"], "http": [
            {"route": [{"destination": {"host": "loadtester", "port": {"number": 80}}}]}]},
    }
    assert validate([gateway, service], "1.35") == []
    assert validate([changed(gateway, "spec.servers.0.port.number", "80"),
                     changed(service, "spec.http.0.retry", 3)], "1.35") == [
        "Gateway/loadtester: spec.servers[0].port.number: wrong type: expected integer, "
        "got string '80'",
        "VirtualService/loadtester: spec.http[0].retry: unknown field",
    ]


def test_app_mesh_virtual_node_is_checked_structurally() -> None:
    """An App Mesh VirtualNode (no schema package) still needs a spec and a valid metadata."""
    node: Doc = {"apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "VirtualNode",
                 "metadata": {"name": "loadtester"}, "spec": {"podSelector": {}}}
    assert validate([node], "1.31") == []
    bad = changed(changed(node, "spec", delete=True), "metadata.nmae", "x")
    assert sorted(validate([bad], "1.31")) == [
        "VirtualNode/loadtester: metadata.nmae: unknown field",
        "VirtualNode/loadtester: spec: required field missing",
    ]


def test_unknown_kind_is_an_error() -> None:
    """Kinds no schema knows, a look-alike group of a built-in kind, and no kind are errors."""
    canary: Doc = {"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
                   "metadata": {"name": "podinfo"}, "spec": {}}
    lookalike = {**DEPLOYMENT, "apiVersion": "apps.example.com/v1"}
    errors = validate([canary, lookalike, {"metadata": {"name": "x"}}], "1.35")
    assert errors == [
        "Canary/podinfo: no schema for kind Canary (flagger.app/v1beta1) in Kubernetes 1.35 "
        "or the known CRDs",
        "Deployment/flagger-loadtester: no schema for kind Deployment (apps.example.com/v1) in "
        "Kubernetes 1.35 or the known CRDs",
        "<no kind>/x: apiVersion and kind are required",
    ]


def test_unsupported_kubernetes_version_raises() -> None:
    """A Kubernetes version without bundled schemas is the caller's mistake, not a pass."""
    with pytest.raises(ValueError, match=r"1\.19"):
        validate([DEPLOYMENT], "1.19")


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_example_podmonitor_is_valid(version: str) -> None:
    """k8s/examples/podmonitor.yaml passes the PodMonitor CRD schema."""
    docs = [doc for doc in yaml.safe_load_all((ROOT / "k8s/examples/podmonitor.yaml")
                                              .read_text()) if doc]
    assert [doc["kind"] for doc in docs] == ["PodMonitor"]
    assert validate(docs, version) == []


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_example_prometheusrule_is_valid(version: str) -> None:
    """The PrometheusRule that `kubectl kustomize k8s/examples/alerts` renders is valid."""
    docs = kustomize(ROOT / "k8s/examples/alerts")
    assert [doc["kind"] for doc in docs] == ["PrometheusRule"]
    assert validate(docs, version) == []


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_kustomize_base_is_valid(version: str) -> None:
    """Every object `kubectl kustomize k8s` renders is valid on every Kubernetes version."""
    docs = kustomize(ROOT / "k8s")
    assert {doc["kind"] for doc in docs} >= {"Deployment", "Service"}
    assert validate(docs, version) == []
