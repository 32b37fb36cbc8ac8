"""Hypothesis strategies for hostile webhook payloads, shared by tests/server/test_fuzz.py and
bench/fuzz_report.py, and the harness that sends them to the real app in-process.

Everything drawn is made harmless before it is sent: commands of `cmd`, `bash`, `helm`,
`helmv3` and `kubectl` come from a small safe set, Concord and nGrinder servers are the closed
port 127.0.0.1:1, and the load generator's worker processes are replaced by a stand-in that
builds the request bytes and the plan (where a bad value would crash) but sends nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import traceback
from collections import Counter
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from hypothesis import strategies as st

from loadtester.loadgen.input.spec import LoadSpec
from loadtester.loadgen.results.result import LoadResult
from loadtester.loadgen.running.shares import plan_shares

CLOSED = "http://127.0.0.1:1/"
SAFE_COMMANDS = ("true", "false", "exit 3", "echo hi", ":", "echo out; exit 1")
TASK_TYPES = ("cmd", "bash", "helm", "helmv3", "kubectl", "load", "concord", "ngrinder")
PHASES = ("Initializing", "Initialized", "Waiting", "Progressing", "WaitingPromotion",
          "Promoting", "Finalising", "Succeeded", "Failed", "Terminating", "Terminated")
GATE_PATHS = ("/gate/check", "/gate/open", "/gate/close", "/rollback/check", "/rollback/open",
              "/rollback/close")
EVENT_PATHS = ("/events", "/events/webhook", "/events/nope")
ALL_PATHS = ("/", *GATE_PATHS, *EVENT_PATHS, "/gate/approve", "/gate/halt", "/healthz")
# the 500 bodies of a task that ran and failed (Flagger counts them as failed checks)
TASK_FAILURES = ("command ", "background task failed", "concord ", "all ", "no requests",
                 "error rate ", "p50 ", "p95 ", "p99 ", "rate ", "load test timed out",
                 # Concord's set-up and run errors, answered 500 in the Go service's words
                 "concord:", "`", "unable to convert `", "You cannot override Endpoint",
                 "failed to create base URL", "Post \"", "Get \"", "open ", "read ",
                 "context timedout")

NASTY_CHARS = st.sampled_from(["\ud800", "\udfff", "\r", "\n", "\x00", "\x7f", "\t",
                               "\u2028", "\u20ac", "\u00e9", "\u0130", "\U0001f600", " ", ":",
                               "'", '"', "\\", "$", "%", "{", "}", "@"])
CHARS = st.one_of(st.characters(exclude_categories=()), NASTY_CHARS)
TEXT = st.text(CHARS, max_size=24)
SHORT = st.text(CHARS, max_size=8)
NAMES = st.one_of(st.sampled_from(["podinfo", "a.b", "a", "team-a", "team-a\n", ""]), SHORT)

NUMBERS = st.one_of(
    st.sampled_from(["inf", "-inf", "nan", "NaN", "1e309", "-1", "0", "-0", "1e-300", "100",
                     "101", "1%", "99.9", " 5 ", "0x10", "1_000", "1e400", "", "3"]),
    st.integers(-(10**6), 10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    SHORT,
)
UNITS = ("ns", "us", "µs", "ms", "s", "m", "h", "", "d")
DURATIONS = st.one_of(
    st.sampled_from(["1s", "500ms", "1m", "1h", "2h", "-1s", "inf", "nan", "0", "1.5h",
                     "9" * 30 + "s", "1h2m3.5s", "s", "", " 1s", ".5s", "1e3s", "-0"]),
    st.builds(lambda n, u: f"{n}{u}", st.integers(-5, 10**12), st.sampled_from(UNITS)),
    NUMBERS,
)
URLS = st.one_of(
    st.sampled_from([CLOSED, CLOSED + "p?q=1", "https://127.0.0.1:1/", "ftp://x/", "http://",
                     "http://[::1", "http://127.0.0.1:99999/", "http://u:pw@127.0.0.1:1/",
                     "127.0.0.1:1", ""]),
    st.builds(lambda tail: CLOSED + tail, TEXT),
    TEXT,
)
HEADER_LINES = st.lists(st.builds(lambda n, v: f"{n}: {v}", SHORT, TEXT), max_size=3).map(
    "\n".join)


@dataclass
class Files:
    """Paths the fuzzer may name as -D or apiKeyPath: good ones and hostile ones."""

    root: Path
    paths: list[str] = field(default_factory=list)

    @classmethod
    def make(cls, root: Path) -> Files:
        root.mkdir(parents=True, exist_ok=True)
        (root / "small").write_text("body")
        (root / "key").write_text("api-key\n")
        (root / "big").write_bytes(b"x" * (10 * 1024 * 1024 + 1))
        if not (root / "fifo").exists():
            os.mkfifo(root / "fifo")
        names = ["small", "key", "big", "fifo", "missing"]
        return cls(root, [str(root / n) for n in names] + [str(root), "/dev/zero", "/dev/null"])


def file_paths(files: Files) -> st.SearchStrategy[str]:
    """A path from the prepared set, or random text."""
    return st.one_of(st.sampled_from(files.paths), SHORT)


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`good` three times in four, else `bad`: valid-ish payloads reach deeper code."""
    # hypothesis favours small integers: 0-2 (the likelier draws) are the good ones
    return st.integers(0, 3).flatmap(lambda i: bad if i == 3 else good)


SMALL_INTS = st.integers(1, 5).map(str)
GOOD_DURATIONS = st.sampled_from(["1s", "500ms", "2s", "1m", "100ms"])
HEY_VALUE_FLAGS = {
    "-n": mostly(SMALL_INTS, NUMBERS), "-c": mostly(st.just("1"), NUMBERS),
    "-q": mostly(SMALL_INTS, NUMBERS), "-z": mostly(GOOD_DURATIONS, DURATIONS),
    "-t": mostly(SMALL_INTS, NUMBERS),
    "-m": mostly(st.sampled_from(["GET", "POST", "put"]),
                 st.one_of(st.sampled_from(["G T", "GET\r\nX"]), SHORT)),
    "-H": mostly(st.just("X-A: b"), HEADER_LINES), "-A": mostly(st.just("*/*"), TEXT),
    "-d": TEXT, "-T": mostly(st.just("application/json"), TEXT),
    "-a": mostly(st.just("u:p"), TEXT), "-host": mostly(st.just("podinfo.test"), TEXT),
    "-cpus": NUMBERS,
}
HEY_ODD = st.sampled_from(["-h2", "-x", "--", "-disable-keepalive", "-disable-compression=maybe",
                           "-disable-redirects=false", "-o", "'", '"', "-n", "-"])


@st.composite
def hey_commands(draw: st.DrawFn, files: Files) -> str:
    """A hey command line: known flags with hostile values, odd words, a URL."""
    words = ["hey"] if draw(st.booleans()) else []
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.integers(0, 9))
        if kind == 9:
            words.append(draw(HEY_ODD))
        elif kind == 8:
            words += ["-D", shlex.quote(draw(file_paths(files)))]
        else:
            flag = draw(st.sampled_from(sorted(HEY_VALUE_FLAGS)))
            words += [flag, shlex.quote(draw(HEY_VALUE_FLAGS[flag]))]
    if draw(st.integers(0, 9)) != 9:
        words.append(shlex.quote(draw(mostly(st.just(CLOSED), URLS))))
    if draw(st.integers(0, 9)) == 9:
        words.append(draw(TEXT))  # unquoted: unbalanced quotes, stray words
    return " ".join(words)


HOSTILE: dict[str, st.SearchStrategy[str]] = {
    "url": URLS, "method": st.one_of(st.sampled_from(["GET", "post", "G T"]), SHORT),
    "headers": HEADER_LINES, "body": TEXT, "rate": NUMBERS, "concurrency": NUMBERS,
    "duration": DURATIONS, "requests": NUMBERS, "timeout": DURATIONS, "host": TEXT,
    "contentType": TEXT, "disableKeepalive": st.sampled_from(["true", "no", "x"]),
    "maxErrorRate": NUMBERS, "maxP50": DURATIONS, "maxP95": DURATIONS, "maxP99": DURATIONS,
    "minRate": NUMBERS, "wait": st.sampled_from(["true", "false", "1", "", "yes"]),
    "returnCmdOutput": st.sampled_from(["true", "false", "x"]),
    "logCmdOutput": st.sampled_from(["true", "false"]),
    "server": st.just(CLOSED), "org": SHORT, "project": SHORT, "repo": SHORT,
    "entrypoint": SHORT, "endpoint": SHORT, "pollInterval": DURATIONS, "pollTimeout": NUMBERS,
    "arguments.x": TEXT, "arguments.endpoint": SHORT, "clone": NUMBERS, "username": SHORT,
    "passwd": st.sampled_from(["cGFzcw==", "not base64", "", "cGFzcw"]), "token": SHORT,
    "eventMessage": TEXT, "eventType": st.sampled_from(["Normal", "Warning", "x"]),
    "timestamp": NUMBERS, "cmd": TEXT, "type": st.one_of(st.sampled_from(TASK_TYPES), SHORT),
}
JSON_JUNK = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), TEXT,
                      st.lists(st.integers(), max_size=2),
                      st.dictionaries(SHORT, st.integers(), max_size=2))


def base_metadata(kind: str, files: Files) -> st.SearchStrategy[dict[str, Any]]:
    """Metadata a Canary of this task type would send, with good values."""
    if kind in ("cmd", "bash"):
        return st.fixed_dictionaries({"cmd": st.sampled_from(SAFE_COMMANDS)}, optional={
            "returnCmdOutput": st.just("true"), "logCmdOutput": st.just("true"),
            "maxP99": GOOD_DURATIONS})
    if kind in ("helm", "helmv3", "kubectl"):
        return st.fixed_dictionaries({"cmd": st.sampled_from(SAFE_COMMANDS)})
    if kind == "concord":
        return st.fixed_dictionaries({
            "server": st.just(CLOSED), "org": st.just("o"), "project": st.just("p"),
            "repo": st.just("r"), "entrypoint": st.just("e"), "endpoint": st.just("x"),
            "apiKeyPath": st.sampled_from(files.paths), "pollInterval": st.just("0.1"),
            "pollTimeout": st.just("1")}, optional={"arguments.a": SHORT})
    if kind == "ngrinder":
        return st.fixed_dictionaries({
            "server": st.just(CLOSED), "clone": st.just("1"), "username": st.just("u"),
            "passwd": st.just("cGFzcw==")}, optional={"pollInterval": GOOD_DURATIONS})
    if kind == "load":
        structured = st.fixed_dictionaries({"url": st.just(CLOSED)}, optional={
            "requests": SMALL_INTS, "concurrency": st.just("1"), "rate": SMALL_INTS,
            "duration": GOOD_DURATIONS, "timeout": GOOD_DURATIONS, "method": st.just("POST"),
            "headers": st.just("X-A: b"), "body": st.just("{}"), "host": st.just("h"),
            "maxErrorRate": st.just("1"), "maxP99": GOOD_DURATIONS, "minRate": st.just("1"),
            "wait": st.just("true")})
        hey = st.fixed_dictionaries({"cmd": hey_commands(files)}, optional={
            "wait": st.just("true"), "maxErrorRate": st.just("5")})
        return st.one_of(structured, hey)
    return st.fixed_dictionaries({"cmd": st.sampled_from(SAFE_COMMANDS)})


@st.composite
def metadata(draw: st.DrawFn, files: Files, kind: str | None = None) -> dict[str, Any]:
    """Metadata of a task (random type unless `kind`): a good base, then a few keys hostile,
    then made harmless before it is sent."""
    chosen = kind if kind is not None else draw(mostly(st.sampled_from(TASK_TYPES), SHORT))
    meta: dict[str, Any] = dict(draw(base_metadata(chosen, files)))
    if chosen != "cmd" or draw(st.booleans()):
        meta["type"] = chosen
    for key in draw(st.lists(st.sampled_from(sorted(HOSTILE)), max_size=3, unique=True)):
        meta[key] = draw(HOSTILE[key])
    if draw(st.integers(0, 9)) == 9:
        meta["apiKeyPath"] = draw(file_paths(files))
    if draw(st.integers(0, 9)) == 9:
        meta[draw(SHORT)] = draw(st.one_of(TEXT, JSON_JUNK))
    if draw(st.integers(0, 19)) == 19:
        meta.pop(draw(st.sampled_from(sorted(meta))), None)
    return make_harmless(meta, draw(st.sampled_from(SAFE_COMMANDS)))


def make_harmless(meta: dict[str, Any], safe: str) -> dict[str, Any]:
    """Only `load` parses its `cmd` (never runs it); for every other type it runs: keep it
    to the safe set. Remote tasks only ever reach the closed port."""
    if meta.get("type") != "load" and "cmd" in meta:
        meta["cmd"] = safe
    for key in ("server",):
        if key in meta:
            meta[key] = CLOSED
    return meta


@st.composite
def payloads(draw: st.DrawFn, meta: st.SearchStrategy[Any], hostile: bool = True
             ) -> dict[str, Any]:
    """A webhook payload: valid-ish fields, sometimes missing or of the wrong type; with
    `hostile` false the envelope is valid but for one payload in eight, so that most of the
    examples reach the task they ask for."""
    if not hostile and draw(st.integers(0, 7)) != 7:
        return {"name": draw(st.sampled_from(["podinfo", "app-1", "a"])),
                "namespace": draw(st.sampled_from(["test", "team-a"])),
                "phase": draw(st.sampled_from(PHASES)), "checksum": draw(SHORT),
                "metadata": draw(meta)}
    body: dict[str, Any] = {}
    for key, values in (("name", mostly(st.sampled_from(["podinfo", "app-1"]), NAMES)),
                        ("namespace", mostly(st.sampled_from(["test", "team-a"]), NAMES)),
                        ("phase", mostly(st.sampled_from(PHASES), SHORT)),
                        ("checksum", mostly(st.sampled_from(["85d557f47b", "1"]), SHORT))):
        if draw(st.integers(0, 19)) != 19:
            body[key] = draw(values) if draw(st.integers(0, 19)) != 19 else draw(JSON_JUNK)
    if draw(st.integers(0, 19)) != 19:
        body["metadata"] = draw(meta) if draw(st.integers(0, 19)) != 19 else draw(JSON_JUNK)
    return body


def event_metadata() -> st.SearchStrategy[dict[str, Any]]:
    """Metadata of a Flagger event."""
    return st.fixed_dictionaries(
        {"eventMessage": TEXT, "eventType": st.sampled_from(["Normal", "Warning", "x"])},
        optional={"timestamp": NUMBERS, "environment": TEXT, "token": SHORT},
    )


def encode(body: Any) -> bytes:
    """JSON as Flagger sends it; lone surrogates travel as \\ud800 escapes."""
    return json.dumps(body, ensure_ascii=True, allow_nan=True).encode()


RAW_BODIES = st.one_of(st.binary(max_size=64),
                       st.builds(lambda b: b'{"name":"a","namespace":"b","metadata":' + b,
                                 st.binary(max_size=32)),
                       st.sampled_from([b"", b"{}", b"[]", b"null", b'"x"', b"{\"a\":1e999}",
                                        b'{"name":"\\ud800"}', b"\xff\xfe", b"{" * 64]))


# ---- the stand-in for the load generator's worker processes -------------------------------

async def fake_run_load(spec: LoadSpec, workers: int | None = None, on_progress: Any = None,
                        **_: Any) -> LoadResult:
    """Build what a real run builds first (request bytes, the plan per worker), send nothing,
    and report every request refused, as the closed port would."""
    spec.request_bytes()
    plan_shares(spec, workers or 1)
    await asyncio.sleep(0)
    return LoadResult(errors={"refused": 1}, elapsed=0.001)


# ---- what the fuzzer counts ---------------------------------------------------------------

@dataclass
class Figures:
    """Payloads sent, answers by status, and crashes seen in the log."""

    statuses: Counter[int] = field(default_factory=Counter)
    by_path: Counter[str] = field(default_factory=Counter)
    crashes: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    def record(self, path: str, status: int, body: str, what: Any) -> None:
        """Count one answer; remember it when it is a 5xx no task failure explains."""
        self.statuses[status] += 1
        self.by_path[path] += 1
        if not answer_is_legitimate(status, body):
            self.unexpected.append(f"{path} {status} {body[:200]!r} <- {what!r}"[:600])


def answer_is_legitimate(status: int, body: str) -> bool:
    """Below 500; or a task that ran and failed (500); or a limit or store outage (503)."""
    if status < 500:
        return True
    if status == 500:
        return body.startswith(TASK_FAILURES)
    return status == 503 and body.startswith(("state store unavailable", "check ended"))


@contextmanager
def crash_log(figures: Figures) -> Iterator[None]:
    """Collect `request crashed` / `task crashed` log events (their tracebacks) into figures."""

    def keep(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> Any:
        if event.get("event") in ("request crashed", "task crashed"):
            figures.crashes.append(f"{event.get('event')} {event.get('path', '')} "
                                   f"{event.get('type', '')}: {traceback.format_exc()}")
        raise structlog.DropEvent

    previous = structlog.get_config()["processors"]
    structlog.configure(processors=[keep])
    try:
        yield
    finally:
        structlog.configure(processors=previous)
