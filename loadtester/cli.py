"""Command line: the Go service's single-dash flags, plus subcommands (`serve` is the default)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loadtester.flags import BY_NAME, ENV_PREFIX, FLAGS, SECRET_NAMES, Flag
from loadtester.proctitle import hide_secret_arguments

if TYPE_CHECKING:
    from loadtester.settings import Settings

# pydantic and the settings load only on the service's path: `loadtester load` and
# `loadtester -version` start without them.

CONSOLE_COMMANDS = ("status", "gate", "rollback", "tasks")  # loadtester/console_cli.py


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
        flag = BY_NAME.get(name)
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
    secret_flags = hide_secret_arguments(SECRET_NAMES) if argv is None else []
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
