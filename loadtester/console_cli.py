"""`loadtester status|gate|rollback|tasks`: the console's JSON API from a shell.

Standard library only (urllib, argparse), so that the command starts fast and needs nothing
the service's image does not have.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import unicodedata
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

COMMANDS = ("status", "gate", "rollback", "tasks")
DEFAULT_URL = "http://localhost:9090"
TIMEOUT = 30.0
STATUS_PAGE = 500  # canaries asked for at a time (the API's largest page)

OK, REFUSED, USAGE, UNREACHABLE, DENIED = 0, 1, 2, 3, 4
EXIT_CODES = f"""\
exit codes:
  {OK}  done; for `check`: the gate is open (approved for the current revision)
  {REFUSED}  `check`: the gate is closed; or no such canary or task, or a task that ended
  {USAGE}  bad command line or token file
  {UNREACHABLE}  the service did not answer, or answered with an error of its own (5xx)
  {DENIED}  the service refused the token (401: none or invalid, 403: another namespace)

environment: LOADTESTER_URL (default {DEFAULT_URL}), LOADTESTER_TOKEN_FILE
"""

JSON = dict[str, Any]


class Failure(Exception):
    """Ends the command with `code` after printing `message` to stderr."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def main(argv: Sequence[str]) -> int:
    """Run one console command (argv[0] is the command); returns the exit code."""
    parser = _parser()
    args = parser.parse_args(list(argv))
    try:
        client = Client(args.url, read_token(args.token_file))
        output = args.output or ("table" if sys.stdout.isatty() else "json")
        code: int = args.run(client, args, output)
        return code
    except Failure as failure:
        print(visible(f"loadtester {argv[0]}: {failure.message}"), file=sys.stderr)
        return failure.code


class Client:
    """JSON over HTTP to one service."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.token = token

    def call(self, method: str, path: str, body: JSON | None = None,
             query: dict[str, str] | None = None) -> JSON:
        """The decoded answer; Failure with the exit code a script can act on otherwise."""
        url = f"{self.url}{path}" + (f"?{urlencode(query)}" if query else "")
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                return _decode(response.read(), url)
        except urllib.error.HTTPError as error:
            reason = _error_text(error)
            if error.code in (401, 403):
                raise Failure(DENIED, f"{error.code}: {reason}") from None
            if error.code in (404, 409):
                raise Failure(REFUSED, reason) from None
            raise Failure(UNREACHABLE, f"{url}: {error.code}: {reason}") from None
        except (urllib.error.URLError, OSError) as error:
            why = getattr(error, "reason", error)
            raise Failure(UNREACHABLE, f"cannot reach {self.url}: {why}") from None


def _decode(body: bytes, url: str) -> JSON:
    try:
        data = json.loads(body)
    except ValueError:
        raise Failure(UNREACHABLE, f"{url}: the answer is not JSON (is this loadtester?)"
                      ) from None
    if not isinstance(data, dict):
        raise Failure(UNREACHABLE, f"{url}: unexpected answer")
    return data


def _error_text(error: urllib.error.HTTPError) -> str:
    try:
        text = error.read().decode("utf-8", "replace")
    except OSError:
        text = ""
    try:
        message = json.loads(text).get("error")
    except (ValueError, AttributeError):
        message = None
    return str(message) if message else (text.strip().splitlines() or [str(error.reason)])[0]


def read_token(path: str) -> str:
    """A bare token on the first line that is not a comment, or the service's own
    `NAMESPACE TOKEN [NAME]` line format (its token)."""
    if not path:
        return ""
    try:
        with open(path, encoding="utf-8") as file:
            lines = file.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise Failure(USAGE, f"cannot read token file {path}: "
                      f"{getattr(exc, 'strerror', None) or exc}") from None
    for line in lines:
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) == 1:
            return fields[0]
        if len(fields) in (2, 3):
            return fields[1]
        raise Failure(USAGE, f"token file {path}: expected a token, or NAMESPACE TOKEN [NAME]")
    raise Failure(USAGE, f"token file {path} holds no token")


def _canary_path(target: str) -> str:
    """`/api/v1/canaries/NS/NAME` of NAME.NAMESPACE (a namespace has no dot; a name may)."""
    name, _, namespace = target.rpartition(".")
    if not name or not namespace:
        raise Failure(USAGE, f"expected NAME.NAMESPACE, got {target!r}")
    return f"/api/v1/canaries/{quote(namespace, safe='')}/{quote(name, safe='')}"


# ---- commands ----

def _status(client: Client, args: argparse.Namespace, output: str) -> int:
    canaries = _all_canaries(client)
    if output == "json":
        return _print_json({"canaries": canaries})
    rows = [[canary["id"], canary["phase"] or "-", _ago(canary["phaseAt"]),
             _short(canary["checksum"]), _gate_text(canary["gate"]),
             _gate_text(canary["rollback"]), _tasks_text(canary["tasks"]),
             _ago(canary["lastSeen"])]
            for canary in canaries]
    _print_table(["CANARY", "PHASE", "SINCE", "REVISION", "GATE", "ROLLBACK", "TASKS",
                  "LAST SEEN"], rows, empty="no canary seen in the last 7 days")
    return OK


def _all_canaries(client: Client) -> list[JSON]:
    """Every page of GET /api/v1/canaries, followed through `next`."""
    canaries: list[JSON] = []
    query = {"limit": str(STATUS_PAGE)}
    while True:
        answer = client.call("GET", "/api/v1/canaries", query=query)
        canaries += answer["canaries"]
        following = answer.get("next")  # absent from a service without pages: all at once
        if not following:
            return canaries
        query = {"limit": str(STATUS_PAGE), "cursor": following}


def _gate(client: Client, args: argparse.Namespace, output: str) -> int:
    path = _canary_path(args.canary)
    if args.action == "check":
        answer = client.call("GET", f"{path}/gates")
        if args.gate == "gate":
            passed = bool(answer["approved"])
            text = "approved" if passed else _why_not(answer["gate"])
        else:
            passed = bool(answer["rollback"]["open"])
            text = "rollback open" if passed else "rollback closed"
        if output == "json":
            _print_json(answer)
        else:
            print(visible(f"{args.canary}: {text}"))
        return OK if passed else REFUSED
    body = {"checksum": args.checksum} if args.checksum else {}
    answer = client.call("POST", f"{path}/{args.gate}/{args.action}", body)
    if output == "json":
        return _print_json(answer)
    state = answer[args.gate]
    bound = f", bound to revision {_short(state['checksum'])}" if state["bound"] else ""
    print(visible(f"{args.canary}: {args.gate} {'opened' if state['open'] else 'closed'}{bound}"))
    return OK


def _tasks(client: Client, args: argparse.Namespace, output: str) -> int:
    if args.cancel:
        answer = client.call("POST", f"/api/v1/tasks/{quote(args.cancel, safe='')}/cancel")
        if output == "json":
            return _print_json(answer)
        task = answer["task"]
        print(visible(f"cancelled {task['type']} task of {task['name']}.{task['namespace']}: "
                      f"{task['description']}"))
        return OK
    query = {} if args.all else {"running": "true"}
    if args.namespace:
        query["namespace"] = args.namespace
    answer = client.call("GET", "/api/v1/tasks", query=query)
    if output == "json":
        return _print_json(answer)
    rows = [[task["id"], f"{task['name']}.{task['namespace']}", task["type"],
             task["outcome"], _ago(task["startedAt"]), _result_text(task)]
            for task in answer["tasks"]]
    _print_table(["ID", "CANARY", "TYPE", "OUTCOME", "STARTED", "RESULT"], rows,
                 empty="no task" if args.all else "no running task (--all: recent ones too)")
    return OK


# ---- output ----

_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_FILLERS = frozenset("\u034f\u115f\u1160\u3164\uffa0")  # letters that show as nothing


def visible(text: str) -> str:
    """`text` with every character that reorders or hides text (bidi overrides such as U+202E,
    zero-width characters, terminal escapes and other controls, newlines) as `\\u202e`, as the
    web console shows them: a command or checksum reads as what it is, and stays on its line."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(_escape(char) if unicodedata.category(char) in _INVISIBLE_CATEGORIES
                   or char in _FILLERS else char for char in text)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\u{{{code:x}}}"

def _print_json(answer: JSON) -> int:
    print(json.dumps(answer, indent=2))
    return OK


def _print_table(header: list[str], rows: list[list[str]], *, empty: str) -> None:
    if not rows:
        print(empty)
        return
    rows = [[visible(cell) for cell in row] for row in rows]
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
              .rstrip())


def _ago(stamp: str | None) -> str:
    if not stamp:
        return "-"
    seconds = max(0, int(time.time() - datetime.fromisoformat(stamp).timestamp()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def _short(checksum: str) -> str:
    return checksum[:12] if checksum else "-"


def _gate_text(gate: JSON) -> str:
    if not gate["open"]:
        return "closed"
    return f"open@{_short(gate['checksum'])}" if gate["bound"] else "open"


def _why_not(gate: JSON) -> str:
    if gate["open"] and gate["bound"]:
        return f"not approved (approved revision {_short(gate['checksum'])} is not the current)"
    return "not approved (gate closed)"


def _tasks_text(tasks: list[JSON]) -> str:
    running = sum(1 for task in tasks if task["outcome"] == "running")
    ended = [task for task in tasks if task["outcome"] != "running"]
    parts = [f"{running} running"] if running else []
    if ended:
        parts.append(f"last {ended[0]['type']} {ended[0]['outcome']}")
    return ", ".join(parts) or "-"


def _result_text(task: JSON) -> str:
    load = task.get("load")
    if load:
        return (f"{load['rate']:.1f} req/s p50 {load['p50'] * 1000:.0f}ms "
                f"p99 {load['p99'] * 1000:.0f}ms errors {load['errorRate']:.2f}%")
    return str(task["reason"] or task["description"])[:80]


# ---- command line ----

def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=os.environ.get("LOADTESTER_URL", DEFAULT_URL),
                        help="the service (default: $LOADTESTER_URL or %(default)s)")
    common.add_argument("--token-file", default=os.environ.get("LOADTESTER_TOKEN_FILE", ""),
                        metavar="FILE", help="a file holding the token: the token alone, or "
                        "the service's NAMESPACE TOKEN [NAME] lines (the first is used)")
    common.add_argument("-o", "--output", choices=("table", "json"),
                        help="table on a terminal, json otherwise (the API's own answer)")
    # argparse's own usage errors exit with 2, USAGE
    parser = argparse.ArgumentParser(
        prog="loadtester", description="The console of a running loadtester.",
        epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = commands.add_parser(
            name, parents=[common], help=help, description=help, epilog=EXIT_CODES,
            formatter_class=argparse.RawDescriptionHelpFormatter)
        return sub

    status = command("status", "the canaries seen in the last 7 days, their gates and tasks")
    status.set_defaults(run=_status)
    for gate, actions in (("gate", ("open", "close", "check")),
                          ("rollback", ("open", "close", "check"))):
        sub = command(gate, f"open, close or check a canary's {gate} gate; `open` approves "
                      "its current revision only")
        sub.add_argument("action", choices=actions)
        sub.add_argument("canary", metavar="NAME.NAMESPACE")
        sub.add_argument("--checksum", default="",
                         help="open: approve this revision instead of the current one")
        sub.set_defaults(run=_gate, gate=gate)
    tasks = command("tasks", "running tasks (--all: recent ones too), or cancel one")
    tasks.add_argument("--cancel", metavar="ID", help="cancel this running background task")
    tasks.add_argument("--all", action="store_true", help="ended tasks too")
    tasks.add_argument("--namespace", help="only this namespace")
    tasks.set_defaults(run=_tasks)
    return parser
