"""`type: load`: the built-in generator, described by a hey command line or by metadata."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from loadtester import metrics
from loadtester.durations import format_duration
from loadtester.errors import BadRequest, Forbidden, LoadtesterError
from loadtester.files import (
    FileNotAllowed,
    FileRefused,
    read_regular_file,
    read_regular_file_async,
)
from loadtester.loadgen.errors import LoadSpecError
from loadtester.loadgen.input.heyflags import spec_from_hey, split_hey_command
from loadtester.loadgen.input.metadata import spec_from_metadata, thresholds_from_metadata
from loadtester.loadgen.input.scenario import parse_scenario, scenario_spec, with_stages
from loadtester.loadgen.input.spec import LoadSpec
from loadtester.loadgen.input.stages import parse_stages
from loadtester.loadgen.input.tlsoptions import (
    MAX_PEM_FILE,
    METADATA_KEYS,
    tls_from_metadata,
    with_tls,
)
from loadtester.loadgen.results.compare import compare_line
from loadtester.loadgen.results.comparison import compare_results
from loadtester.loadgen.results.messages import ProgressDelta
from loadtester.loadgen.results.result import LoadResult, ResultView, all_failed
from loadtester.loadgen.results.series import RunSeries
from loadtester.loadgen.results.thresholds import Thresholds, evaluate_requests
from loadtester.loadgen.results.verdict import RegressionPolicy, parse_policy
from loadtester.loadgen.running.sizing import size_workers
from loadtester.loadgen.running.tlscontext import read_checked
from loadtester.loadgen.running.workers import run_load
from loadtester.loadgen.tools.ghz import parse_ghz_output
from loadtester.loadgen.tools.hey import parse_hey_output
from loadtester.models import WebhookPayload
from loadtester.tasks.base import TaskEnvironment, TaskResult, flag
from loadtester.tasks.load_notify import notify_load_result
from loadtester.tasks.load_spread import (
    Spread,
    count_replicas,
    parse_replicas,
    replicas_note,
    run_spread,
)
from loadtester.tasks.records import REPLICA

if TYPE_CHECKING:
    from loadtester.filepolicy import FilePolicy
    from loadtester.settings import Settings
    from loadtester.state.base import LoadShares

MAX_BODY_FILE = 10 * 1024 * 1024  # hey's -D: the body is held in memory and in every worker
# a compare run: the other target, and how its verdict is decided (cmd's run takes them too)
COMPARE_KEYS = ("compare", "maxRegression", "significance", "minSamples", "requireVerdict")
# a run spread over the replicas sharing a Redis store (load_spread.py)
REPLICA_KEYS = ("replicas", "allowPartial")
_SPEC_KEYS = ("url", "method", "headers", "body", "rate", "concurrency", "duration", "requests",
              "timeout", "stages", "scenario", "h2", "h2c", "streams", *METADATA_KEYS,
              *COMPARE_KEYS, *REPLICA_KEYS)
# what a scenario sets per request: given in metadata too, it would be ignored
_PER_REQUEST_KEYS = ("method", "headers", "body", "host", "contentType")


def target_label(url: str) -> str:
    """The `target` label of a URL: `scheme://host:port/`, never its path or query (one
    series per host, however many paths a run or scenario sends to)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/"


def record_delta(series: metrics.LoadSeries, delta: LoadResult) -> None:
    """Add what a run (or a slice of it) saw to a canary's load metrics."""
    series.add_codes(delta.status_counts)
    series.add_errors(delta.errors)
    histogram = delta.histogram
    series.add_buckets(histogram.bucket_counts(metrics.LOAD_BUCKETS), histogram.total_us / 1e6)


def judge(result: ResultView, thresholds: Thresholds,
          per_request: Mapping[str, Thresholds] | None = None) -> str | None:
    """Why a run failed: no request got an answer (``all 20 requests failed: connection
    refused``), or a threshold is broken, of the whole run or (``per_request``, by request
    name) of one of a scenario's requests (``POST /api/orders: p99 812ms > 200ms over 60
    requests, 0% errors``). Status codes count only through maxErrorRate."""
    broken = all_failed(result) or thresholds.evaluate(result)
    if broken is None and per_request and isinstance(result, LoadResult):
        broken = evaluate_requests(result, per_request)
    return broken


class LoadRecording:
    """A run's figures in the load metrics: one series for a plain run; for a scenario, one
    per request (with a `request` label) and its failed checks."""

    def __init__(self, payload: WebhookPayload, spec: LoadSpec) -> None:
        self.payload = payload
        self.whole: metrics.LoadSeries | None = None
        self.primary: metrics.LoadSeries | None = None  # a compare run's other target
        if spec.compare is not None:
            self.primary = metrics.LOAD.series(payload.name, payload.namespace,
                                               target_label(spec.compare_spec().url))
            self.primary.protocol = spec.protocol
        self.parts: dict[str, metrics.LoadSeries] = {}
        self.labels: dict[str, str] = {}  # request name -> its `request` label (capped)
        if spec.mix is None:
            self.whole = metrics.LOAD.series(payload.name, payload.namespace,
                                             target_label(spec.url))
            self.whole.protocol = spec.protocol
            return
        for r in spec.mix.requests:
            labels = metrics.LOAD.labels(payload.name, payload.namespace, target_label(r.url),
                                         r.name)
            self.labels[r.name] = labels[3]
            self.parts[r.name] = metrics.LOAD.series(*labels)
            self.parts[r.name].protocol = spec.protocol

    def add(self, delta: LoadResult) -> None:
        """Count a slice of the run."""
        if self.primary is not None and delta.primary is not None:
            record_delta(self.primary, delta.primary)
        if self.whole is not None:
            record_delta(self.whole, delta)
            return
        for name, part in delta.requests.items():
            series = self.parts.get(name)
            if series is not None:
                record_delta(series, part)
            for check, count in part.checks.items():
                metrics.LOAD_CHECK_FAILURES.labels(self.payload.name, self.payload.namespace,
                                                   self.labels.get(name, metrics.OTHER),
                                                   check).inc(count)

    def done(self, result: LoadResult) -> None:
        """Set the achieved rates of the finished run."""
        if self.primary is not None and result.primary is not None:
            self.primary.rate = result.primary.achieved_rate
        if self.whole is not None:
            self.whole.rate = result.achieved_rate
        rates: dict[int, float] = {}  # requests past the cap share one series: their sum
        for name, series in self.parts.items():
            part = result.requests.get(name)
            rates[id(series)] = (rates.get(id(series), 0.0)
                                 + (part.achieved_rate if part is not None else 0.0))
        for series in self.parts.values():
            series.rate = rates[id(series)]


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
    policy: RegressionPolicy | None = None  # a compare run's verdict (maxRegression, ...)
    # a hey command line's: the other metadata that shapes its run (stages, compare, TLS),
    # so that two runs of one command with different ones are not taken for the same task
    shaping: str = ""
    replicas: int | None = None  # spread over this many replicas (0: all live); None: here
    allow_partial: bool = False  # a spread run whose share is lost passes on what was sent

    @property
    def key(self) -> str:
        return f"{self.payload.canary}/load {self.source}{self.shaping}"

    @property
    def description(self) -> str:
        """A hey command line as written; structured metadata summed up for people (logs and
        the console): ``GET http://podinfo.test:9898/ at 100/s for 1m, 20 connections``."""
        if not self.source.startswith("{"):
            return self.source
        return describe_spec(self.spec)

    @property
    def targets(self) -> tuple[str, ...]:
        """Every URL the run sends requests to: its url (and a compare run's other one), or
        each of its scenario's."""
        return tuple(dict.fromkeys((*_urls(self.spec), *self.compare_targets)))

    @property
    def compare_targets(self) -> tuple[str, ...]:
        """A compare run's URLs on the primary (none for a run against one target)."""
        return _urls(self.spec.compare_spec()) if self.spec.compare is not None else ()

    async def prepared(self, settings: Settings, files: FilePolicy) -> LoadTask:
        """The task with its -D body read (off the event loop, bounded, where `files`
        allows) and its durations checked against the service's -timeout; BadRequest with the
        reason otherwise, Forbidden for a file the policy refuses."""
        limit = settings.timeout
        for what, value in self.given_durations:
            if value > limit:
                raise BadRequest(f"{what} {format_duration(value)} is longer than the service's "
                                 f"-timeout {format_duration(limit)}")
        task = await self.tls_read(files)
        if task.body_file is None:
            return task
        try:
            body = await read_regular_file_async(task.body_file, MAX_BODY_FILE, files)
            spec = dataclasses.replace(task.spec, body=body)
        except FileNotAllowed as exc:
            raise Forbidden(str(exc)) from None
        except (FileRefused, LoadSpecError) as exc:
            raise BadRequest(f"invalid value for flag -D: {exc}") from None
        return dataclasses.replace(task, spec=spec, body_file=None)

    async def tls_read(self, files: FilePolicy) -> LoadTask:
        """The task with its caFile, tlsCert and tlsKey read (where `files` allows) and
        checked: BadRequest naming the option and the file, Forbidden where the policy
        refuses the file."""
        tls = self.spec.tls
        if tls is None or not tls.files:
            return self

        def read(path: str) -> bytes:
            return read_regular_file(path, MAX_PEM_FILE, files)

        try:
            tls = await asyncio.to_thread(read_checked, tls, read)
        except FileNotAllowed as exc:
            raise Forbidden(str(exc)) from None
        except LoadSpecError as exc:
            raise BadRequest(str(exc)) from None
        return dataclasses.replace(self, spec=dataclasses.replace(self.spec, tls=tls))

    async def admitted(self, shares: LoadShares | None) -> LoadTask:
        """The task with its number of replicas checked against the store: BadRequest where
        the store is not shared by the replicas, Conflict when fewer are live than asked."""
        if self.replicas is None:
            return self
        return dataclasses.replace(self, replicas=await count_replicas(self.spec, self.replicas,
                                                                       shares))

    async def _spread(self, env: TaskEnvironment, workers: int,
                      on_progress: Callable[[ProgressDelta], None]) -> Spread:
        """Run over the replicas (admitted() counted them) and merge their shares."""
        shares = await count_replicas(self.spec, self.replicas or 0, env.shares)
        assert env.shares is not None  # count_replicas refuses a run without a shared store
        return await run_spread(self.spec, self.payload.model_dump(), env.shares, REPLICA,
                                shares, workers, on_progress, allow_partial=self.allow_partial,
                                limit=env.settings.timeout)

    async def run(self, env: TaskEnvironment) -> TaskResult:
        recording = LoadRecording(self.payload, self.spec)
        series = RunSeries()  # kept in the canary's history as a LoadRun by the runner

        def on_progress(progress: ProgressDelta) -> None:
            recording.add(progress.delta)
            series.add(progress.delta, at=progress.elapsed)
            if progress.delta.primary is not None:
                series.add(progress.delta.primary, target="primary", at=progress.elapsed)

        sizing = size_workers(self.spec, env.settings.load_workers)
        spread: Spread | None = None
        try:
            if self.replicas is None:
                result = await asyncio.wait_for(
                    run_load(self.spec, sizing.workers, on_progress),
                    env.settings.timeout,
                )
            else:
                spread = await asyncio.wait_for(self._spread(env, sizing.workers, on_progress),
                                                env.settings.timeout)
                result = spread.result
        except TimeoutError:
            return TaskResult(False, self._failure("load test timed out"), timed_out=True,
                              series=series.to_json())
        except (LoadSpecError, RuntimeError, LoadtesterError) as exc:  # a spread run's too
            return TaskResult(False, self._failure(str(exc)), series=series.to_json())
        recording.done(result)
        fields = {**result.to_json(), "workers": sizing.workers, "workers_reason": sizing.reason}
        if spread is not None:
            fields["replicas"] = spread.replicas
        per_request = self.spec.mix.thresholds() if self.spec.mix is not None else {}
        comparison = compare_results(result, self.policy)
        broken = comparison.unreachable if comparison is not None else None
        broken = broken or (spread.broken if spread is not None else None)
        broken = broken or judge(result, self.thresholds, per_request)
        if comparison is not None:
            comparison.add_to(fields)
            broken = broken or comparison.failure
        await notify_load_result(env, self.payload, fields, self.thresholds, broken,
                                 whole_run=f"{self.spec.method} {target_label(self.spec.url)}",
                                 request_thresholds=per_request)
        if broken is not None:
            return TaskResult(False, self._failure(broken), fields=fields,
                              series=series.to_json())
        return TaskResult(True, answer="" if self.background else _answer(result, fields),
                          fields=fields, series=series.to_json())

    def _failure(self, reason: str) -> str:
        return f"background task failed: {reason}" if self.background else reason


def _urls(spec: LoadSpec) -> tuple[str, ...]:
    """The URLs a spec sends to: its url, or each of its scenario's."""
    if spec.mix is None:
        return (spec.url,)
    return tuple(dict.fromkeys(request.url for request in spec.mix.requests))


def _answer(result: LoadResult, fields: Mapping[str, object]) -> str:
    """A passed run's answer: its summary line; a compare run's adds the comparison and the
    verdict (``; canary p99 22ms vs primary 2ms (+1000%), ...; verdict: ...``)."""
    compare = fields.get("compare")
    if not isinstance(compare, dict):
        return result.summary_line() + replicas_note(fields)
    answer = f"{result.summary_line()}; {compare_line(compare)}"
    verdict = compare.get("verdict")
    if isinstance(verdict, dict):
        answer += f"; verdict {verdict['outcome']}: {verdict['message']}"
    return answer + replicas_note(fields)


def describe_spec(spec: LoadSpec) -> str:
    """What a run sends, at what rate and for how long, in one line."""
    if spec.mix is not None:
        what = "scenario: " + ", ".join(r.name for r in spec.mix.requests)
    else:
        what = f"{spec.method} {target_label(spec.url)}"
    if spec.compare is not None:
        what += f" vs {target_label(spec.compare_spec().url)}"
    if spec.stages is not None:
        pace = f" in stages {spec.stages}"
    else:
        pace = f" at {spec.rate:g}/s" if spec.rate else ""
        if spec.duration is not None:
            pace += f" for {format_duration(spec.duration)}"
        elif spec.requests is not None:
            pace += f", {spec.requests} requests"
    over = f" over HTTP/2 ({spec.streams} streams each)" if spec.h2 or spec.h2c else ""
    return f"{what}{pace}, {spec.concurrency} connections{over}"


def load_task(payload: WebhookPayload, metadata: dict[str, str]) -> LoadTask:
    """`load`: a hey command line in `cmd`, or structured metadata (`url`, `rate`, ...), or a
    `scenario` (with `url`, if given, the base of its relative request URLs); `stages` ramps
    the rate of any of them."""
    body_file: str | None = None
    shaping = ""
    # only durations the caller wrote: hey's default -t 20s must not refuse a short -timeout
    given: dict[str, float | None] = {}
    try:
        if metadata.get("cmd", "").strip() and not metadata.get("scenario", "").strip():
            source = metadata["cmd"].strip()
            args = split_hey_command(source)
            body_file = args.values.get("D")
            spec = spec_from_hey(args, read_body_file=False)
            if metadata.get("stages", "").strip():
                if "n" in args.values:
                    raise LoadSpecError("-n and stages are both given: the stages set the run")
                spec = with_stages(spec, parse_stages(metadata["stages"]))
            given = {"-z" if spec.stages is None else "stages": spec.duration,
                     "-t": spec.timeout if "t" in args.values else None}
            extra = {key: metadata[key] for key in _SPEC_KEYS if key in metadata}
            shaping = f" {json.dumps(extra, sort_keys=True)}" if extra else ""
        elif metadata.get("url", "").strip() or metadata.get("scenario", "").strip():
            spec = _metadata_spec(metadata)
            given = {key: getattr(spec, key) for key in ("duration", "timeout")
                     if metadata.get(key, "").strip()}
            if spec.stages is not None:
                given = {**given, "stages": spec.stages.duration}
            source = json.dumps({key: metadata[key] for key in _SPEC_KEYS if key in metadata},
                                sort_keys=True)
        else:
            raise BadRequest("url or cmd not found in metadata")
        spec = with_tls(spec, tls_from_metadata(metadata))
        if metadata.get("compare", "").strip():
            spec = dataclasses.replace(spec, compare=metadata["compare"].strip())
        policy = parse_policy(*(metadata.get(key, "").strip() or None
                                for key in COMPARE_KEYS[1:]))
        if policy is not None and spec.compare is None:
            raise LoadSpecError("metadata maxRegression needs compare: the URL of the primary "
                                "to compare the canary with")
        thresholds = thresholds_from_metadata(metadata)
    except LoadSpecError as exc:
        raise BadRequest(str(exc)) from None
    return LoadTask(payload, spec, thresholds, source, background=not flag(metadata, "wait"),
                    body_file=body_file, policy=policy, shaping=shaping,
                    given_durations=tuple((k, v) for k, v in given.items() if v is not None),
                    replicas=parse_replicas(metadata), allow_partial=flag(metadata, "allowPartial"))


def _metadata_spec(metadata: Mapping[str, str]) -> LoadSpec:
    """The run of structured metadata: one URL, or a scenario; with stages if given."""
    stages = parse_stages(metadata["stages"]) if metadata.get("stages", "").strip() else None
    if stages is not None and metadata.get("requests", "").strip():
        raise LoadSpecError("metadata requests and stages are both given: the stages set the run")
    base_url = metadata.get("url", "").strip() or None
    if not metadata.get("scenario", "").strip():
        spec = spec_from_metadata(metadata)
        return with_stages(spec, stages) if stages is not None else spec
    if metadata.get("cmd", "").strip():
        raise LoadSpecError("metadata cmd and scenario are both given: use one")
    for key in _PER_REQUEST_KEYS:
        if metadata.get(key, "").strip():
            raise LoadSpecError(f"metadata {key} does not apply with a scenario: set it on each "
                                "of its requests")
    scenario = parse_scenario(metadata["scenario"], base_url)
    if stages is not None:
        if scenario.stages is not None:
            raise LoadSpecError("stages are given both in metadata and in the scenario")
        scenario = dataclasses.replace(scenario, stages=stages)
    if scenario.stages is not None and metadata.get("requests", "").strip():
        raise LoadSpecError("metadata requests and stages are both given: the stages set the run")
    base = spec_from_metadata({**metadata, "url": base_url or scenario.requests[0].url})
    if metadata.get("compare", "").strip():  # the primary's requests are built with the mix
        base = dataclasses.replace(base, compare=metadata["compare"].strip())
    return scenario_spec(scenario, base)
