"""Kubernetes manifests as plain data: YAML and `kubectl kustomize` loading, queries of the
objects (one, pod_spec, env_of, ...) and the strategic merge of Component patches."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
EXAMPLES = K8S / "examples"
KUBECTL = shutil.which("kubectl")
# Fixture params: rendered by the real `kubectl kustomize` (a system test) or read as YAML.
RENDERERS = [pytest.param("kubectl", marks=pytest.mark.system), "yaml"]

Doc = dict[str, Any]

# Strategic-merge keys of the lists the HA patch merges into; any other list is replaced.
MERGE_KEYS = {"containers": "name", "env": "name", "volumes": "name", "volumeMounts": "mountPath"}


def load_yaml(path: Path) -> list[Doc]:
    """The non-empty documents of one YAML file."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def kustomize(directory: Path) -> list[Doc]:
    """The objects `kubectl kustomize` renders from a directory."""
    assert KUBECTL is not None
    result = subprocess.run(
        [KUBECTL, "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def load_plain(directory: Path) -> list[Doc]:
    """The resources a kustomization lists, read as YAML; its `images:` entries applied."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    docs: list[Doc] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        docs.extend(load_plain(path) if path.is_dir() else load_yaml(path))
    for image in kustomization.get("images", []):
        for doc in docs:
            containers = doc.get("spec", {}).get("template", {}).get("spec", {})
            for container in containers.get("containers", []):
                name = re.split(r"[:@]", container["image"].rpartition("/")[2])[0]
                if container["image"].rpartition("/")[0]:
                    name = container["image"].rpartition("/")[0] + "/" + name
                if name == image["name"]:
                    container["image"] = f"{image.get('newName', name)}:{image['newTag']}"
    return docs


def one(docs: list[Doc], kind: str, name: str | None = None) -> Doc:
    """The single object of a kind (and name) among docs."""
    found = [
        doc
        for doc in docs
        if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def pod_spec(docs: list[Doc]) -> Doc:
    """The pod template spec of the load tester's Deployment."""
    spec: Doc = one(docs, "Deployment", "flagger-loadtester")["spec"]["template"]["spec"]
    return spec


def loadtester_container(docs: list[Doc]) -> Doc:
    """The `loadtester` container of the Deployment."""
    containers = pod_spec(docs)["containers"]
    assert [c["name"] for c in containers] == ["loadtester"]
    container: Doc = containers[0]
    return container


def resolve_port(container: Doc, port: int | str) -> int:
    """A port number, or the containerPort of the named port."""
    if isinstance(port, int):
        return port
    by_name = {p["name"]: p["containerPort"] for p in container["ports"] if "name" in p}
    assert port in by_name, f"port {port!r} names no container port"
    number: int = by_name[port]
    return number


def flag_value(command: list[str], flag: str) -> str:
    """The value of `-flag=value` in a command line."""
    values = [arg.split("=", 1)[1] for arg in command if arg.startswith(f"-{flag}=")]
    assert len(values) == 1, f"-{flag}= appears {len(values)} times in {command}"
    return values[0]


def env_of(container: Doc) -> dict[str, str]:
    """The container's plain environment variables."""
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def mounts_of(container: Doc, spec: Doc) -> dict[str, Doc]:
    """Mount path -> the pod volume mounted there."""
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    return {m["mountPath"]: volumes[m["name"]] for m in container.get("volumeMounts", [])}


def webhooks(canary: Doc) -> list[Doc]:
    """The analysis webhooks of a Canary."""
    hooks: list[Doc] = canary["spec"]["analysis"]["webhooks"]
    return hooks


def example_canary(filename: str) -> Doc:
    """The Canary of an example file."""
    return one(load_yaml(EXAMPLES / filename), "Canary")


def merge_patch(base: Any, patch: Any, field: str = "") -> Any:
    """Strategic merge, enough for the example patches: maps key by key (null deletes), lists
    of MERGE_KEYS item by item on their key (`$patch: delete` drops one, new ones go first as
    kustomize puts them), anything else replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = merge_patch(base.get(key), value, key)
        return merged
    if isinstance(base, list) and field in MERGE_KEYS:
        key = MERGE_KEYS[field]
        changes = {item[key]: item for item in patch}
        known = {item[key] for item in base}
        added = [item for item in patch if item[key] not in known]
        kept = [item for item in base if changes.get(item[key], {}).get("$patch") != "delete"]
        return added + [merge_patch(item, changes.get(item[key], {})) for item in kept]
    return patch


def load_component_plain(*directories: Path) -> list[Doc]:
    """The base plus Components in order: each one's resources, then its patch files merged by
    merge_patch (a patch of `$patch: delete` removes its target)."""
    docs = load_plain(K8S)
    for directory in directories:
        component = yaml.safe_load((directory / "kustomization.yaml").read_text())
        assert component["kind"] == "Component"
        docs += load_plain(directory)
        for entry in component.get("patches", []):
            assert set(entry) == {"path"}, "only patch files are merged here"
            for patch in load_yaml(directory / entry["path"]):
                target = one(docs, patch["kind"], patch["metadata"]["name"])
                if patch.get("$patch") == "delete":
                    docs.remove(target)
                else:
                    docs[docs.index(target)] = merge_patch(target, patch)
    return docs


def write_kustomization(directory: Path, *components: Path, **extra: Any) -> Path:
    """A kustomization that adds Components to the base, as they document."""
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(K8S, directory)],
        "components": [os.path.relpath(component, directory) for component in components],
        **extra,
    }
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return directory


def selects(selector: Doc, labels: dict[str, str]) -> bool:
    """Whether a matchLabels-only label selector selects these labels."""
    assert set(selector) <= {"matchLabels"}, "only matchLabels selectors are read here"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def pod_labels(workload: Doc) -> dict[str, str]:
    """The labels of a Deployment's or StatefulSet's pod template."""
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def only_container(workload: Doc) -> Doc:
    """The single container of a workload's pod template."""
    [container] = workload["spec"]["template"]["spec"]["containers"]
    result: Doc = container
    return result


def secret_values(secret: Doc) -> dict[str, str]:
    """A Secret's keys and values, `data` decoded, `stringData` as is."""
    decoded = {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}
    return {**decoded, **secret.get("stringData", {})}


def redis_options(args: list[str]) -> dict[str, str]:
    """The `--name value` pairs of a redis-server command line."""
    assert len(args) % 2 == 0 and all(a.startswith("--") for a in args[::2]), args
    return dict(zip(args[::2], args[1::2], strict=True))
