"""The real helm 3, helm 4 and kubectl binaries `scripts/ensure-tools` installs into .tools/bin."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS_BIN = ROOT / ".tools" / "bin"
HELM_VERSIONS = ("helm3", "helm4")


def tool(name: str) -> Path:
    """The path of one installed tool (helm3, helm4, kubectl, kubectl-1.32), installing the set
    on first use; skips the test where they cannot be had (no npm, no registry)."""
    path = TOOLS_BIN / name
    if not path.exists():
        done = subprocess.run([str(ROOT / "scripts" / "ensure-tools")], capture_output=True,
                              text=True, timeout=600, check=False)
        if done.returncode != 0 or not path.exists():
            pytest.skip(f"{name} could not be installed: {done.stderr.strip()[-300:]}")
    return path


def helm_bin_dir(helm: str, tmp_path: Path) -> Path:
    """A directory holding `helm` (the given major version) and `kubectl`, for a PATH."""
    directory = tmp_path / f"bin-{helm}"
    directory.mkdir(exist_ok=True)
    for name, target in (("helm", tool(helm)), ("kubectl", tool("kubectl"))):
        link = directory / name
        if not link.exists():
            link.symlink_to(target)
    return directory
