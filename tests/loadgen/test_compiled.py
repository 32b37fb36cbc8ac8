"""The compiled hot path never runs stale code: loadtester/loadgen/compiled.py's guard, on a
copy of the built package whose sources are then edited."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from loadtester.loadgen import compiled

PACKAGE = Path(compiled.__file__).parents[1]  # loadtester/
PROBE = """
import loadtester.loadgen.compiled as guard
import loadtester.loadgen.running.connection as connection
import loadtester.loadgen.running.mixengine as mixengine
print(connection.__file__, mixengine.__file__, guard.PURE_REASON, sep="\\n")
"""


def imported(root: Path, **env: str) -> list[str]:
    """The files the hot modules connection and mixengine are imported from, with the
    package under ``root``, and why the sources run (None: compiled)."""
    child = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=root, capture_output=True, text=True, timeout=60,
        env={**os.environ, "LOADTESTER_PURE": "", "PYTHONPATH": str(root), **env},
    )  # fmt: skip
    assert child.returncode == 0, child.stderr
    return child.stdout.splitlines()


def test_a_changed_source_runs_instead_of_every_compiled_module(tmp_path: Path) -> None:
    """Compiled modules run while every stamp matches its .py and .pxd; after one .py is
    edited (or with LOADTESTER_PURE=1) all hot modules run from source, as compiled modules
    use each other's compiled classes."""
    if compiled.PURE_REASON is not None:
        pytest.skip(f"the hot path is not compiled: {compiled.PURE_REASON}")
    shutil.copytree(PACKAGE, tmp_path / "loadtester", ignore=shutil.ignore_patterns("__pycache__"))
    connection, mixengine, reason = imported(tmp_path)
    assert (Path(connection).suffix, Path(mixengine).suffix, reason) == (".so", ".so", "None")
    assert connection.startswith(str(tmp_path))

    assert imported(tmp_path, LOADTESTER_PURE="1")[:2] == [
        str(tmp_path / "loadtester/loadgen/running/connection.py"),
        str(tmp_path / "loadtester/loadgen/running/mixengine.py"),
    ]
    source = tmp_path / "loadtester/loadgen/running/connection.py"
    source.write_text(source.read_text() + "\n# edited after the build\n")
    connection, mixengine, reason = imported(tmp_path)
    assert (connection, mixengine) == (str(source), str(source.with_name("mixengine.py")))
    assert reason.startswith("connection.py or its .pxd changed since the build")
