"""``loadtester load --via URL``: the run posted to a service as Flagger's `type: load` webhook.

The hey flags travel as the webhook's ``cmd`` (the service parses them with the same code as
the CLI); the CLI's own options become metadata keys named as the flags in camelCase
(``--max-regression`` -> ``maxRegression``, ``--replicas``, ``--allow-partial``); a scenario
(``-f``) travels as ``scenario`` with the run-wide flags as ``requests``, ``rate``, ...
Standard library only, as the console commands (console_cli.py), whose client it uses.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, TextIO

from loadtester.loadgen.errors import LoadSpecError
from loadtester.loadgen.input.heyflags import HeyArgs
from loadtester.loadgen.input.spec import LoadSpec

if TYPE_CHECKING:
    from loadtester.console_cli import Client

# json, shlex, uuid and the HTTP client (console_cli, urllib) load only once a run goes --via:
# `loadtester load` starts a local run without them

__all__ = ["LOCAL_FLAGS", "VIA_BOOL_FLAGS", "VIA_FLAGS", "check_via", "run_via",
           "webhook_metadata"]

VIA_FLAGS = frozenset({"via", "replicas", "canary", "token-file"})
VIA_BOOL_FLAGS = frozenset({"allow-partial"})
# the CLI's flags that shape what it prints or reads, never the service's run
LOCAL_FLAGS = frozenset({"o", "f", "via", "canary", "token-file"})
# flags naming files the service would read on its own disk, not the caller's
_FILE_FLAGS = ("cacert", "cert", "key")
DEFAULT_CANARY = "loadtester-cli.default"
MAX_WAIT = 3600.0  # seconds for a run of unknown length (the service's -timeout ends it first)
_NOT_IN_METADATA = frozenset({"disable-compression", "disable-redirects"})
_SCENARIO_RUN_KEYS = {"n": "requests", "c": "concurrency", "z": "duration", "t": "timeout",
                      "streams": "streams"}


def check_via(args: HeyArgs) -> None:
    """The combinations --via refuses, or that need it (LoadSpecError naming the flag)."""
    v = args.values
    if "via" not in v:
        for name in sorted((VIA_FLAGS & v.keys()) | (VIA_BOOL_FLAGS & args.bools)):
            why = " (a service on the Redis store)" if name in ("replicas", "allow-partial") else ""
            raise LoadSpecError(f"flag --{name} needs --via URL{why}")
        return
    if not v["via"].startswith(("http://", "https://")):
        raise LoadSpecError(f"invalid value {v['via']!r} for flag --via: not an http(s) URL")
    for name in ("workers", *_FILE_FLAGS):
        if name in v:
            why = "sizes its workers" if name == "workers" else "reads files on its own disk"
            raise LoadSpecError(f"flag -{name} does not apply with --via: the service {why}")
    if "f" in v:
        for name in sorted(args.bools & _NOT_IN_METADATA):
            raise LoadSpecError(f"flag -{name} does not apply with -f and --via")
    _canary(v.get("canary", DEFAULT_CANARY))


def webhook_metadata(args: HeyArgs, spec: LoadSpec, extra_flags: frozenset[str],
                     scenario: str | None) -> dict[str, str]:
    """The `type: load` metadata of the run `args` describe (`spec`: as the CLI parsed it;
    `extra_flags`: the CLI's flags that are not hey's; `scenario`: -f's text)."""
    v = args.values
    metadata = {"type": "load", "wait": "true"}
    if scenario is None:
        metadata["cmd"] = _hey_command(args, spec, extra_flags)
    else:
        metadata["scenario"] = scenario
        if args.url:
            metadata["url"] = args.url
        metadata.update({key: v[flag] for flag, key in _SCENARIO_RUN_KEYS.items() if flag in v})
        if "q" in v:  # hey's -q is per connection, metadata's rate the run's
            metadata["rate"] = f"{spec.rate:g}"
        metadata.update({_camel(name): "true" for name in args.bools - VIA_BOOL_FLAGS})
    for name in sorted((extra_flags - LOCAL_FLAGS) & v.keys()):
        metadata[_camel(name)] = v[name]
    if "allow-partial" in args.bools:
        metadata["allowPartial"] = "true"
    return metadata


def _hey_command(args: HeyArgs, spec: LoadSpec, extra_flags: frozenset[str]) -> str:
    """hey's flags and URL as one command line; -D's file (read by the CLI) as -d's text."""
    import shlex

    words = ["hey"]
    for name, value in args.values.items():
        if name in extra_flags:
            continue
        if name == "D":
            try:
                name, value = "d", spec.body.decode()
            except UnicodeDecodeError:
                raise LoadSpecError("flag -D with --via: the body must be UTF-8 text") from None
        words += [f"-{name}", value]
    for header in args.headers:
        words += ["-H", header]
    words += [f"-{name}" for name in sorted(args.bools - VIA_BOOL_FLAGS)]
    return shlex.join([*words, args.url])


def _camel(flag: str) -> str:
    """`max-regression` -> `maxRegression`, `server-name` -> `serverName`."""
    first, *rest = flag.split("-")
    return first + "".join(word.capitalize() for word in rest)


def _canary(text: str) -> tuple[str, str]:
    name, _, namespace = text.rpartition(".")
    if not name or not namespace:
        raise LoadSpecError(f"invalid value {text!r} for flag --canary: expected NAME.NAMESPACE")
    return name, namespace


def run_via(args: HeyArgs, spec: LoadSpec, metadata: dict[str, str], output: str,
            out: TextIO, err: TextIO) -> int:
    """Post the run, print its result; 0 when it passed, 1 when it failed or the service is
    out of reach, 2 when the service refused the run as bad input (400), 130 on Ctrl-C."""
    import json
    import uuid

    from loadtester.console_cli import Client, Failure, read_token, visible

    v = args.values
    name, namespace = _canary(v.get("canary", DEFAULT_CANARY))
    checksum = uuid.uuid4().hex  # finds this run's record among the canary's
    payload = {"name": name, "namespace": namespace, "phase": "Progressing",
               "checksum": checksum, "metadata": metadata}
    try:
        token = read_token(v.get("token-file", os.environ.get("LOADTESTER_TOKEN_FILE", "")))
    except Failure as failure:
        err.write(f"loadtester load: {failure.message}\n")
        return 2
    base = v["via"].rstrip("/")
    try:
        status, text = _post(f"{base}/", payload, token, _wait(spec))
    except KeyboardInterrupt:  # the service ends a waited-for run when its caller goes away
        err.write("loadtester load: interrupted: the service stops the run\n")
        return 130
    run = None
    if status in (200, 500) and (output == "json" or "replicas" in v):
        run = _run_record(Client(base, token), name, namespace, checksum, err)
    if status == 200:
        if output == "json":
            if run is None:
                return 1
            out.write(json.dumps(run["summary"], indent=2) + "\n")
        else:
            out.write(visible(text.strip()) + "\n")
            out.write(replicas_text(run["summary"] if run else {}))
        return 0
    if run is not None:
        out.write(json.dumps(run["summary"], indent=2) + "\n" if output == "json"
                  else replicas_text(run["summary"]))
    reason = (text.strip().splitlines() or [f"status {status}"])[0]
    err.write(f"loadtester load: {visible(reason)}\n")
    return 2 if status == 400 else 1


def replicas_text(summary: dict[str, Any]) -> str:
    """A distributed run's replicas, one line each (empty for a run on one replica)."""
    from loadtester.console_cli import visible

    replicas = summary.get("replicas")
    if not isinstance(replicas, list) or not replicas:
        return ""
    lines = ["", "Replicas:"]
    for part in replicas:
        share = f"{int(part.get('share', 0)) + 1}/{part.get('shares', len(replicas))}"
        line = (f"  share {share}  {part.get('replica') or '-'}  "
                f"{part.get('requests', 0)} requests  {part.get('state', '')}")
        if part.get("reason"):
            line += f": {part['reason']}"
        lines.append(visible(line))
    return "\n".join(lines) + "\n"


def _wait(spec: LoadSpec) -> float:
    """How long the answer may take: the run's length and a margin, if it has one."""
    length = spec.stages.duration if spec.stages is not None else spec.duration
    return MAX_WAIT if length is None else length + 120.0


def _post(url: str, payload: dict[str, Any], token: str, timeout: float) -> tuple[int, str]:
    """The service's answer to the webhook: its status (0: no answer) and text."""
    import json
    import urllib.error
    import urllib.request

    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), headers=headers,
                                     method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        try:
            text = error.read().decode("utf-8", "replace")
        except OSError:
            text = ""
        return error.code, text or str(error.reason)
    except (urllib.error.URLError, OSError) as error:
        return 0, f"cannot reach {url}: {getattr(error, 'reason', error)}"


def _run_record(client: Client, name: str, namespace: str, checksum: str,
                err: TextIO) -> dict[str, Any] | None:
    """The run record the service kept of this run (found by its checksum), None if none."""
    from urllib.parse import quote

    from loadtester.console_cli import Failure

    path = f"/api/v1/canaries/{quote(namespace, safe='')}/{quote(name, safe='')}"
    try:
        for run_id in client.call("GET", path).get("runs", [])[:10]:
            run = client.call("GET", f"{path}/runs/{quote(str(run_id), safe='')}")
            if run.get("checksum") == checksum:
                return run
    except Failure as failure:
        err.write(f"loadtester load: the run's record: {failure.message}\n")
        return None
    err.write("loadtester load: the service kept no record of the run\n")
    return None
