"""`-allow-file-dir`: which files a payload may name (hey's `-D`, Concord's `apiKeyPath`).

Wherever the directories allow, the service's own secrets stay out of reach: the token file,
the files -config and `LOADTESTER_*_FILE` read secrets from, -config itself, Redis TLS key
files, the SQLite store, the pod's service account token, and anything under /proc or /sys.
A file is checked twice: its resolved path before it is opened, then the file actually opened
(the path the kernel reports for the descriptor, and its device and inode), so a symlink
swapped in between, or a hard link, cannot reach a refused file.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from loadtester.events.config import secret_files
from loadtester.flags import ENV_PREFIX

if TYPE_CHECKING:
    from loadtester.settings import Settings

__all__ = ["FileNotAllowed", "FilePolicy", "printable_path", "startup_warning"]

# the service account's token gives a caller the pod's Kubernetes API rights
NEVER_UNDER = (
    "/proc",
    "/sys",
    "/run/secrets/kubernetes.io",
    "/var/run/secrets/kubernetes.io",
)
# devices are refused anyway (not regular files: 400); regular files here (/dev/shm) are not ours
DEVICES = "/dev"
_REDIS_FILE_PARAMETERS = ("ssl_keyfile", "ssl_certfile", "ssl_ca_certs")
_SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")
NO_DIRECTORIES_WARNING = (
    "-allow-file-dir is not set while tokens are required (-token-file): "
    "hey's -D and Concord's apiKeyPath may read any file the service "
    "can read except its own secrets"
)


def printable_path(path: str) -> str:
    """The path as one printable line."""
    return path if path.isprintable() else ascii(path)


class FileNotAllowed(Exception):
    """The policy refuses the file; the message is `file not allowed: <path>`, one line."""

    def __init__(self, path: str) -> None:
        self.path = printable_path(path)
        super().__init__(f"file not allowed: {self.path}")


def _under(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def opened_path(fd: int) -> str | None:
    """The path the kernel reports for an open descriptor; None without /proc."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}").removesuffix(" (deleted)")
    except OSError:
        return None


class FilePolicy:
    """Where a payload may read files: under `allowed` directories (none: anywhere), never the
    `secrets` files nor under NEVER_UNDER."""

    def __init__(
        self, allowed: Iterable[str] = (), secrets: Iterable[str] = (), config: str = ""
    ) -> None:
        self.allowed = tuple(allowed)
        self._secrets = tuple(secrets)
        self._config = config  # the -config file, whose secret files are read on first use

    @classmethod
    def from_settings(
        cls, settings: Settings, environ: Mapping[str, str] | None = None
    ) -> FilePolicy:
        """The policy of the service: no I/O here; -config is read at the first check."""
        env = os.environ if environ is None else environ
        secrets = [settings.token_file, settings.config]
        secrets += [
            value
            for name, value in env.items()
            if name.startswith(ENV_PREFIX) and name.endswith("_FILE")
        ]
        if settings.state_backend == "redis":
            query = parse_qs(urlsplit(settings.state).query)
            secrets += [path for key in _REDIS_FILE_PARAMETERS for path in query.get(key, ())]
        elif settings.state_backend == "sqlite":
            database = str(settings.database_path)
            secrets += [database + suffix for suffix in _SQLITE_SUFFIXES]
        return cls(settings.allow_file_dir, [path for path in secrets if path], settings.config)

    @cached_property
    def secret_files(self) -> tuple[str, ...]:
        """Every file that holds one of the service's secrets."""
        return (*self._secrets, *secret_files(self._config))

    def resolve(self, path: str) -> str:
        """The real path of `path` (symlinks followed, `..` resolved), to be opened with
        O_NOFOLLOW; FileNotAllowed when it lies where no payload may read."""
        real = os.path.realpath(path)
        self._check_place(path, real)
        return real

    def check_file(self, path: str, real: str, info: os.stat_result) -> None:
        """Refuse a file (stat before the open, fstat after) that is one of the secrets, by
        device and inode (a hard link or another mount of it too), or a regular file under
        /dev."""
        if stat.S_ISREG(info.st_mode) and _under(real, DEVICES):
            raise FileNotAllowed(path)
        if (info.st_dev, info.st_ino) in self._secret_ids():
            raise FileNotAllowed(path)

    def check_opened(self, path: str, real: str, fd: int, info: os.stat_result) -> None:
        """Check the file `fd` is open on: where the kernel says it is, and what it is."""
        opened = opened_path(fd) or real
        self._check_place(path, opened)
        self.check_file(path, opened, info)

    def _check_place(self, path: str, real: str) -> None:
        if any(_under(real, directory) for directory in NEVER_UNDER):
            raise FileNotAllowed(path)
        if self.allowed and not any(
            _under(real, os.path.realpath(directory)) for directory in self.allowed
        ):
            raise FileNotAllowed(path)
        if real in {os.path.realpath(secret) for secret in self.secret_files}:
            raise FileNotAllowed(path)

    def _secret_ids(self) -> set[tuple[int, int]]:
        # at each check: a mounted Secret is replaced by a new file when it changes
        ids: set[tuple[int, int]] = set()
        for secret in self.secret_files:
            try:
                info = os.stat(secret)
            except (OSError, ValueError):
                continue
            ids.add((info.st_dev, info.st_ino))
        return ids


def startup_warning(settings: Settings) -> str | None:
    """The line to log at start-up when tokens guard the service but files are readable from
    anywhere (the default, kept for drop-in compatibility)."""
    if settings.token_file and not settings.allow_file_dir:
        return NO_DIRECTORIES_WARNING
    return None
