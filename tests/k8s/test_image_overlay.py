"""The documented way to run another image with the kustomize base k8s/ needs kubectl alone."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.support.k8s import K8S, ROOT, load_yaml, loadtester_container, one
from tests.support.tools import tool

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def documented_overlay() -> str:
    """The shell block of the docs that writes an `images:` overlay and applies it."""
    for page in PAGES:
        for block in re.findall(r"```(?:sh|shell|bash)\n(.*?)```", page.read_text(), re.S):
            if "images:" in block and "kubectl apply -k" in block:
                return str(block)
    raise AssertionError("no page shows an images: overlay applied with kubectl apply -k")


def test_documented_image_override_needs_kubectl_alone(tmp_path: Path) -> None:
    """Run as written beside k8s/ (`kubectl apply -k` rendered offline by the real kubectl's
    `kustomize`), the overlay makes the Deployment run the new image in its namespace."""
    kubectl = tool("kubectl")
    (tmp_path / "k8s").symlink_to(K8S)
    rendered = tmp_path / "rendered.yaml"
    shim = tmp_path / "bin" / "kubectl"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\n[ "$1 $2" = "apply -k" ] || exit 64\n'
                    f'exec {kubectl} kustomize "$3" > {rendered}\n')
    shim.chmod(0o755)
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", documented_overlay()], cwd=tmp_path,
                          env={"PATH": f"{shim.parent}:/usr/bin:/bin", "HOME": str(tmp_path)},
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    docs = load_yaml(rendered)
    assert loadtester_container(docs)["image"] == "registry.example.com/loadtester:0.1.0"
    assert one(docs, "Deployment")["metadata"]["namespace"] == "test"


def test_no_page_needs_a_separate_kustomize_binary() -> None:
    """No page or manifest comment tells the reader to run `kustomize edit` (kubectl has none)."""
    texts = [*PAGES, *K8S.rglob("*.yaml")]
    assert [path for path in texts if "kustomize edit" in path.read_text()] == []
