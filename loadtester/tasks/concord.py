"""`concord`: start a Concord process and poll it until it ends; a blocking check.

The API key is read from the file named by `apiKeyPath` and sent as the `Authorization`
header; it never reaches a log line, a reason or a repr.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import json
import os
import re
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
from yarl import URL

from loadtester.errors import Forbidden, TaskSetupFailed
from loadtester.filepolicy import FilePolicy
from loadtester.files import FileNotAllowed, FileRefused, printable_path, read_regular_file_async
from loadtester.logs import get_logger, redact
from loadtester.models import WebhookPayload
from loadtester.tasks.base import TaskEnvironment, TaskResult
from loadtester.tasks.remote import trim

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
_SECONDS = re.compile(r"[+-]?[0-9]{1,18}(\.[0-9]{1,9})?")  # strconv.Atoi, and fractions
_URL_BAD = re.compile(r"[\x00-\x1f\x7f]")  # control characters: url.Parse refuses them
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

    async def prepared(self, settings: Settings, files: FilePolicy) -> ConcordTask:
        """The task with its API key read (a regular file of at most 64 KiB, off the event
        loop, where `files` allows); 500 with the reason otherwise (as Go's), 403 for a file
        the policy refuses, before anything is sent to Concord."""
        try:
            return dataclasses.replace(self, api_key=await self._read_api_key(files))
        except ConcordFailure as failure:
            raise TaskSetupFailed(str(failure)) from None

    async def run(self, env: TaskEnvironment) -> TaskResult:
        try:
            async with asyncio.timeout(env.settings.timeout):
                return await self._run(env)
        except TimeoutError:
            return TaskResult(False, "context timedout", timed_out=True)  # Go's words
        except ConcordFailure as failure:
            return TaskResult(False, str(failure))

    async def _run(self, env: TaskEnvironment) -> TaskResult:
        http = env.http
        log = get_logger(**self.payload.log_fields(), type=self.type, task=self.description)
        api_key = (self.api_key if self.api_key is not None
                   else await self._read_api_key(FilePolicy.from_settings(env.settings)))
        started = await self._call(http, "POST", PROCESS_PATH, api_key, self._form())
        instance = started.get("instanceId")
        if not isinstance(instance, str) or not instance:
            raise ConcordFailure(f"concord answered no instanceId: {trim(json.dumps(started))}")
        instance = _printable(instance)
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
                            f"concord instanceID: {instance} failed",  # Go's words
                            fields={"instance": instance, "status": status},
                        )
        except TimeoutError:
            return TaskResult(
                False,
                f"concord process timed out, after {self.poll_timeout:g} seconds",
                fields={"instance": instance, "status": status},
                timed_out=True,
            )

    def _form(self) -> aiohttp.MultipartWriter:
        writer = aiohttp.MultipartWriter("form-data")
        for name, value in self.form_fields():
            part = writer.append(value, {"Content-Type": "text/plain; charset=utf-8"})
            part.set_content_disposition("form-data", name=name)
        return writer

    async def _read_api_key(self, files: FilePolicy) -> str:
        path = printable_path(self.api_key_path)
        try:
            data = await read_regular_file_async(self.api_key_path, MAX_API_KEY_FILE, files)
            # a key file written with a trailing newline is still the same key
            key = data.decode("utf-8").strip()
        except FileNotAllowed as exc:
            raise Forbidden(str(exc)) from None
        except FileRefused as exc:
            if exc.errno == errno.ENOENT:
                raise ConcordFailure(f"`apiKeyPath` file doesn't exist {exc.path}") from None
            if exc.errno == errno.EACCES:  # Go's os.ReadFile words
                raise ConcordFailure(f"open {exc.path}: permission denied") from None
            if "(a directory)" in exc.reason:
                raise ConcordFailure(f"read {exc.path}: is a directory") from None
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
        if not self.server.startswith(("http://", "https://")):
            # Go's http.Client on a `server` without host (`example.org`, `concord.local:8001`)
            scheme = self.server.removesuffix("://")
            raise ConcordFailure(f'{method.title()} "{self.server}{path}": '
                                 f'unsupported protocol scheme "{scheme}"')
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
            # Go's *url.Error: `Post "http://…/api/v1/process": dial tcp …: connection refused`
            raise ConcordFailure(f'{method.title()} "{redact(url)}": {_describe(exc)}') from None
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
    """`concord`: the Go service's checks, in its order and words; 500 as Go answers them."""
    for key in REQUIRED_KEYS[:2]:
        _present(metadata, key)
    server = _go_base_url(metadata["server"])
    for key in REQUIRED_KEYS[2:6]:
        _present(metadata, key)
    key_path = metadata["apiKeyPath"]
    if not os.path.lexists(key_path):  # a stat, as Go's; read by prepared()
        raise TaskSetupFailed(f"`apiKeyPath` file doesn't exist {printable_path(key_path)}")
    _present(metadata, "endpoint")
    poll_interval = _seconds(metadata, "pollInterval", DEFAULT_POLL_INTERVAL)
    poll_timeout = _seconds(metadata, "pollTimeout", DEFAULT_POLL_TIMEOUT)
    if poll_interval <= 0:  # Go's ticker panics and the request crashes
        raise TaskSetupFailed("`pollInterval` must be a positive number of seconds")
    if ARGUMENT_PREFIX + "endpoint" in metadata:
        raise TaskSetupFailed("You cannot override Endpoint through arguments. "
                              "You must override Endpoint directly")
    arguments = tuple(
        sorted(
            (key.removeprefix(ARGUMENT_PREFIX), value)
            for key, value in metadata.items()
            if key.startswith(ARGUMENT_PREFIX) and len(key) > len(ARGUMENT_PREFIX)
        )
    )
    return ConcordTask(
        payload,
        server=server,
        org=metadata["org"],
        project=metadata["project"],
        repo=metadata["repo"],
        entrypoint=metadata["entrypoint"],
        api_key_path=key_path,
        endpoint=metadata["endpoint"],
        arguments=arguments,
        poll_interval=poll_interval,
        poll_timeout=max(poll_timeout, 0.0),
    )


def _present(metadata: dict[str, str], key: str) -> None:
    if key not in metadata:  # Go checks presence only: an empty value is taken
        raise TaskSetupFailed(f"`{key}` is required with type concord")


def _go_base_url(raw: str) -> str:
    """`scheme://host` of the `server` as Go resolves `/api/v1/process` against it (the path
    of the server is replaced); `scheme://` or '' for one without host (`example.org`), which
    Go takes here and fails on when it calls; 500 where Go's url.Parse fails."""
    if _URL_BAD.search(raw) or raw.startswith(":"):
        raise TaskSetupFailed("failed to create base URL from metadata `concord_url`")
    try:
        url = URL(raw)
    except ValueError:
        raise TaskSetupFailed("failed to create base URL from metadata `concord_url`") from None
    if not url.scheme or not url.host:
        return f"{url.scheme}://" if url.scheme else ""
    return str(url.origin())


def _seconds(metadata: dict[str, str], key: str, default: float) -> float:
    """Seconds, read as Go's strconv.Atoi reads them; we take fractions (`0.5`) too."""
    if key not in metadata:
        return default
    raw = metadata[key]
    if not _SECONDS.fullmatch(raw):
        raise TaskSetupFailed(f"unable to convert `{key}` to int")
    return float(raw)


def _printable(text: str) -> str:
    return "".join(char if char.isprintable() else "?" for char in text)[:200]


def _describe(exc: BaseException) -> str:
    """A client error in the words of Go's net/http where it has them."""
    if isinstance(exc, TimeoutError):
        return "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
    if isinstance(exc, aiohttp.ClientConnectorError):
        cause = exc.os_error
        if isinstance(cause, ConnectionRefusedError):
            return f"dial tcp {exc.host}:{exc.port}: connect: connection refused"
        if isinstance(cause, socket.gaierror):
            return f"dial tcp: lookup {exc.host}: no such host"
    return trim(str(exc)) or type(exc).__name__
