"""`ngrinder`: clone and start an nGrinder test, poll it until it ends; a background task.

Whenever the run ends before the test does (the `-timeout` passes, the canary ends, the
service shuts down), the test is stopped on the nGrinder server before the run gives up.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from yarl import URL

from loadtester.durations import format_duration, parse_go_duration
from loadtester.errors import BadRequest
from loadtester.excerpt import cut
from loadtester.logs import get_logger, redact
from loadtester.models import WebhookPayload
from loadtester.tasks.base import TaskEnvironment, TaskResult
from loadtester.tasks.remote import trim

DEFAULT_POLL_INTERVAL = 1.0
REQUEST_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
REQUIRED_KEYS = ("server", "clone", "username", "passwd")
STATUS_OK = "FINISHED"
STATUS_FAILED = frozenset({"STOP_BY_ERROR", "CANCELED", "UNKNOWN"})
_INTEGER = re.compile(r"[+-]?[0-9]{1,18}")  # strconv.Atoi
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


class NGrinderFailure(Exception):
    """nGrinder refused or could not be asked; the message is a one-line reason."""


class NGrinderUnreachable(NGrinderFailure):
    """No usable answer this time (connection, 5xx, not JSON); a poll tries again."""


@dataclass(frozen=True)
class NGrinderTask:
    """Clones test `clone`, starts the copy and follows it until it ends."""

    payload: WebhookPayload
    server: str
    clone: int
    username: str
    authorization: str = field(repr=False)
    poll_interval: float = DEFAULT_POLL_INTERVAL
    type: str = field(default="ngrinder", init=False)
    background: bool = field(default=True, init=False)

    @property
    def key(self) -> str:
        return f"{self.payload.canary}/ngrinder/{self.server}/{self.clone}"

    @property
    def description(self) -> str:
        return f"{redact(self.server)}/perftest/api/{self.clone}/clone_and_start"

    async def run(self, env: TaskEnvironment) -> TaskResult:
        log = get_logger(**self.payload.log_fields(), type=self.type, task=self.description)
        test_id: int | None = None
        try:
            async with asyncio.timeout(env.settings.timeout):
                started = await self._call(
                    env.http, "POST", f"/perftest/api/{self.clone}/clone_and_start"
                )
                test_id = _test_id(started)
                log.info("ngrinder test started", test_id=test_id)
                return await self._poll(env.http, test_id, log)
        except TimeoutError:
            limit = format_duration(env.settings.timeout)
            if test_id is None:
                what = f"ngrinder clone_and_start of test {self.clone} timed out after {limit}"
            else:
                await self._stop(env.http, test_id, log, "timeout")
                what = f"ngrinder test {test_id} timed out after {limit}; stop requested"
            return TaskResult(False, _reason(what), fields={"test_id": test_id}, timed_out=True)
        except asyncio.CancelledError:
            if test_id is not None:
                await self._stop(env.http, test_id, log, "cancelled")
            raise
        except NGrinderFailure as failure:
            return TaskResult(False, _reason(str(failure)), fields={"test_id": test_id})

    async def _poll(self, http: aiohttp.ClientSession, test_id: int, log: Any) -> TaskResult:
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                answer = await self._call(http, "GET", f"/perftest/api/{test_id}/status")
            except NGrinderUnreachable as problem:
                # the Go service keeps polling through these; so do we, up to -timeout
                log.warning("ngrinder status unavailable", test_id=test_id, reason=str(problem))
                continue
            status = _status_id(answer)
            log.debug("ngrinder test status", test_id=test_id, status=status)
            if status == STATUS_OK:
                return TaskResult(True, fields={"test_id": test_id, "status": status})
            if status in STATUS_FAILED:
                return TaskResult(
                    False,
                    _reason(f"ngrinder test {test_id} ended with status {status}"),
                    fields={"test_id": test_id, "status": status},
                )

    async def _stop(self, http: aiohttp.ClientSession, test_id: int, log: Any, why: str) -> None:
        try:
            await self._call(
                http,
                "PUT",
                f"/perftest/api/{test_id}",
                params={"action": "stop"},
                timeout=STOP_TIMEOUT,
            )
        except NGrinderFailure as failure:
            log.warning("ngrinder test not stopped", test_id=test_id, why=why, reason=str(failure))
        else:
            log.info("ngrinder test stopped", test_id=test_id, why=why)

    async def _call(
        self,
        http: aiohttp.ClientSession,
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        timeout: float = REQUEST_TIMEOUT,
    ) -> dict[str, Any]:
        url = self.server + path
        where = f"ngrinder {method} {redact(url)}"
        try:
            async with http.request(
                method,
                url,
                params=params,
                headers={"Authorization": self.authorization},
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as response:
                status, body = response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            reason = (
                f"no answer within {format_duration(timeout)}"
                if isinstance(exc, TimeoutError)
                else trim(str(exc)) or type(exc).__name__
            )
            raise NGrinderUnreachable(f"{where} failed: {reason}") from None
        text = body.decode("utf-8", "replace")
        try:
            answer = json.loads(text)
        except ValueError:
            answer = None
        if isinstance(answer, dict) and answer.get("success") is False:
            raise NGrinderFailure(f"{where} answered success false: {trim(text)}")
        if status >= 500 or status == 429:
            raise NGrinderUnreachable(f"{where} answered {status}: {trim(text)}")
        if status >= 400:
            raise NGrinderFailure(f"{where} answered {status}: {trim(text)}")
        if not isinstance(answer, dict):
            raise NGrinderUnreachable(
                f"{where} answered {status} with no JSON object: {trim(text)}"
            )
        return answer


def ngrinder_task(payload: WebhookPayload, metadata: dict[str, str]) -> NGrinderTask:
    """`ngrinder`: the Go service's checks, in its order and words; 400 as Go answers them."""
    server, clone, username, passwd = (metadata.get(key, "") for key in REQUIRED_KEYS)
    if not (server and clone and username and passwd):
        raise BadRequest("server, clone, username and passwd are required metadata")
    problem = _go_url_problem(server)
    if problem:
        raise BadRequest(f'invalid url: {cut(server)}: parse "{cut(server)}": {problem}')
    if not _INTEGER.fullmatch(clone):
        raise BadRequest("metadata clone must be integer: strconv.Atoi: "
                         f"parsing {json.dumps(clone)}: invalid syntax")
    password = _base64(passwd)
    credentials = username.encode() + b":" + password
    return NGrinderTask(
        payload,
        server=_base(server),
        clone=int(clone),
        username=username,
        authorization="Basic " + base64.b64encode(credentials).decode("ascii"),
        poll_interval=_poll_interval(metadata.get("pollInterval", "")),
    )


def _go_url_problem(raw: str) -> str:
    """Why Go's url.Parse refuses `raw` (the cases a hand-written server hits), or ''."""
    if re.search(r"[\x00-\x1f\x7f]", raw):
        return "net/url: invalid control character in URL"
    if raw.startswith(":"):
        return "missing protocol scheme"
    match = re.match(r"[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)", raw)
    if match:
        port = re.search(r"(:[^:\]]*)$", match.group(1).rpartition("@")[2])
        if port and not re.fullmatch(r":[0-9]*", port.group(1)):
            return f'invalid port "{cut(port.group(1))}" after host'
    return ""


def _base(server: str) -> str:
    """The server as a base URL; one without http(s) scheme and host is kept as it is and
    fails when called (Go takes it here too), so the run, not the webhook, fails."""
    try:
        url = URL(server)
    except ValueError:
        return server
    if url.scheme in ("http", "https") and url.host:
        return server.rstrip("/")
    return server


def _base64(raw: str) -> bytes:
    """Go's StdEncoding: standard alphabet, exact padding, line breaks skipped."""
    text = re.sub(r"[\r\n]", "", raw)
    try:
        if len(text) % 4 == 0 and _BASE64.fullmatch(text):
            return base64.b64decode(text, validate=True)
    except ValueError:  # binascii.Error
        pass
    bad = re.search(r"[^A-Za-z0-9+/=]", text)
    offset = bad.start() if bad else len(text) - len(text) % 4
    raise BadRequest(f"metadata password is invalid: illegal base64 data at input byte {offset}")


def _poll_interval(raw: str) -> float:
    """A Go duration (`500ms`, `2s`) or bare seconds; anything else is 1s, as in Go."""
    text = raw.strip()
    try:
        value = float(text) if re.fullmatch(r"\d+(\.\d*)?", text) else parse_go_duration(text)
    except ValueError:
        return DEFAULT_POLL_INTERVAL
    return value if value > 0 else DEFAULT_POLL_INTERVAL


def _test_id(answer: dict[str, Any]) -> int:
    value = answer.get("id")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise NGrinderFailure(f"ngrinder answered no test id: {trim(json.dumps(answer))}")
    try:
        return int(value)
    except (ValueError, OverflowError):
        raise NGrinderFailure(
            f"ngrinder answered no test id: {trim(json.dumps(answer))}"
        ) from None


def _status_id(answer: dict[str, Any]) -> str:
    statuses = answer.get("status")
    if isinstance(statuses, list) and statuses and isinstance(statuses[0], dict):
        return str(statuses[0].get("status_id", ""))
    return ""


def _reason(text: str) -> str:
    return f"background task failed: {text}"

