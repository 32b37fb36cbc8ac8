"""README.md and docs/*.md stay true to the repository: links resolve, shell examples use flags
the commands have, paths named exist, and the README fits on a few screens."""

from __future__ import annotations

import functools
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = next(parent for parent in Path(__file__).resolve().parents
            if (parent / "pyproject.toml").is_file())
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 200

FENCE = re.compile(r"^(`{3,}|~{3,})\s*(\S*)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
FLAG = re.compile(r"--?[A-Za-z][\w-]*")
HELP_FLAG = re.compile(r"(?<![\w-])--?[A-Za-z][\w-]*")  # not the -in of built-in
SHELL_BLOCKS = {"sh", "bash", "shell", "console"}
# the programs whose flags are checked, as a shell example may call them
PROGRAMS = {("loadtester",), (".venv/bin/loadtester",), ("./scripts/serve",),
            ("python", "-m", "loadtester"), ("python3", "-m", "loadtester"),
            (".venv/bin/python", "-m", "loadtester")}
SUBCOMMANDS = {"load", "status", "gate", "rollback", "tasks"}
SEPARATORS = {"&&", "||", "|", ";", "&", "(", ")"}
# repository folders whose paths a page may name in code (`k8s/examples/ha/`)
REPO_DIRS = {"bench", "charts", "docs", "k8s", "loadtester", "scripts", "tests"}
PACKAGE_DIRS = {"events", "loadgen", "routes", "state", "tasks", "ui"}


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def split_blocks(text: str) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """The page's prose lines (code blocks blanked) and its fenced code blocks (info, lines)."""
    prose: list[str] = []
    blocks: list[tuple[str, list[str]]] = []
    fence = ""
    for line in text.splitlines():
        match = FENCE.match(line.strip())
        if not fence and match:
            fence = match.group(1)
            blocks.append((match.group(2).lower(), []))
            prose.append("")
        elif fence and line.strip().startswith(fence) and not line.strip().strip(fence[0]):
            fence = ""
            prose.append("")
        elif fence:
            blocks[-1][1].append(line)
            prose.append("")
        else:
            prose.append(line)
    return prose, blocks


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: its text, lower case, punctuation dropped, spaces to -."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"<[^>]+>", "", text).lower()
    text = "".join(char for char in text if char.isalnum() or char in " -_")
    return text.replace(" ", "-")


@functools.cache
def anchors(page: Path) -> frozenset[str]:
    """Every anchor GitHub gives the page's headings (repeats numbered -1, -2, ...)."""
    seen: dict[str, int] = {}
    found = set()
    for line in split_blocks(page.read_text())[0]:
        match = HEADING.match(line)
        if match is None:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return frozenset(found)


def links(page: Path) -> Iterator[str]:
    """The targets of the page's links and images, outside code."""
    for line in split_blocks(page.read_text())[0]:
        line = INLINE_CODE.sub("", line)
        yield from LINK.findall(line)
        reference = REFERENCE.match(line)
        if reference:
            yield reference.group(1)


def broken_link(page: Path, target: str) -> str | None:
    """Why a relative link does not resolve, or None when it does (or is not relative)."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith("//"):
        return None
    path, _, anchor = target.partition("#")
    resolved = (page.parent / path).resolve() if path else page
    if not resolved.exists():
        return f"{target}: no such file"
    if anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
        return f"{target}: no heading #{anchor} in {page_id(resolved)}"
    return None


def shell_commands(page: Path) -> Iterator[list[str]]:
    """Each simple command of the page's shell code blocks, as words."""
    for info, lines in split_blocks(page.read_text())[1]:
        if info not in SHELL_BLOCKS:
            continue
        text = "\n".join(line.removeprefix("$ ") for line in lines).replace("\\\n", " ")
        for line in text.splitlines():
            try:
                words = list(shlex_words(line))
            except ValueError:  # not a command: a line of a here-document, say
                continue
            command: list[str] = []
            for word in words:
                if word in SEPARATORS:
                    yield command
                    command = []
                else:
                    command.append(word)
            yield command


def shlex_words(line: str) -> Iterator[str]:
    """The line's words as a shell splits them, with `&&`, `|`, `;` as words of their own."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    return iter(lexer)


def invocation(command: list[str]) -> tuple[str, list[str]] | None:
    """("serve" or a subcommand, its arguments) when the command runs the load tester."""
    while command and re.match(r"^[A-Z_][A-Z0-9_]*=", command[0]):
        command = command[1:]  # VAR=value before the program
    for program in PROGRAMS:
        if tuple(command[:len(program)]) == program:
            args = command[len(program):]
            if args and args[0] in SUBCOMMANDS | {"serve"}:
                return args[0], args[1:]
            return "serve", args
    return None


@functools.cache
def known_flags(subcommand: str) -> frozenset[str]:
    """The flags `loadtester [subcommand] -h` lists."""
    argv = [sys.executable, "-m", "loadtester", *([] if subcommand == "serve" else [subcommand]),
            "-h"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=ROOT,
                          check=False)
    return frozenset(HELP_FLAG.findall(done.stdout + done.stderr))


def code_paths(page: Path) -> Iterator[str]:
    """Words of the page's code (inline and shell blocks) that name a path in the repository."""
    prose, blocks = split_blocks(page.read_text())
    words = [word for line in prose for _, span in INLINE_CODE.findall(line)
             for word in span.split()]
    words += [word for info, lines in blocks if info in SHELL_BLOCKS
              for line in lines for word in line.split()]
    for word in words:
        word = word.strip("'\",;:()[]").removeprefix("./")
        if not re.fullmatch(r"[\w.-]+(/[\w.*-]+)*/?", word) or "/" not in word:
            continue
        first = word.split("/")[0]
        if first in REPO_DIRS or (page.name == "architecture.md" and first in PACKAGE_DIRS):
            yield word


def path_exists(page: Path, word: str) -> bool:
    """A path of the repository (or, in the code map, of the package), a glob, or a
    `module.name` reference to a module that exists."""
    bases = [ROOT, ROOT / "loadtester"] if page.name == "architecture.md" else [ROOT]
    head, _, last = word.rstrip("/").rpartition("/")
    candidates = [word.rstrip("/")]
    if "." in last:  # routes/tasks.run_task: the module routes/tasks.py
        candidates.append(f"{head}/{last.split('.')[0]}.py")
    return any(any(base.glob(candidate)) for base in bases for candidate in candidates)


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_relative_links_resolve(page: Path) -> None:
    """Every relative link and image of the page names a file that exists, and every #anchor
    a heading of the page it points to."""
    broken = [why for target in links(page) if (why := broken_link(page, target))]
    assert broken == []


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_shell_examples_use_existing_flags(page: Path) -> None:
    """Every flag of a `loadtester`, `./scripts/serve` or `python -m loadtester` line in the
    page's shell examples is listed by that command's -h (the subcommand's for load, status,
    gate, rollback and tasks)."""
    unknown = []
    for command in shell_commands(page):
        called = invocation(command)
        if called is None:
            continue
        subcommand, args = called
        for arg in args:
            name = arg.strip("[]").split("=")[0]  # `[--all]`: an optional flag
            if FLAG.fullmatch(name) and name not in known_flags(subcommand):
                unknown.append(f"{subcommand}: {arg}")
    assert unknown == []


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_paths_named_in_code_exist(page: Path) -> None:
    """Every repository path the page names in code (`k8s/examples/ha/`, `tests/state/`, and
    in the code map `tasks/runner.py`) exists."""
    missing = [word for word in code_paths(page) if not path_exists(page, word)]
    assert missing == []


def test_readme_fits_on_a_few_screens() -> None:
    """README.md stays the front door: at most 200 lines, the rest in docs/."""
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES


def test_every_docs_page_is_linked_from_the_index() -> None:
    """docs/README.md links every page of docs/, so none is found by accident only."""
    index = ROOT / "docs" / "README.md"
    linked = {(index.parent / target.partition("#")[0]).resolve() for target in links(index)}
    pages = {page.resolve() for page in PAGES if page.parent == index.parent and page != index}
    assert sorted(map(str, pages - linked)) == []


def test_slugs_follow_github() -> None:
    """Anchors are made as GitHub makes them: punctuation and code marks dropped, spaces to
    hyphens, case folded."""
    assert slug("Tasks: `POST /`") == "tasks-post-"
    assert slug("Authentication (`-token-file`)") == "authentication--token-file"
    assert slug("Tasks do not see the service's secrets") == "tasks-do-not-see-the-services-secrets"
