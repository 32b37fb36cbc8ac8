"""Rendering the chart (and kustomize trees) with the real helm and kubectl binaries."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from tests.support.tools import ROOT, tool

CHART = ROOT / "charts" / "loadtester"
Doc = dict[str, Any]


def run_tool(argv: Sequence[str | Path], home: Path) -> subprocess.CompletedProcess[str]:
    """Run helm or kubectl offline, with its caches and config under `home`."""
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "HELM_CACHE_HOME": str(home / "cache"),
           "HELM_CONFIG_HOME": str(home / "config"), "HELM_DATA_HOME": str(home / "data")}
    return subprocess.run([str(part) for part in argv], capture_output=True, text=True,
                          timeout=120, env=env, check=False)


def helm(helm_version: str, *args: str | Path, home: Path) -> subprocess.CompletedProcess[str]:
    """`helm ARGS` with helm3 or helm4."""
    return run_tool([tool(helm_version), *args], home)


def template(helm_version: str, home: Path, *args: str, release: str = "flagger-loadtester",
             namespace: str = "test", chart: Path = CHART) -> list[Doc]:
    """The objects `helm template` renders; fails the test with helm's message on an error."""
    done = helm(helm_version, "template", release, chart, "--namespace", namespace, *args,
                home=home)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def template_error(helm_version: str, home: Path, *args: str) -> str:
    """helm's error output for values it must refuse."""
    done = helm(helm_version, "template", "flagger-loadtester", CHART, *args, home=home)
    assert done.returncode != 0, f"helm accepted {args}"
    return done.stderr


def kustomize(directory: Path, home: Path) -> list[Doc]:
    """The objects the real kubectl's `kustomize` renders from a directory."""
    done = run_tool([tool("kubectl"), "kustomize", directory], home)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def by_kind(docs: Sequence[Doc]) -> dict[tuple[str, str], Doc]:
    """The objects keyed by (kind, name)."""
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in docs}


def pod_spec(docs: Sequence[Doc]) -> Doc:
    """The pod template of the one Deployment."""
    [deployment] = [doc for doc in docs if doc["kind"] == "Deployment"]
    spec: Doc = deployment["spec"]["template"]["spec"]
    return spec
