"""The service's flags: name, help, parser and environment variable of each. A leaf module: the
command line parses them, the task runner hides their variables from child processes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from loadtester.durations import parse_go_duration

ENV_PREFIX = "LOADTESTER_"


@dataclass(frozen=True)
class Flag:
    """One command-line flag and the Settings field it fills."""

    name: str
    help: str
    parse: Callable[[str], Any] = str
    is_bool: bool = False
    secret: bool = False
    repeatable: bool = False  # may be given several times; its variable holds one a line

    @property
    def field(self) -> str:
        return self.name.replace("-", "_")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.field.upper()


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "t", "true", "yes", "on"):
        return True
    if value in ("0", "f", "false", "no", "off"):
        return False
    raise ValueError(f"invalid boolean {text!r}")


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"invalid number {text!r}") from None


FLAGS: tuple[Flag, ...] = (
    Flag("port", "listen port (default 9090)", _int),
    Flag("host", "listen address (default: all interfaces)"),
    Flag("timeout", "task timeout, Go duration such as 90s, 1m30s, 1h (default 1h)",
         parse_go_duration),
    Flag("log-level", "debug, info, warning or error (default debug)"),
    Flag("namespace-regexp", "serve only canaries whose namespace matches this regexp"),
    Flag("zap-encoding", "log encoding: json or console (default json)"),
    Flag("zap-replace-globals", "accepted for compatibility, ignored", _bool, is_bool=True),
    Flag("state", "directory of the embedded SQLite store, 'memory' to keep nothing, or "
         "redis://[:password@]host:6379/0 (rediss:// for TLS; redis+sentinel://host1,host2/"
         "mymaster for Sentinel; redis+cluster://host1:6379,host2:6379/ for Redis Cluster) to "
         "share state between replicas (default "
         "{default_state_dir})", secret=True),
    Flag("state-min-replicas", "with -state=redis:// or redis+sentinel://: a gate change, "
         "accepted event or task result is answered only once this many Redis replicas have "
         "it (WAIT, up to 0.5 s), else 503, so that a failover loses no acknowledged change "
         "(default 0: no waiting)", _int),
    Flag("token-file", "file of 'NAMESPACE TOKEN [NAME]' lines: payload endpoints then need "
         "the namespace's token (metadata.token or Authorization: Bearer), gate changes the "
         "header; '*' is any namespace"),
    Flag("allow-cmd", "regexp a cmd, bash, helm, helmv3, kubectl or load command must fully "
         "match (\"load <cmd>\", \"load <url>\" for each URL of a structured load or scenario); "
         "repeat it for several (environment: one a line); unset: any command",
         repeatable=True),
    Flag("allow-file-dir", "directory under which hey's -D and Concord's apiKeyPath may read "
         "files (symlinks resolved); repeat it for several (environment: one a line); unset: "
         "anywhere; the token file, the secret files of -config and LOADTESTER_*_FILE, the "
         "store, the service account token and /proc, /sys never", repeatable=True),
    Flag("trusted-proxies", "comma-separated CIDRs of proxies whose X-Forwarded-For is "
         "believed in the audit of gate changes (default: none)"),
    Flag("max-background-tasks", "background tasks allowed at once; past it POST / answers 429 "
         "(default 64)", _int),
    Flag("max-checks", "blocking checks (bash, helm, kubectl, concord, load with wait) allowed "
         "at once; past it POST / answers 429 (default 256)", _int),
    Flag("max-canaries", "distinct canaries (name, namespace) one token (without -token-file: "
         "all callers) may name per day; a call naming one more answers 429, canaries already "
         "seen keep working (default 10000)", _int),
    Flag("background-failures", "report: answer 500 on the next call after a background task "
         "failed; ignore: the Go behaviour (default report)"),
    Flag("kill-grace", "time between SIGTERM and SIGKILL of a task's process group (default 2s)",
         parse_go_duration),
    Flag("shutdown-grace", "on SIGTERM, how long running checks may finish before they are "
         "ended (default 10s)", parse_go_duration),
    Flag("read-timeout", "time a request (headers and body) may take to arrive; past it the "
         "connection is closed, with 408 when an answer can still be sent; 0: none (default 1m)",
         parse_go_duration),
    Flag("read-header-timeout", "time a request's headers may take to arrive; 0: "
         "-read-timeout (default 10s)", parse_go_duration),
    Flag("max-connections", "open client connections allowed; past it new ones are closed at "
         "once, but for a few that may ask only /healthz, /readyz or /metrics (default: the "
         "file-descriptor limit less max(64, limit/8))", _int),
    Flag("load-workers", "the most worker processes of a built-in load run; a run starts as "
         "many as its rate and connections need (default: one per core)", _int),
    Flag("config", "YAML file with event sinks and routes"),
    Flag("slack-url", "Slack incoming webhook URL for events", secret=True),
    Flag("msteams-url", "Microsoft Teams Workflows webhook URL for events", secret=True),
    Flag("discord-url", "Discord webhook URL for events", secret=True),
    Flag("gchat-url", "Google Chat webhook URL for events", secret=True),
    Flag("rocket-url", "Rocket.Chat webhook URL for events", secret=True),
    Flag("alertmanager-url", "Prometheus Alertmanager base URL for events"),
    Flag("event-webhook-url", "generic webhook URL receiving every event as JSON", secret=True),
    Flag("event-fold-window", "identical events of a canary within this window are sent once, "
         "with a count; 0 sends every one (default 5m)", parse_go_duration),
    Flag("event-max-age", "an event not delivered after this long is dead-lettered "
         "(default 24h)", parse_go_duration),
    Flag("event-max-attempts", "an event whose delivery failed this many times is "
         "dead-lettered; 0: no limit, -event-max-age decides (default 0)", _int),
    Flag("notify-load-results", "send the result of every type: load run to the event sinks, "
         "as metadata notify: \"true\" does for one run", _bool, is_bool=True),
    Flag("console-url", "the console's address as people reach it, such as "
         "https://loadtester.example.com: messages of canaries waiting for approval and load "
         "results then link to the canary's console page (default: no links)"),
)
BY_NAME = {flag.name: flag for flag in FLAGS}
SECRET_NAMES = frozenset(flag.name for flag in FLAGS if flag.secret)
