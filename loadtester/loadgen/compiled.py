"""Whether the generator's hot modules run compiled, and a guard that compiled code is never stale.

setup.py may compile the HOT modules with Cython from their .py files (typed by the .pxd beside
each). Python imports a compiled module in preference to the .py next to it, so a developer who
edits connection.py and runs the tests without rebuilding would run the old code. So the build
writes ``<module>.sha256`` next to each compiled module, the SHA-256 of the .py and .pxd it was
built from, and :func:`install` puts a finder before Python's own that loads every HOT module
from its .py source unless all stamps match the sources beside them, and always with
``LOADTESTER_PURE=1`` in the environment (the guard test counts Python calls on the sources).
All or none: compiled modules use each other's compiled classes (``cimport``), so a single
module run from source would not import beside compiled ones.

Imports nothing of loadtester: setup.py reads HOT and stamp_text from it at build time.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from collections.abc import Sequence
from importlib.machinery import EXTENSION_SUFFIXES, ModuleSpec
from pathlib import Path
from types import ModuleType

__all__ = ["HOT", "PURE_REASON", "install", "stamp_text"]

# the compiled modules, below loadtester.loadgen
HOT = (
    "running.connection", "running.engine", "running.mixengine", "running.recorder",
    "running.responsehead", "running.samples", "running.tlssocket", "results.histogram",
    "results.details",
)  # fmt: skip
_PACKAGE = "loadtester.loadgen."
_HERE = Path(__file__).parent


def stamp_text(source: Path) -> str:
    """The stamp of a module built from ``source`` (its .py) and the .pxd beside it, in the
    format of ``sha256sum``."""
    return "".join(
        f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n"
        for path in (source, source.with_suffix(".pxd"))
    )


def _source(module: str) -> Path:
    """The .py file of HOT ``module``."""
    return _HERE.joinpath(*module.split(".")).with_suffix(".py")


def _why_pure() -> str | None:
    """None when every HOT module may run compiled, else why the sources run instead."""
    if os.environ.get("LOADTESTER_PURE") == "1":
        return "LOADTESTER_PURE=1"
    for module in HOT:
        source = _source(module)
        if not any(source.with_suffix(suffix).exists() for suffix in EXTENSION_SUFFIXES):
            return f"{source.name} is not compiled"
        try:
            stamp = source.with_suffix(".sha256").read_text()
            current = stamp_text(source)
        except OSError as exc:
            return f"{source.name}: {exc.strerror}: {exc.filename}"
        if stamp != current:
            return f"{source.name} or its .pxd changed since the build (./scripts/ensure-deps)"
    return None


PURE_REASON = _why_pure()


class _SourceFirst:
    """A meta path finder that finds HOT modules as their .py sources."""

    @staticmethod
    def find_spec(
        fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        """The source spec of a HOT module; None (ask the next finder) for any other."""
        module = fullname.removeprefix(_PACKAGE)
        if module == fullname or module not in HOT:
            return None
        return importlib.util.spec_from_file_location(fullname, _source(module))


def install() -> None:
    """Run the HOT modules from their sources when PURE_REASON says so (once per process)."""
    if PURE_REASON is not None and not any(isinstance(f, _SourceFirst) for f in sys.meta_path):
        sys.meta_path.insert(0, _SourceFirst())
