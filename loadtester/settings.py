"""One frozen Settings model, built once by the CLI and passed down to everything else."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from loadtester.cluster_url import CLUSTER_SCHEMES, parse_cluster_url
from loadtester.forwarded import parse_networks
from loadtester.goregexp import compile_go
from loadtester.sentinel_url import (
    SENTINEL_SCHEMES,
    parse_sentinel_url,
    without_sentinel_password,
)

MEMORY_STATE = "memory"
REDIS_SCHEMES = ("redis://", "rediss://", *SENTINEL_SCHEMES, *CLUSTER_SCHEMES)


def default_state_dir() -> str:
    """Where the embedded store lives unless `-state` says otherwise."""
    xdg = os.environ.get("XDG_STATE_HOME")
    return str(Path(xdg) / "loadtester") if xdg else ".loadtester"


def valid_regexp(value: str) -> str:
    """A pydantic validator: the value compiles as a regular expression."""
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regexp {value!r}: {exc}") from None
    return value


def valid_console_url(value: str) -> str:
    """An absolute http(s) URL without query or fragment (empty: no links); without its
    trailing slash, so that page paths can be appended."""
    if not value:
        return value
    if any(char.isspace() or ord(char) < 32 for char in value):
        raise ValueError("must be an http(s) URL without spaces")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an absolute http:// or https:// URL, not {value[:100]!r}")
    if parts.query or parts.fragment or "?" in value or "#" in value:
        raise ValueError("must have no query (?) or fragment (#)")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry a user or password")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ValueError("bad port") from None
    return value.rstrip("/")


def available_cpus() -> int:
    """CPUs this process may use: affinity, capped by a cgroup v2 CPU limit (a pod's)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            return max(1, min(cpus or 1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cpus or 1)


class Settings(BaseModel):
    """Everything the service can be told at start-up."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    port: int = Field(default=9090, ge=0, le=65535)
    host: str | None = None
    timeout: float = Field(default=3600.0, gt=0)
    log_level: Literal["debug", "info", "warning", "error"] = "debug"
    namespace_regexp: str = ""
    zap_encoding: Literal["json", "console"] = "json"
    zap_replace_globals: bool = False
    state: str = Field(default_factory=default_state_dir)
    state_min_replicas: int = Field(default=0, ge=0)  # replicas a write reaches before its answer
    max_background_tasks: int = Field(default=64, ge=1)
    max_checks: int = Field(default=256, ge=1)
    max_canaries: int = Field(default=10_000, ge=1)  # distinct canaries per token per day
    background_failures: Literal["report", "ignore"] = "report"
    kill_grace: float = Field(default=2.0, ge=0)
    shutdown_grace: float = Field(default=10.0, ge=0)
    load_workers: int = Field(default_factory=lambda: available_cpus(), ge=1)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    # connections (loadtester/connections.py): 0 disables a timeout; max_connections 0 means
    # computed from RLIMIT_NOFILE
    read_timeout: float = Field(default=60.0, ge=0)
    read_header_timeout: float = Field(default=10.0, ge=0)
    max_connections: int = Field(default=0, ge=0)
    # security (all opt-in)
    token_file: str = ""
    allow_cmd: tuple[str, ...] = ()
    allow_file_dir: tuple[str, ...] = ()  # where -D and apiKeyPath may read; none: anywhere
    trusted_proxies: tuple[str, ...] = ()
    # event forwarding
    config: str = ""
    slack_url: str = ""
    msteams_url: str = ""
    discord_url: str = ""
    gchat_url: str = ""
    rocket_url: str = ""
    alertmanager_url: str = ""
    event_webhook_url: str = ""
    event_fold_window: float = Field(default=300.0, ge=0)
    event_max_age: float = Field(default=24 * 3600.0, gt=0)
    event_max_attempts: int = Field(default=0, ge=0)  # 0: no limit, only event_max_age
    notify_load_results: bool = False  # every type: load run's result to the event sinks
    console_url: str = ""  # the console's address for links in event messages (-console-url)

    @field_validator("namespace_regexp")
    @classmethod
    def _valid_go_regexp(cls, value: str) -> str:
        try:
            compile_go(value)
        except re.error as exc:
            raise ValueError(f"invalid regexp {value!r}: {exc}") from None
        return value

    @field_validator("allow_cmd")
    @classmethod
    def _valid_regexps(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(valid_regexp(value) for value in values)

    @field_validator("allow_file_dir")
    @classmethod
    def _valid_directories(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            if not value.strip() or "\0" in value:
                raise ValueError(f"not a directory name: {value!r}")
        return values

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _valid_networks(cls, value: object) -> object:
        if isinstance(value, str):  # `-trusted-proxies 10.0.0.0/8,192.168.1.7`
            value = tuple(part.strip() for part in value.split(",") if part.strip())
        if isinstance(value, (tuple, list)):
            parse_networks(tuple(str(item) for item in value))
        return value

    @field_validator("console_url")
    @classmethod
    def _valid_console_url(cls, value: str) -> str:
        return valid_console_url(value)

    @field_validator("state")
    @classmethod
    def _valid_state(cls, value: str) -> str:
        if value.startswith(SENTINEL_SCHEMES):
            parse_sentinel_url(value)
        elif value.startswith(CLUSTER_SCHEMES):
            parse_cluster_url(value)
        elif value.startswith(REDIS_SCHEMES):
            parts = urlsplit(value)
            try:
                parts.port  # noqa: B018 - raises on a port that is not a number
            except ValueError:
                raise ValueError("invalid Redis URL: bad port") from None
            if not parts.hostname and not parts.path:
                raise ValueError("invalid Redis URL: no host")
        elif "://" in value:
            raise ValueError("must be a directory, 'memory', or a redis://, rediss://, "
                             "redis+sentinel:// or redis+cluster:// URL")
        return value

    @field_validator("state_min_replicas")
    @classmethod
    def _replicas_need_redis(cls, value: int, info: ValidationInfo) -> int:
        state = info.data.get("state")
        if value and state is not None and not str(state).startswith(REDIS_SCHEMES):
            raise ValueError("needs -state=redis://, rediss:// or redis+sentinel:// (Redis "
                             "replicas to wait for)")
        if value and str(state).startswith(CLUSTER_SCHEMES):
            raise ValueError("not supported with -state=redis+cluster://")
        return value

    @property
    def in_memory(self) -> bool:
        """True when nothing is persisted (the Go service's behaviour)."""
        return self.state == MEMORY_STATE

    @property
    def state_backend(self) -> Literal["memory", "sqlite", "redis"]:
        """Which store `state` names: memory, a SQLite directory, or a Redis URL."""
        if self.in_memory:
            return "memory"
        return "redis" if self.state.startswith(REDIS_SCHEMES) else "sqlite"

    @property
    def state_for_logs(self) -> str:
        """`state` with a Redis URL's password (and a sentinel_password) masked."""
        state = without_sentinel_password(self.state)
        parts = urlsplit(state)
        if parts.password is None:
            return state
        host = parts.netloc.rpartition("@")[2]
        return parts._replace(netloc=f"{parts.username or ''}:***@{host}").geturl()

    @property
    def database_path(self) -> Path:
        """The SQLite file of the embedded store."""
        return Path(self.state) / "loadtester.db"
