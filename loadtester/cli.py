"""Command line: the Go service's single-dash flags, plus subcommands (`serve` is the default)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loadtester.durations import parse_go_duration
from loadtester.proctitle import hide_secret_arguments

if TYPE_CHECKING:
    from loadtester.settings import Settings

# pydantic and the settings load only on the service's path: `loadtester load` and
# `loadtester -version` start without them.

ENV_PREFIX = "LOADTESTER_"
CONSOLE_COMMANDS = ("status", "gate", "rollback", "tasks")  # loadtester/console_cli.py


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
         "redis://[:password@]host:6379/0 (rediss:// for TLS) to share state between "
         "replicas (default {default_state_dir})", secret=True),
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
    Flag("load-workers", "worker processes of the built-in load generator (default: one per "
         "core)", _int),
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
)
_BY_NAME = {flag.name: flag for flag in FLAGS}
_SECRET_NAMES = frozenset(flag.name for flag in FLAGS if flag.secret)


class UsageError(Exception):
    """A bad command line or environment value; the message is one line."""


def usage() -> str:
    """The --help text."""
    lines = [
        "usage: loadtester [serve] [flags]     run the webhook service",
        "       loadtester load [hey flags] URL  run the built-in load generator",
        "       loadtester -version              print the version",
        "       loadtester status|gate|rollback|tasks [--url URL] ...",
        "                                        a running service's canaries (--help)",
        "",
        "Flags take -flag=value, -flag value or --flag. Each may also be set by the",
        f"environment variable {ENV_PREFIX}<NAME> (e.g. {ENV_PREFIX}LOG_LEVEL=info); URLs of "
        "event sinks also by <NAME>_FILE, a file holding the value.",
        "",
    ]
    from loadtester.settings import default_state_dir

    for flag in FLAGS:
        text = flag.help.replace("{default_state_dir}", str(default_state_dir()))
        lines.append(f"  -{flag.name}")
        lines.append(f"        {text}  [env {flag.env}]")
    return "\n".join(lines)


def _convert(flag: Flag, raw: str, origin: str) -> Any:
    try:
        return flag.parse(raw)
    except ValueError as exc:
        raise UsageError(f"invalid value {raw!r} for {origin}: {exc}") from None


def _from_environment(environ: dict[str, str], given: set[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for flag in FLAGS:
        file_var = flag.env + "_FILE"
        if flag.field in given:
            continue
        # a mounted Secret wins over a plain variable, which an image may set as a default
        if flag.secret and file_var in environ:
            try:
                values[flag.field] = Path(environ[file_var]).read_text().strip()
            except OSError as exc:
                raise UsageError(f"cannot read {file_var}: {exc.strerror}") from None
        elif flag.env in environ:
            if flag.name == "port" and "://" in environ[flag.env]:
                # Kubernetes' service link of a Service named `loadtester`, not our setting
                continue
            if flag.repeatable:
                values[flag.field] = tuple(_convert(flag, line.strip(), flag.env)
                                           for line in environ[flag.env].splitlines()
                                           if line.strip())
            else:
                values[flag.field] = _convert(flag, environ[flag.env], flag.env)
    return values


def _from_arguments(args: Sequence[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    position = 0
    while position < len(args):
        arg = args[position]
        position += 1
        if not arg.startswith("-") or arg in ("-", "--"):
            raise UsageError(f"unexpected argument {arg!r}")
        name, has_value, raw = arg.lstrip("-").partition("=")
        flag = _BY_NAME.get(name)
        if flag is None:
            raise UsageError(f"flag provided but not defined: -{name}")
        if not has_value:
            if flag.is_bool:
                raw = "true"
            elif position < len(args):
                raw = args[position]
                position += 1
            else:
                raise UsageError(f"flag needs an argument: -{name}")
        value = _convert(flag, raw, f"flag -{name}")
        values[flag.field] = (*values.get(flag.field, ()), value) if flag.repeatable else value
    return values


def parse_settings(args: Sequence[str], environ: dict[str, str] | None = None) -> Settings:
    """Build Settings from flags over environment variables over defaults."""
    from pydantic import ValidationError

    from loadtester.settings import Settings

    values = _from_arguments(args)
    values.update(_from_environment(dict(os.environ) if environ is None else environ,
                                    set(values)))
    try:
        return Settings(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "?"
        raise UsageError(f"invalid value for flag -{field.replace('_', '-')}: "
                         f"{error['msg'].removeprefix('Value error, ')}") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `loadtester` command."""
    try:
        return _main(argv)
    except BrokenPipeError:
        # `loadtester --help | head -2`: the reader left; end quietly, as a Go program does
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a tool killed by SIGPIPE


def _main(argv: Sequence[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-version", "--version", "version"):
        from loadtester import version

        print(f"loadtester {version()}")
        return 0
    if args and args[0] == "load":
        from loadtester.loadgen.cli import main as load_main

        return load_main(args[1:])
    if args and args[0] in CONSOLE_COMMANDS:
        from loadtester.console_cli import main as console_main

        return console_main(args)
    if args and args[0] == "serve":
        args = args[1:]
    if "rich" not in sys.modules:
        # structlog.dev formats exceptions with rich whenever it is importable (schemathesis, a
        # test tool, installs it): the service's log lines must not depend on that, and rich
        # would cost 5 MB of RSS
        sys.modules["rich"] = None  # type: ignore[assignment]
    # first thing: the title shows the secrets until then
    secret_flags = hide_secret_arguments(_SECRET_NAMES) if argv is None else []
    if any(arg.lstrip("-") in ("h", "help") for arg in args):
        print(usage())
        return 0
    try:
        settings = parse_settings(args)
    except UsageError as exc:
        print(f"loadtester: {exc}", file=sys.stderr)
        return 2
    from loadtester.events.config import ConfigError, load_event_config

    try:
        load_event_config(settings)
    except ConfigError as exc:
        print(f"loadtester: {exc}", file=sys.stderr)
        return 2
    from loadtester.auth import TokenFileError, load_token_file

    try:
        if settings.token_file:
            load_token_file(settings.token_file)
    except TokenFileError as exc:
        print(f"loadtester: {exc}", file=sys.stderr)
        return 2
    from loadtester.server import serve

    return serve(settings, secret_flags=secret_flags)
