"""hey's command line (Go ``flag`` syntax) parsed into a :class:`LoadSpec`, with hey's meaning.

Supported: -n -c -q -z -m -H -t -A -d -D -T -a -host -disable-compression -disable-keepalive
-disable-redirects -h2 (and -cpus, accepted and ignored), and two of our own: -h2c (HTTP/2 over
cleartext, vegeta's flag) and -streams N (requests in flight per HTTP/2 connection, h2load's
-m). ``-q`` is per worker, as in hey, so the total rate is ``q * c``. Anything else (-x, -o,
...) raises :class:`LoadSpecError`.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from loadtester.durations import parse_go_duration
from loadtester.excerpt import excerpt
from loadtester.loadgen.errors import LoadSpecError
from loadtester.loadgen.input.spec import (
    DEFAULT_CONCURRENCY,
    DEFAULT_REQUESTS,
    LoadSpec,
    encode_body,
)

__all__ = [
    "HeyArgs",
    "parse_hey_args",
    "parse_hey_command",
    "spec_from_hey",
    "split_hey_command",
    "split_hey_flags",
]

_VALUE_FLAGS = frozenset(
    {"n", "c", "q", "z", "m", "H", "t", "A", "d", "D", "T", "a", "host", "cpus", "streams"}
)
_BOOL_FLAGS = frozenset({"disable-compression", "disable-keepalive", "disable-redirects", "h2",
                         "h2c"})
_HEADER = re.compile(r"^([\w-]+):\s*(.*)$")


@dataclass
class HeyArgs:
    """Raw flag values as given on the command line (last one wins, -H accumulates)."""

    values: dict[str, str] = field(default_factory=dict)
    headers: list[str] = field(default_factory=list)
    bools: set[str] = field(default_factory=set)
    url: str = ""


def split_hey_flags(argv: list[str], extra_value_flags: frozenset[str] = frozenset(),
                    require_url: bool = True,
                    extra_bool_flags: frozenset[str] = frozenset()) -> HeyArgs:
    """Split argv the way Go's flag package does; flags in ``extra_value_flags`` are kept
    in ``values`` too (the CLI uses this for its own ``-o`` and ``-workers``), those in
    ``extra_bool_flags`` in ``bools`` (its ``--allow-partial``)."""
    args = HeyArgs()
    rest: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        i += 1
        if token == "--":
            rest.extend(argv[i:])
            break
        if len(token) < 2 or not token.startswith("-"):
            rest.append(token)
            rest.extend(argv[i:])
            break
        name = token[2:] if token.startswith("--") else token[1:]
        name, has_value, value = name.partition("=")
        if name in _BOOL_FLAGS or name in extra_bool_flags:
            if has_value and value.lower() not in ("true", "false", "1", "0", "t", "f"):
                raise LoadSpecError(f"invalid boolean value {excerpt(value)} for flag -{name}")
            if not has_value or value.lower() in ("true", "1", "t"):
                args.bools.add(name)
            else:
                args.bools.discard(name)
            continue
        if name not in _VALUE_FLAGS and name not in extra_value_flags:
            raise LoadSpecError(f"unsupported hey flag -{name}")
        if not has_value:
            if i >= len(argv):
                raise LoadSpecError(f"flag needs an argument: -{name}")
            value = argv[i]
            i += 1
        if name == "H":
            args.headers.append(value)
        else:
            args.values[name] = value
    if not rest:
        if not require_url:
            return args
        raise LoadSpecError("missing URL")
    if len(rest) > 1:
        raise LoadSpecError(f"unexpected argument {excerpt(rest[1])} after the URL")
    args.url = rest[0]
    return args


def split_hey_command(cmd: str) -> HeyArgs:
    """Split a hey command line; the first word ``hey`` (or a path to it) is optional."""
    try:
        argv = shlex.split(cmd)
    except ValueError as exc:
        raise LoadSpecError(f"cannot split hey command: {exc}") from None
    if argv and (argv[0] == "hey" or argv[0].endswith("/hey")):
        argv = argv[1:]
    return split_hey_flags(argv)


def parse_hey_command(cmd: str) -> LoadSpec:
    """Parse a hey command line, reading ``-D`` at once (the CLI's way)."""
    return spec_from_hey(split_hey_command(cmd))


def parse_hey_args(argv: list[str]) -> LoadSpec:
    """Parse hey's flags and URL into a LoadSpec."""
    return spec_from_hey(split_hey_flags(argv))


def spec_from_hey(args: HeyArgs, read_body_file: bool = True) -> LoadSpec:
    """Turn split hey flags into a LoadSpec with hey's defaults and checks; with
    ``read_body_file`` false, ``-D`` is left for the caller to read (the service does, in a
    thread, with limits)."""
    if not args.url:
        raise LoadSpecError("missing URL")
    v = args.values
    requests = _int_flag(v, "n", DEFAULT_REQUESTS)
    concurrency = _int_flag(v, "c", DEFAULT_CONCURRENCY)
    _int_flag(v, "cpus", 1)  # validated, otherwise meaningless here
    per_worker_rate = _float_flag(v, "q", 0.0)
    timeout = _float_flag(v, "t", 20.0)
    streams = _int_flag(v, "streams", 1)
    duration: float | None = None
    if "z" in v:
        try:
            duration = parse_go_duration(v["z"])
        except ValueError as exc:
            raise LoadSpecError(f"invalid value for flag -z: {exc}") from None
        if duration <= 0:
            duration = None
    if concurrency < 1:
        raise LoadSpecError("-c cannot be smaller than 1")
    if duration is None:
        if requests < 1:
            raise LoadSpecError("-n cannot be smaller than 1")
        if requests < concurrency:
            raise LoadSpecError("-n cannot be less than -c")
    headers: list[tuple[str, str]] = []
    for text in args.headers:
        match = _HEADER.match(text)
        if match is None:
            raise LoadSpecError(f"invalid value for flag -H: {excerpt(text)} is not 'Name: value'")
        headers.append((match.group(1), match.group(2)))
    body = encode_body(v.get("d", ""), "flag -d")
    if "D" in v and read_body_file:
        try:
            with open(v["D"], "rb") as handle:
                body = handle.read()
        except OSError as exc:
            raise LoadSpecError(f"invalid value for flag -D: {exc.strerror}: {v['D']}") from None
    auth: tuple[str, str] | None = None
    if "a" in v:
        user, sep, password = v["a"].partition(":")
        if not sep or not user:
            raise LoadSpecError("invalid value for flag -a: expected user:password")
        auth = (user, password)
    return LoadSpec(
        url=args.url,
        method=v.get("m", "GET").upper(),
        headers=tuple(headers),
        body=body,
        rate=per_worker_rate * concurrency,
        concurrency=concurrency,
        duration=duration,
        requests=None if duration is not None else requests,
        timeout=timeout,
        disable_keepalive="disable-keepalive" in args.bools,
        disable_compression="disable-compression" in args.bools,
        disable_redirects="disable-redirects" in args.bools,
        host=v.get("host") or None,
        basic_auth=auth,
        accept=v.get("A") or None,
        content_type=v.get("T", "text/html"),
        h2="h2" in args.bools,
        h2c="h2c" in args.bools,
        streams=streams,
    )


def _int_flag(values: dict[str, str], name: str, default: int) -> int:
    if name not in values:
        return default
    try:
        return int(values[name], 0)
    except ValueError:
        raise LoadSpecError(
            f"invalid value {excerpt(values[name])} for flag -{name}: not an integer"
        ) from None


def _float_flag(values: dict[str, str], name: str, default: float) -> float:
    if name not in values:
        return default
    try:
        value = float(values[name])
    except ValueError:
        raise LoadSpecError(
            f"invalid value {excerpt(values[name])} for flag -{name}: not a number"
        ) from None
    if not 0 <= value < float("inf"):
        raise LoadSpecError(f"invalid value {excerpt(values[name])} for flag -{name}: must be >= 0")
    return value
