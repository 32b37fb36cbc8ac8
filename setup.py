"""The optional compiled hot path: the load generator's per-request modules (HOT) built with
Cython 3 from the same .py files, typed by the .pxd file beside each, when Cython and a C
compiler are there. Without either, or with LOADTESTER_PURE=1 at build time, nothing is
compiled and the .py files run as they are (one warning line says so).

Next to each compiled module the build writes ``<module>.sha256``: the SHA-256 of the .py and
.pxd it was built from (``sha256sum`` format). loadtester/loadgen/compiled.py reads them at
import time and runs the .py sources instead of compiled modules built from other sources.
Everything else (metadata, dependencies, package data) is in pyproject.toml.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

sys.path.insert(0, str(Path(__file__).parent / "loadtester" / "loadgen"))
from compiled import HOT, stamp_text  # the one list of hot modules

PACKAGE = "loadtester.loadgen."


class OptionalBuildExt(build_ext):
    """build_ext that compiles HOT when it can, and otherwise builds nothing, with a warning."""

    def run(self) -> None:
        """Cythonize and compile HOT, then write each module's source stamp."""
        if os.environ.get("LOADTESTER_PURE") == "1":
            return self.skip("LOADTESTER_PURE=1")
        try:
            from Cython.Build import cythonize
        except ImportError:
            return self.skip("Cython is not installed")
        try:
            generated = cythonize(
                self.extensions, language_level=3, build_dir="build/cython", quiet=True,
                compiler_directives={"annotation_typing": False, "infer_types": True},
            )  # fmt: skip
            c_sources = {ext.name: ext.sources for ext in generated}
            for ext in self.extensions:  # setuptools' own Extensions, with its attributes
                ext.sources = c_sources[ext.name]
            self.parallel = self.parallel or os.cpu_count() or 1
            super().run()
        except Exception as exc:  # a missing or failing C compiler, a .pxd out of step
            return self.skip(f"{type(exc).__name__}: {exc}".splitlines()[0][:300])
        for ext in self.extensions:  # next to the module: in the source tree when in place
            source = Path(*ext.name.split(".")).with_suffix(".py")  # (editable installs)
            built = Path(self.get_ext_fullpath(ext.name)).with_name(source.stem + ".sha256")
            built.write_text(stamp_text(source))
        return None

    def remove_outputs(self) -> None:
        """Remove compiled modules and stamps of an earlier build: all HOT or none are built."""
        inplace = self.inplace
        for ext in self.extensions:
            for self.inplace in (False, True):
                built = Path(self.get_ext_fullpath(ext.name))
                built.unlink(missing_ok=True)
                built.with_name(ext.name.rsplit(".", 1)[-1] + ".sha256").unlink(missing_ok=True)
        self.inplace = inplace

    def skip(self, reason: str) -> None:
        """Remove an earlier build's compiled modules; say why in one warning line."""
        self.remove_outputs()
        print(f"warning: loadtester: hot path not compiled ({reason}); the .py files run as they"
              " are", file=sys.stderr)


setup(
    ext_modules=[
        Extension(PACKAGE + module, [f"loadtester/loadgen/{module.replace('.', '/')}.py"])
        for module in HOT
    ],
    cmdclass={"build_ext": OptionalBuildExt},
)
