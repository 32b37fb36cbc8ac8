"""`concord`: start a Concord process and poll it until it ends; a blocking check.

The API key is read from the file named by `apiKeyPath` and sent as the `Authorization`
header; it never reaches a log line, a reason or a repr.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import json
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp

from loadtester.durations import format_duration
from loadtester.errors import BadRequest
from loadtester.files import FileRefused, printable_path, read_regular_file_async
from loadtester.logs import get_logger, redact
from loadtester.models import WebhookPayload
from loadtester.tasks.base import TaskEnvironment, TaskResult
from loadtester.tasks.remote import required, server_url, trim

if TYPE_CHECKING:
    from loadtester.settings import Settings

PROCESS_PATH = "/api/v1/process"
DEFAULT_POLL_INTERVAL = 5.0
DEFAULT_POLL_TIMEOUT = 30.0
REQUEST_TIMEOUT = 60.0
MAX_API_KEY_FILE = 64 * 1024
_KEY_BAD = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]|[^\x00-\xff]")  # not an HTTP header value
ARGUMENT_PREFIX = "arguments."
REQUIRED_KEYS = ("server", "org", "project", "repo", "entrypoint", "apiKeyPath", "endpoint")
STATUS_OK = "FINISHED"
# the contract names FAILED; CANCELLED and TIMED_OUT are just as final (Go waits them out)
STATUS_FAILED = frozenset({"FAILED", "CANCELLED", "TIMED_OUT"})


class ConcordFailure(Exception):
    """A call to Concord went wrong; the message is the one-line reason Flagger gets."""


@dataclass(frozen=True)
class ConcordTask:
    """Starts one Concord process and waits for FINISHED or FAILED."""

    payload: WebhookPayload
    server: str
    org: str
    project: str
    repo: str
    entrypoint: str
    api_key_path: str
    endpoint: str
    arguments: tuple[tuple[str, str], ...] = ()
    poll_interval: float = DEFAULT_POLL_INTERVAL
    poll_timeout: float = DEFAULT_POLL_TIMEOUT
    type: str = field(default="concord", init=False)
    background: bool = field(default=False, init=False)
    api_key: str | None = field(default=None, repr=False)  # read by prepared()

    @property
    def key(self) -> str:
        return (
            f"{self.payload.canary}/concord/{self.org}/{self.project}/{self.repo}/{self.entrypoint}"
        )

    @property
    def description(self) -> str:
        return f"{self.org} {self.project} {self.repo} {self.entrypoint}"

    def form_fields(self) -> list[tuple[str, str]]:
        """The multipart fields of the start request, in the Go service's order."""
        return [
            ("org", self.org),
            ("project", self.project),
            ("repo", self.repo),
            ("entryPoint", self.entrypoint),
            ("arguments.endpoint", self.endpoint),
            *((ARGUMENT_PREFIX + name, value) for name, value in self.arguments),
        ]

    async def prepared(self, settings: Settings) -> ConcordTask:
        """The task with its API key read (a regular file of at most 64 KiB, off the event
        loop); BadRequest with the reason otherwise, before anything is sent to Concord."""
        try:
            return dataclasses.replace(self, api_key=await self._read_api_key())
        except ConcordFailure as failure:
            raise BadRequest(str(failure)) from None

    async def run(self, env: TaskEnvironment) -> TaskResult:
        try:
            async with asyncio.timeout(env.settings.timeout):
                return await self._run(env.http)
        except TimeoutError:
            return TaskResult(
                False,
                "concord process timed out after "
                f"{format_duration(env.settings.timeout)} (-timeout)",
                timed_out=True,
            )
        except ConcordFailure as failure:
            return TaskResult(False, str(failure))

    async def _run(self, http: aiohttp.ClientSession) -> TaskResult:
        log = get_logger(**self.payload.log_fields(), type=self.type, task=self.description)
        api_key = self.api_key if self.api_key is not None else await self._read_api_key()
        started = await self._call(http, "POST", PROCESS_PATH, api_key, self._form())
        instance = started.get("instanceId")
        if not isinstance(instance, str) or not instance:
            raise ConcordFailure(f"concord answered no instanceId: {trim(json.dumps(started))}")
        log.info("concord process started", instance=instance)
        status = ""
        try:
            async with asyncio.timeout(self.poll_timeout):
                while True:
                    await asyncio.sleep(self.poll_interval)
                    process = await self._call(http, "GET", f"{PROCESS_PATH}/{instance}", api_key)
                    status = str(process.get("status", ""))
                    log.debug("concord process status", instance=instance, status=status)
                    if status == STATUS_OK:
                        return TaskResult(True, fields={"instance": instance, "status": status})
                    if status in STATUS_FAILED:
                        return TaskResult(
                            False,
                            f"concord process {instance} ended with status {status}",
                            fields={"instance": instance, "status": status},
                        )
        except TimeoutError:
            last = f" (last status {status})" if status else ""
            return TaskResult(
                False,
                f"concord process {instance} timed out after "
                f"{format_duration(self.poll_timeout)}{last}",
                fields={"instance": instance, "status": status},
                timed_out=True,
            )

    def _form(self) -> aiohttp.MultipartWriter:
        writer = aiohttp.MultipartWriter("form-data")
        for name, value in self.form_fields():
            part = writer.append(value, {"Content-Type": "text/plain; charset=utf-8"})
            part.set_content_disposition("form-data", name=name)
        return writer

    async def _read_api_key(self) -> str:
        path = printable_path(self.api_key_path)
        try:
            data = await read_regular_file_async(self.api_key_path, MAX_API_KEY_FILE)
            # a key file written with a trailing newline is still the same key
            key = data.decode("utf-8").strip()
        except FileRefused as exc:
            if exc.errno == errno.ENOENT:
                raise ConcordFailure(f"`apiKeyPath` file doesn't exist {exc.path}") from None
            raise ConcordFailure(
                f"concord: cannot read apiKeyPath {exc.path} ({exc.reason})") from None
        except UnicodeDecodeError:
            raise ConcordFailure(
                f"concord: cannot read apiKeyPath {path}: not UTF-8 text") from None
        if _KEY_BAD.search(key):
            raise ConcordFailure(f"concord: apiKeyPath {path} holds more than one line or "
                                 "characters an HTTP header cannot carry")
        return key

    async def _call(
        self,
        http: aiohttp.ClientSession,
        method: str,
        path: str,
        api_key: str,
        data: aiohttp.MultipartWriter | None = None,
    ) -> dict[str, Any]:
        url = self.server + path
        where = f"concord {method} {redact(url)}"
        headers = {"Authorization": api_key} if api_key else {}
        try:
            async with http.request(
                method,
                url,
                data=data,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
            ) as response:
                status, body = response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ConcordFailure(f"{where} failed: {_describe(exc)}") from None
        text = body.decode("utf-8", "replace")
        if status >= 400:
            raise ConcordFailure(f"{where} answered {status}: {trim(text)}")
        try:
            answer = json.loads(text)
        except ValueError:
            raise ConcordFailure(f"{where} answered {status} with no JSON: {trim(text)}") from None
        if not isinstance(answer, dict):
            raise ConcordFailure(f"{where} answered {status} with no JSON object: {trim(text)}")
        return answer


def concord_task(payload: WebhookPayload, metadata: dict[str, str]) -> ConcordTask:
    """`concord`: the metadata keys of the Go service; 400 naming the key that is wrong."""
    values = {key: required(metadata, key, "concord") for key in REQUIRED_KEYS}
    if ARGUMENT_PREFIX + "endpoint" in metadata:
        raise BadRequest(
            "`arguments.endpoint` is refused: you cannot override endpoint "
            "through arguments; set `endpoint` directly"
        )
    arguments = tuple(
        sorted(
            (key.removeprefix(ARGUMENT_PREFIX), value)
            for key, value in metadata.items()
            if key.startswith(ARGUMENT_PREFIX) and len(key) > len(ARGUMENT_PREFIX)
        )
    )
    return ConcordTask(
        payload,
        server=server_url(values["server"]),
        org=values["org"],
        project=values["project"],
        repo=values["repo"],
        entrypoint=values["entrypoint"],
        api_key_path=values["apiKeyPath"],
        endpoint=values["endpoint"],
        arguments=arguments,
        poll_interval=_seconds(metadata, "pollInterval", DEFAULT_POLL_INTERVAL),
        poll_timeout=_seconds(metadata, "pollTimeout", DEFAULT_POLL_TIMEOUT),
    )






def _seconds(metadata: dict[str, str], key: str, default: float) -> float:
    """Whole seconds as in the Go service; fractions are accepted too."""
    raw = metadata.get(key, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise BadRequest(f"`{key}` must be a positive number of seconds, got {raw!r}")
    return value




def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {format_duration(REQUEST_TIMEOUT)}"
    return trim(str(exc)) or type(exc).__name__
