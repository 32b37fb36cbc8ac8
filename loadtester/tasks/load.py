"""`type: load`: the built-in generator, described by a hey command line or by metadata."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from loadtester import metrics
from loadtester.durations import format_duration
from loadtester.errors import BadRequest
from loadtester.files import FileRefused, read_regular_file_async
from loadtester.loadgen.ghzoutput import parse_ghz_output
from loadtester.loadgen.heyflags import spec_from_hey, split_hey_command
from loadtester.loadgen.heyoutput import parse_hey_output
from loadtester.loadgen.result import LoadResult, ResultView, Thresholds, all_failed
from loadtester.loadgen.spec import LoadSpec, LoadSpecError
from loadtester.loadgen.workers import ProgressDelta, run_load
from loadtester.models import WebhookPayload
from loadtester.tasks.base import TaskEnvironment, TaskResult, flag

if TYPE_CHECKING:
    from loadtester.settings import Settings

MAX_BODY_FILE = 10 * 1024 * 1024  # hey's -D: the body is held in memory and in every worker
_SPEC_KEYS = ("url", "method", "headers", "body", "rate", "concurrency", "duration", "requests",
              "timeout")


def target_label(url: str) -> str:
    """The `target` label of a URL: scheme, host, port and path, never the query."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path or '/'}"


def record_delta(series: metrics.LoadSeries, delta: LoadResult) -> None:
    """Add what a run (or a slice of it) saw to a canary's load metrics."""
    series.add_codes(delta.status_counts)
    series.add_errors(delta.errors)
    histogram = delta.histogram
    series.add_buckets(histogram.bucket_counts(metrics.LOAD_BUCKETS), histogram.total_us / 1e6)


def judge(result: ResultView, thresholds: Thresholds) -> str | None:
    """Why a run failed: no request got an answer (``all 20 requests failed: connection
    refused``), or a threshold is broken. Status codes count only through maxErrorRate."""
    return all_failed(result) or thresholds.evaluate(result)


GHZ_SCHEME = "grpc://"  # the target label of a ghz run, which also picks ghz's parser
_SHELL_OPERATORS = frozenset({"&&", "||", ";", "|", "&", ">", ">>", "<", "2>", "2>&1"})
# ghz flags that take no value (https://ghz.sh/docs/options); every other flag takes one
_GHZ_SWITCHES = frozenset({"--insecure", "--skipTLS", "--async", "-b", "--binary",
                           "--stream-dynamic-messages", "--count-errors", "-e",
                           "--enable-compression", "--disable-template-functions",
                           "--disable-template-data", "-v", "--version", "-h", "--help"})


def _ghz_host(args: list[str]) -> str | None:
    """ghz's one positional argument, the host (``podinfo.test:9898``)."""
    host: str | None = None
    expects_value = False
    for word in args:
        if word in _SHELL_OPERATORS:
            break
        if expects_value:
            expects_value = False
        elif word.startswith("-"):
            expects_value = "=" not in word and word not in _GHZ_SWITCHES
        else:
            host = word
    return host


def load_tool_target(command: str) -> str | None:
    """The target label of a command line's `hey` run (its URL) or `ghz` run
    (``grpc://host:port``), None when it runs neither."""
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    for position, word in enumerate(words):
        tool = word.rpartition("/")[2]
        if tool == "hey":
            urls = [w for w in words[position + 1:] if w.startswith(("http://", "https://"))]
            try:
                return target_label(urls[0]) if urls else None
            except ValueError:  # not a URL hey could load either; its exit status will say
                return None
        if tool == "ghz":
            host = _ghz_host(words[position + 1:]) or "ghz"
            host = host.split("://", 1)[-1].lstrip("/").rpartition("@")[2]
            return GHZ_SCHEME + host
    return None


def judge_tool_output(payload: WebhookPayload, target: str, thresholds: Thresholds,
                      output: str) -> str | None:
    """Record what hey or ghz printed in the load metrics and return why the run failed
    (every request unanswered, or a broken threshold), if it did."""
    report = (parse_ghz_output(output) if target.startswith(GHZ_SCHEME)
              else parse_hey_output(output))
    if not report.sections:
        return None  # no summary (the tool failed to start, or wrote elsewhere): exit status
    series = metrics.LOAD.series(payload.name, payload.namespace, target)
    for code, n in report.status_counts.items():  # HTTP codes, or gRPC code names for ghz
        series.codes[str(code)] = series.codes.get(str(code), 0) + n
    series.add_errors(report.errors)
    series.add_latencies(report.histogram)
    series.rate = report.achieved_rate
    return judge(report, thresholds)


@dataclass(frozen=True)
class LoadTask:
    """A run of the built-in engine on behalf of one canary."""

    payload: WebhookPayload
    spec: LoadSpec
    thresholds: Thresholds
    source: str
    background: bool
    type: str = "load"
    body_file: str | None = None  # hey's -D, read by prepared()
    given_durations: tuple[tuple[str, float], ...] = ()  # checked against -timeout

    @property
    def key(self) -> str:
        return f"{self.payload.canary}/load {self.source}"

    @property
    def description(self) -> str:
        return self.source

    async def prepared(self, settings: Settings) -> LoadTask:
        """The task with its -D body read (off the event loop, bounded) and its durations
        checked against the service's -timeout; BadRequest with the reason otherwise."""
        limit = settings.timeout
        for what, value in self.given_durations:
            if value > limit:
                raise BadRequest(f"{what} {format_duration(value)} is longer than the service's "
                                 f"-timeout {format_duration(limit)}")
        if self.body_file is None:
            return self
        try:
            body = await read_regular_file_async(self.body_file, MAX_BODY_FILE)
            spec = dataclasses.replace(self.spec, body=body)
        except (FileRefused, LoadSpecError) as exc:
            raise BadRequest(f"invalid value for flag -D: {exc}") from None
        return dataclasses.replace(self, spec=spec, body_file=None)

    async def run(self, env: TaskEnvironment) -> TaskResult:
        series = metrics.LOAD.series(self.payload.name, self.payload.namespace,
                                     target_label(self.spec.url))

        def on_progress(progress: ProgressDelta) -> None:
            record_delta(series, progress.delta)

        try:
            result = await asyncio.wait_for(
                run_load(self.spec, env.settings.load_workers, on_progress),
                env.settings.timeout,
            )
        except TimeoutError:
            return TaskResult(False, self._failure("load test timed out"), timed_out=True)
        except (LoadSpecError, RuntimeError) as exc:
            return TaskResult(False, self._failure(str(exc)))
        series.rate = result.achieved_rate
        fields = result.to_json()
        broken = judge(result, self.thresholds)
        if broken is not None:
            return TaskResult(False, self._failure(broken), fields=fields)
        return TaskResult(True, answer="" if self.background else result.summary_line(),
                          fields=fields)

    def _failure(self, reason: str) -> str:
        return f"background task failed: {reason}" if self.background else reason


def load_task(payload: WebhookPayload, metadata: dict[str, str]) -> LoadTask:
    """`load`: a hey command line in `cmd`, or structured metadata (`url`, `rate`, ...)."""
    body_file: str | None = None
    # only durations the caller wrote: hey's default -t 20s must not refuse a short -timeout
    given: dict[str, float | None] = {}
    try:
        if metadata.get("cmd", "").strip():
            source = metadata["cmd"].strip()
            args = split_hey_command(source)
            body_file = args.values.get("D")
            spec = spec_from_hey(args, read_body_file=False)
            given = {"-z": spec.duration, "-t": spec.timeout if "t" in args.values else None}
        elif metadata.get("url", "").strip():
            spec = LoadSpec.from_metadata(metadata)
            given = {key: getattr(spec, key) for key in ("duration", "timeout")
                     if metadata.get(key, "").strip()}
            source = json.dumps({key: metadata[key] for key in _SPEC_KEYS if key in metadata},
                                sort_keys=True)
        else:
            raise BadRequest("url or cmd not found in metadata")
        thresholds = Thresholds.from_metadata(metadata)
    except LoadSpecError as exc:
        raise BadRequest(str(exc)) from None
    return LoadTask(payload, spec, thresholds, source, background=not flag(metadata, "wait"),
                    body_file=body_file,
                    given_durations=tuple((k, v) for k, v in given.items() if v is not None))
