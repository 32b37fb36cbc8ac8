"""Imports run one way: no module of the package reaches itself again through its imports (at
the top or inside a function), and each module imports on its own in a fresh interpreter."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import loadtester

PACKAGE = Path(loadtester.__file__).parent
Graph = dict[str, set[str]]


def package_modules(root: Path) -> dict[str, Path]:
    """Every module under the package directory `root`, by dotted name."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = [root.name, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _statements(node: ast.AST) -> Iterator[ast.stmt]:
    """Every statement that can run: all but the body of `if TYPE_CHECKING:`."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _type_checking(child.test):
            for statement in child.orelse:
                yield statement
                yield from _statements(statement)
        elif isinstance(child, ast.stmt):
            yield child
            yield from _statements(child)
        else:
            yield from _statements(child)


def _imported(name: str, path: Path, statement: ast.stmt) -> Iterator[str]:
    """The dotted names one import statement of module `name` brings in."""
    if isinstance(statement, ast.Import):
        yield from (alias.name for alias in statement.names)
    elif isinstance(statement, ast.ImportFrom):
        base = statement.module or ""
        if statement.level:
            package = name.split(".")
            if path.name != "__init__.py":
                package.pop()
            package = package[: len(package) - statement.level + 1]
            base = ".".join([*package, *([base] if base else [])])
        yield base
        # `from pkg import sub` imports the submodule pkg.sub when there is one
        yield from (f"{base}.{alias.name}" for alias in statement.names)


def import_graph(modules: dict[str, Path]) -> Graph:
    """Module -> the package's modules its import statements load (packages included: importing
    a.b.c runs a/__init__.py and a/b/__init__.py first)."""
    graph: Graph = {}
    for name, path in modules.items():
        edges: set[str] = set()
        tree = ast.parse(path.read_text(), str(path))
        for statement in _statements(tree):
            for target in _imported(name, path, statement):
                parts = target.split(".")
                for end in range(1, len(parts) + 1):
                    module = ".".join(parts[:end])
                    # a module's own packages are loaded before it: no edge back to them
                    if module in modules and not name.startswith(module + ".") \
                            and module != name:
                        edges.add(module)
        graph[name] = edges
    return graph


def cycles(graph: Graph) -> list[list[str]]:
    """One cycle of each strongly connected group of modules, as a path `a, b, c, a`."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(module: str) -> None:  # Tarjan's algorithm
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in sorted(graph[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = set()
            while (member := stack.pop()) != module:
                group.add(member)
            group.add(module)
            if len(group) > 1:
                groups.append(group)

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return [_cycle_in(graph, group) for group in groups]


def _cycle_in(graph: Graph, group: set[str]) -> list[str]:
    """The shortest cycle through the group's first module, by breadth-first search."""
    start = min(group)
    paths = {start: [start]}
    queue = [start]
    for module in queue:
        for target in sorted(graph[module] & group):
            if target == start:
                return [*paths[module], start]
            if target not in paths:
                paths[target] = [*paths[module], target]
                queue.append(target)
    raise AssertionError(f"no cycle through {start}")  # pragma: no cover


def test_no_import_cycle() -> None:
    """No module of the package imports itself back through others, counting imports inside
    functions (what `if TYPE_CHECKING:` guards never runs and does not count)."""
    found = cycles(import_graph(package_modules(PACKAGE)))
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_graph_counts_lazy_relative_and_submodule_imports(tmp_path: Path) -> None:
    """The graph sees an import inside a function, a relative import and `from pkg import
    module`, names the cycle they close, and leaves out imports under TYPE_CHECKING."""
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    sources = {
        "__init__.py": "",
        "a.py": "from . import b\n",
        "b.py": "def later():\n    from pkg.sub import c\n",
        "sub/__init__.py": "",
        "sub/c.py": "from ..a import x\n",
        "d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import e\n",
        "e.py": "import pkg.d\n",
    }
    for relative, source in sources.items():
        (package / relative).write_text(source)
    graph = import_graph(package_modules(package))
    assert graph["pkg.sub.c"] == {"pkg.a"}
    assert graph["pkg.d"] == set()
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.sub.c", "pkg.a"]]


CHILD = textwrap.dedent("""
    import importlib, os, sys, traceback
    split = sys.argv.index("--")
    libraries, modules = sys.argv[1:split], sys.argv[split + 1:]
    # the libraries the package uses, loaded once before the forks: each child then spends its
    # time on the package's own modules
    for library in libraries:
        try:
            importlib.import_module(library)
        except ImportError:
            pass

    def child(module):
        sys.argv = ["loadtester", "-version"]  # loadtester.__main__ runs the command
        code = 0
        try:
            importlib.import_module(module)
        except SystemExit as exc:
            code = exc.code or 0
        except BaseException:
            sys.stderr.write(f"FAILED {module}\\n{traceback.format_exc()}")
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

    running, failed = {}, 0
    for module in modules:
        if len(running) >= 2:
            pid, status = os.wait()
            failed += os.waitstatus_to_exitcode(status) != 0
            del running[pid]
        pid = os.fork()
        if pid == 0:
            child(module)
        running[pid] = module
    for pid in running:
        _, status = os.waitpid(pid, 0)
        failed += os.waitstatus_to_exitcode(status) != 0
    sys.exit(1 if failed else 0)
""")


def libraries(modules: dict[str, Path]) -> list[str]:
    """The modules of other distributions that the package's import statements name."""
    names = set()
    for path in modules.values():
        for statement in _statements(ast.parse(path.read_text(), str(path))):
            if isinstance(statement, ast.Import):
                names.update(alias.name for alias in statement.names)
            elif isinstance(statement, ast.ImportFrom) and not statement.level:
                names.add(statement.module or "")
    return sorted(name for name in names
                  if name.partition(".")[0] not in (*sys.stdlib_module_names, PACKAGE.name))


@pytest.mark.system
def test_each_module_imports_on_its_own() -> None:
    """Every module imports in a fresh interpreter with none of the package loaded before it,
    so no module works only because another one happened to be imported first."""
    modules = package_modules(PACKAGE)
    done = subprocess.run([sys.executable, "-c", CHILD, *libraries(modules), "--",
                           *sorted(modules)], capture_output=True, text=True, timeout=100,
                          check=False)
    failed = [line for line in done.stderr.splitlines() if line.startswith("FAILED")]
    assert done.returncode == 0 and not failed, done.stderr[-4000:]


@pytest.mark.parametrize(("module", "others"), [
    ("loadtester.keys", set()),
    ("loadtester.flags", {"durations", "excerpt"}),
    ("loadtester.policy", {"errors", "models", "tasks", "tasks.base"}),
])
def test_low_modules_load_little_of_the_package(module: str, others: set[str]) -> None:
    """The app keys and the flags are leaves, and the command policy loads the task protocol
    but no task type (nor the load generator behind `load`)."""
    probe = ("import importlib, sys; importlib.import_module(sys.argv[1]); "
             "print(' '.join(m for m in sys.modules if m.startswith('loadtester.')))")
    done = subprocess.run([sys.executable, "-c", probe, module], capture_output=True, text=True,
                          timeout=60, check=True)
    loaded = {name.removeprefix("loadtester.") for name in done.stdout.split()}
    assert loaded - {module.removeprefix("loadtester.")} == others
