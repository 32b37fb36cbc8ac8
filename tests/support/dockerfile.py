"""The facts of an image that a Deployment depends on, read from its Dockerfile's final stage.

Small on purpose: it understands the instructions and the shell commands this project's
Dockerfile uses (ENV, USER, WORKDIR, VOLUME, ENTRYPOINT, CMD; in RUN: apt-get install,
groupadd, useradd, install -d / -D, mkdir, printf > FILE, chmod, ln -s) and says what it
could not read by leaving it out, so a test fails rather than guesses.
"""

from __future__ import annotations

import json
import shlex
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

SEPARATORS = frozenset({"&&", "||", ";", "|", "&", "(", ")", "{", "}"})
PATH_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


@dataclass(frozen=True)
class PathFact:
    """A path the Dockerfile creates: a directory, a file or a symbolic link."""

    path: str
    kind: str  # dir | file | link
    uid: int = 0
    gid: int = 0
    mode: int = 0o755
    text: str | None = None  # a file written with printf
    target: str = ""  # a link's target


@dataclass(frozen=True)
class User:
    """An account useradd creates."""

    name: str
    uid: int
    gid: int
    home: str


@dataclass
class Image:
    """What the final stage leaves in the image."""

    workdir: str = "/"
    user: str = "0"
    env: dict[str, str] = field(default_factory=dict)
    volumes: list[str] = field(default_factory=list)
    apt_packages: list[str] = field(default_factory=list)
    paths: dict[str, PathFact] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)

    @property
    def uid_gid(self) -> tuple[int, int]:
        """USER as numbers: `10001:10001`, `app`, or `10001` (its gid from useradd, else 0)."""
        name, _, group = self.user.partition(":")
        uid = int(name) if name.isdigit() else self.users[name].uid
        if group:
            return uid, int(group) if group.isdigit() else self.groups[group]
        return uid, self.primary_gid(uid)

    def primary_gid(self, uid: int) -> int:
        """The gid the runtime gives a uid with no group set: its account's, else 0."""
        return next((user.gid for user in self.users.values() if user.uid == uid), 0)

    def resolve(self, command: str) -> str:
        """The path a container's command[0] runs: relative to WORKDIR, or found on PATH."""
        if "/" in command:
            return str(PurePosixPath(self.workdir, command))
        for directory in self.env.get("PATH", ":".join(PATH_DIRS)).split(":"):
            candidate = f"{directory}/{command}"
            if candidate in self.paths:
                return candidate
        return ""

    def installs(self, binary: str) -> bool:
        """Whether the image has `binary` on PATH: a Debian package of that name, or a file
        or link the Dockerfile puts into a PATH directory."""
        return binary in self.apt_packages or bool(self.resolve(binary))

    def volume_of(self, path: str) -> str | None:
        """The image VOLUME that `path` lies in, if any."""
        for volume in sorted(self.volumes, key=len, reverse=True):
            if path == volume or path.startswith(volume.rstrip("/") + "/"):
                return volume
        return None

    def fact(self, path: str) -> PathFact:
        """What the Dockerfile made of a directory (or what a Debian image has: root, 0755)."""
        return self.paths.get(path, PathFact(path, "dir"))


def permits(fact: PathFact, uid: int, gids: set[int], want: int) -> bool:
    """Whether uid (in groups gids) gets `want` (an R/W/X_OK mask) on the path, by its mode."""
    if uid == 0:
        return True
    if fact.uid == uid:
        bits = (fact.mode >> 6) & 7
    elif fact.gid in gids:
        bits = (fact.mode >> 3) & 7
    else:
        bits = fact.mode & 7
    return bits & want == want


def logical_lines(text: str) -> list[str]:
    """Instructions, continuation lines joined, comments and blank lines left out."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        if raw.lstrip().startswith("#"):
            continue
        if raw.endswith("\\"):
            pending += raw[:-1]
            continue
        line = (pending + raw).strip()
        pending = ""
        if line:
            lines.append(line)
    return lines


def _commands(script: str) -> list[list[str]]:
    """A RUN's shell script as simple commands (words), split at && ; | and groupings."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for word in lexer:
        if word in SEPARATORS:
            commands.append([])
        else:
            commands[-1].append(word)
    return [command for command in commands if command]


def _options(words: list[str], with_value: set[str]) -> tuple[dict[str, str], list[str]]:
    """(options with their values, operands) of a command's arguments."""
    options: dict[str, str] = {}
    operands: list[str] = []
    position = 0
    while position < len(words):
        word = words[position]
        position += 1
        if word.startswith("--") and "=" in word:
            name, _, value = word.partition("=")
            options[name] = value
        elif word in with_value:
            options[word] = words[position]
            position += 1
        elif word.startswith("-") and len(word) > 1:
            options[word] = ""
        else:
            operands.append(word)
    return options, operands


class _Builder:
    """Applies the final stage's instructions, in order, to an Image."""

    def __init__(self, args: dict[str, str]) -> None:
        self.image = Image()
        self.args = args

    def _id(self, value: str, table: dict[str, int]) -> int:
        return int(value) if value.isdigit() else table[value]

    def _uid(self, value: str) -> int:
        return self._id(value, {name: user.uid for name, user in self.image.users.items()})

    def _dirs(self, path: str, uid: int = 0, gid: int = 0, mode: int = 0o755) -> None:
        """`path` and its missing parents (root, 0755); `path` gets the given owner and mode."""
        parent = PurePosixPath(path).parent
        while str(parent) != "/" and str(parent) not in self.image.paths:
            self.image.paths[str(parent)] = PathFact(str(parent), "dir")
            parent = parent.parent
        self.image.paths[path] = PathFact(path, "dir", uid, gid, mode)

    def run(self, script: str) -> None:
        for words in _commands(script):
            self._command(words)

    def _command(self, words: list[str]) -> None:
        name, rest = words[0], words[1:]
        paths = self.image.paths
        if name == "apt-get" and "install" in rest:
            _, operands = _options(rest[rest.index("install") + 1:], set())
            self.image.apt_packages.extend(operands)
        elif name == "groupadd":
            options, operands = _options(rest, {"--gid", "-g"})
            self.image.groups[operands[0]] = int(options.get("--gid") or options["-g"])
        elif name == "useradd":
            options, operands = _options(
                rest, {"--uid", "-u", "--gid", "-g", "--home-dir", "-d", "--shell", "-s"})
            uid = int(options.get("--uid") or options["-u"])
            gid = self._id(options.get("--gid") or options["-g"], self.image.groups)
            home = options.get("--home-dir") or options.get("-d") or f"/home/{operands[0]}"
            self.image.users[operands[0]] = User(operands[0], uid, gid, home)
            if "--create-home" in options or "-m" in options:
                self._dirs(home, uid, gid, 0o755)  # useradd's mode under Debian's umask 022
        elif name == "install":
            options, operands = _options(rest, {"-o", "-g", "-m", "--owner", "--group",
                                                "--mode"})
            uid = self._uid(options.get("-o") or options.get("--owner") or "0")
            gid = self._id(options.get("-g") or options.get("--group") or "0",
                           self.image.groups)
            mode = int(options.get("-m") or options.get("--mode") or "755", 8)
            if "-d" in options:
                for directory in operands:
                    self._dirs(directory, uid, gid, mode)
            else:
                target = operands[-1]
                if "-D" in options:
                    self._dirs(str(PurePosixPath(target).parent))
                paths[target] = PathFact(target, "file", uid, gid, mode)
        elif name == "mkdir":
            options, operands = _options(rest, {"-m"})
            for directory in operands:
                self._dirs(directory, mode=int(options.get("-m", "755"), 8))
        elif name == "ln":
            options, operands = _options(rest, set())
            symbolic = "--symbolic" in options or any(
                "s" in option[1:] for option in options if not option.startswith("--"))
            if symbolic and len(operands) == 2:
                paths[operands[1]] = PathFact(operands[1], "link", target=operands[0])
        elif name == "printf" and ">" in rest:
            end = rest.index(">")
            target = rest[end + 1]
            if rest[0] == "%s\\n":
                text = "".join(f"{line}\n" for line in rest[1:end])
                paths[target] = PathFact(target, "file", mode=0o644, text=text)
        elif name == "chmod":
            mode, *targets = rest
            for target in targets:
                if target in paths and mode.isdigit():
                    paths[target] = replace(paths[target], mode=int(mode, 8))


def parse_dockerfile(path: Path) -> Image:
    """The final stage of the Dockerfile at `path`, applied instruction by instruction."""
    args: dict[str, str] = {}
    builder: _Builder | None = None
    for line in logical_lines(path.read_text()):
        keyword, _, value = line.partition(" ")
        keyword, value = keyword.upper(), value.strip()
        if keyword == "FROM":
            builder = _Builder(args)  # each stage starts over: only the last one is kept
            continue
        if builder is None:
            if keyword == "ARG":
                name, _, default = value.partition("=")
                args[name] = default
            continue
        image = builder.image
        if keyword == "RUN":
            builder.run(value)
        elif keyword == "ENV":
            for pair in shlex.split(value):
                key, _, setting = pair.partition("=")
                image.env[key] = setting
        elif keyword == "USER":
            image.user = value
        elif keyword == "WORKDIR":
            image.workdir = str(PurePosixPath(image.workdir, value))
            if image.workdir not in image.paths:
                builder._dirs(image.workdir)
        elif keyword == "VOLUME":
            volumes = json.loads(value) if value.startswith("[") else value.split()
            image.volumes.extend(volumes)
        elif keyword in ("ENTRYPOINT", "CMD"):
            form = json.loads(value) if value.startswith("[") else ["/bin/sh", "-c", value]
            setattr(image, keyword.lower(), form)
    if builder is None:
        raise ValueError(f"{path}: no FROM")
    return builder.image


def is_executable(fact: PathFact) -> bool:
    """A file with an execute bit for everyone (what a container of any uid may run)."""
    return fact.kind == "file" and bool(fact.mode & stat.S_IXOTH)
