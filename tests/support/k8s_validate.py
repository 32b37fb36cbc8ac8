"""Offline, strict schema validation of rendered Kubernetes objects (dicts loaded from YAML).

Built-in kinds are checked against the Kubernetes OpenAPI schemas that the PyPI package
`kubernetes-validate` bundles as JSON Schema: one set per minor version, 1.25 to 1.37, so every
version in KUBE_VERSIONS is its own exact schema (no nearest-version fallback is needed). Its
"-strict" sets close every object (`additionalProperties: false`), so an unknown field is an
error, and wrong types and missing required fields are errors too.

Custom resources are checked against the pydantic models that the PyPI packages
`cloudcoil-models-prometheus-operator` (0.80.1: the Prometheus Operator v0.80.1 CRDs; its 0.93
releases need Python >= 3.14) and `cloudcoil-models-istio` (1.24.2) generate from the CRDs'
openAPIV3Schema. Their JSON Schema is used with every object closed here (a strict reading of
the API server's pruning of unknown fields), the null alternatives of optional fields dropped
(the API server drops nulls of non-nullable CRD fields: so does `validate`) and `metadata`
replaced by that Kubernetes version's ObjectMeta. (No registry package ships these CRDs as
JSON Schema: npm's @kubernetes-models/prometheus-operator has compiled validators that accept
unknown fields. cloudcoil registers a pytest plugin that imports `filelock`, hence that test
dependency.) App Mesh VirtualNode has no registry package with its schema: only its
shape (apiVersion, kind, a strict ObjectMeta, an object spec) is checked (STRUCTURAL_ONLY).
A kind that no schema knows (Flagger's Canary, say) is reported as an error.
"""

from __future__ import annotations

import functools
import importlib
import json
import re
from collections.abc import Iterator, Sequence
from importlib import resources
from typing import Any

import jsonschema
from jsonschema.protocols import Validator
from jsonschema.validators import Draft202012Validator
from referencing import Registry, Resource

KUBE_VERSIONS = ("1.29", "1.30", "1.31", "1.32", "1.33", "1.34", "1.35")

DEFINITIONS = "https://kubernetes.io/api/_definitions.json"
OBJECT_META = f"{DEFINITIONS}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

_PROMETHEUS = "cloudcoil.models.prometheus_operator.v1"
_ISTIO = "cloudcoil.models.istio.networking"
# (apiVersion, kind) of a custom resource -> the module and class of its generated model
CRD_MODELS: dict[tuple[str, str], tuple[str, str]] = {
    ("monitoring.coreos.com/v1", "PodMonitor"): (_PROMETHEUS, "PodMonitor"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"): (_PROMETHEUS, "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"): (_PROMETHEUS, "PrometheusRule"),
    ("networking.istio.io/v1beta1", "Gateway"): (f"{_ISTIO}.v1beta1", "Gateway"),
    ("networking.istio.io/v1beta1", "VirtualService"): (f"{_ISTIO}.v1beta1", "VirtualService"),
    ("networking.istio.io/v1", "Gateway"): (f"{_ISTIO}.v1", "Gateway"),
    ("networking.istio.io/v1", "VirtualService"): (f"{_ISTIO}.v1", "VirtualService"),
}
STRUCTURAL_ONLY = frozenset({
    ("appmesh.k8s.aws/v1beta1", "VirtualNode"),
    ("appmesh.k8s.aws/v1beta2", "VirtualNode"),
})


def validate(objects: list[dict[str, Any]], kube_version: str) -> list[str]:
    """Every schema error of `objects` against Kubernetes `kube_version` ("1.32"), each as
    "Kind/name: field.path: problem"; an empty list when all are valid."""
    _schema_dir(kube_version)  # an unknown version is the caller's mistake: raise
    errors: list[str] = []
    for obj in objects:
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        name = (obj.get("metadata") or {}).get("name", "<unnamed>")
        label = f"{kind or '<no kind>'}/{name}"
        if not isinstance(api_version, str) or not isinstance(kind, str):
            errors.append(f"{label}: apiVersion and kind are required")
            continue
        validator = _validator(kube_version, api_version, kind)
        if validator is None:
            errors.append(f"{label}: no schema for kind {kind} ({api_version}) in Kubernetes "
                          f"{kube_version} or the known CRDs")
            continue
        if (api_version, kind) in CRD_MODELS:
            obj = _drop_nulls(obj)
        errors.extend(f"{label}: {message}" for error in validator.iter_errors(obj)
                      for message in _messages(error))
    return list(dict.fromkeys(errors))


def _schema_dir(kube_version: str) -> Any:
    directory = (resources.files("kubernetes_validate") / "kubernetes-json-schema"
                 / f"v{kube_version}.0-local-strict")
    if not directory.is_dir():
        raise ValueError(f"kubernetes-validate bundles no schemas for Kubernetes {kube_version}")
    return directory


@functools.cache
def _registry(kube_version: str) -> Registry[Any]:
    definitions = json.loads((_schema_dir(kube_version) / "_definitions.json").read_text())
    registry: Registry[Any] = Registry().with_resource(
        DEFINITIONS, Resource.from_contents(definitions))
    return registry


@functools.cache
def _validator(kube_version: str, api_version: str, kind: str) -> Validator | None:
    if (api_version, kind) in CRD_MODELS:
        schema: dict[str, Any] | None = _crd_schema(api_version, kind)
    elif (api_version, kind) in STRUCTURAL_ONLY:
        schema = _structural_schema(api_version, kind)
    else:
        schema = _builtin_schema(kube_version, api_version, kind)
    if schema is None:
        return None
    validator: Validator = Draft202012Validator(schema, registry=_registry(kube_version))
    return validator


def _builtin_schema(kube_version: str, api_version: str, kind: str) -> dict[str, Any] | None:
    group, _, version = api_version.rpartition("/")
    # kubernetes-validate's file naming: kind-firstgrouplabel-version.json (core: kind-v1.json)
    stem = "-".join(part for part in (kind.lower(), group.split(".")[0], version) if part)
    path = _schema_dir(kube_version) / f"{stem}.json"
    if not path.is_file():
        return None
    schema: dict[str, Any] = json.loads(path.read_text())
    gvk = {"group": group, "kind": kind, "version": version}
    # the naming drops all but the group's first label: insist on the exact group, version, kind
    return schema if gvk in schema.get("x-kubernetes-group-version-kind", []) else None


@functools.cache
def _crd_schema(api_version: str, kind: str) -> dict[str, Any]:
    module, name = CRD_MODELS[api_version, kind]
    model = getattr(importlib.import_module(module), name)
    schema: dict[str, Any] = _closed(model.model_json_schema(by_alias=True))
    schema["$id"] = f"urn:crd:{api_version}/{kind}"
    schema["properties"]["metadata"] = {"$ref": OBJECT_META}
    schema["properties"]["apiVersion"] = {"const": api_version}
    schema["properties"]["kind"] = {"const": kind}
    schema["required"] = sorted({"apiVersion", "kind", "metadata", *schema.get("required", [])})
    return schema


def _structural_schema(api_version: str, kind: str) -> dict[str, Any]:
    return {
        "$id": f"urn:structural:{api_version}/{kind}",
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": api_version},
            "kind": {"const": kind},
            "metadata": {"$ref": OBJECT_META},
            "spec": {"type": "object"},
            "status": {"type": "object"},
        },
    }


def _closed(node: Any) -> Any:
    """A pydantic JSON Schema with the null alternatives of optional fields dropped and every
    object with declared properties closed to others (the CRD's structural pruning)."""
    if isinstance(node, list):
        return [_closed(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _closed(value) for key, value in node.items()}
    if "anyOf" in node:
        branches = [branch for branch in node["anyOf"] if branch != {"type": "null"}]
        if len(branches) == 1:
            del node["anyOf"]
            node = {**branches[0], **node}
        else:
            node["anyOf"] = branches
    if "properties" in node and "additionalProperties" not in node:
        node["additionalProperties"] = False
    return node


def _drop_nulls(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _drop_nulls(value) for key, value in node.items() if value is not None}
    if isinstance(node, list):
        return [_drop_nulls(item) for item in node]
    return node


_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string",
               list: "array", dict: "object", type(None): "null"}


def _messages(error: jsonschema.ValidationError) -> Iterator[str]:
    path = _field_path(error.absolute_path)
    instance, expected = error.instance, error.validator_value
    if error.validator == "additionalProperties" and expected is False:
        known = error.schema.get("properties", {})
        patterns = error.schema.get("patternProperties", {})
        for key in instance:
            if key not in known and not any(re.search(p, key) for p in patterns):
                yield f"{_field_path([*error.absolute_path, key])}: unknown field"
    elif error.validator == "required":
        for key in expected:
            if key not in instance:
                yield f"{_field_path([*error.absolute_path, key])}: required field missing"
    elif error.validator == "type":
        wanted = [t for t in ([expected] if isinstance(expected, str) else expected)
                  if t != "null"]
        got = _JSON_TYPES.get(type(instance), type(instance).__name__)
        yield f"{path}: wrong type: expected {' or '.join(wanted)}, got {got} {instance!r}"
    else:
        yield f"{path}: {error.message}"


def _field_path(path: Sequence[str | int] | Any) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_$][\w$-]*", part):
            text += f".{part}" if text else part
        else:
            text += f"[{part!r}]"
    return text or "(object)"
