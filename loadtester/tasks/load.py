"""`type: load`: the built-in generator, described by a hey command line or by metadata."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from loadtester import metrics
from loadtester.errors import BadRequest
from loadtester.loadgen.histogram import Histogram, bucket_bounds
from loadtester.loadgen.result import LoadResult, Thresholds
from loadtester.loadgen.spec import LoadSpec, LoadSpecError
from loadtester.loadgen.workers import ProgressDelta, run_load
from loadtester.models import WebhookPayload
from loadtester.tasks.base import TaskEnvironment, TaskResult, flag

_SPEC_KEYS = ("url", "method", "headers", "body", "rate", "concurrency", "duration", "requests",
              "timeout")


def target_label(url: str) -> str:
    """The `target` label of a URL: scheme, host, port and path, never the query."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path or '/'}"


def latency_samples(histogram: Histogram) -> list[tuple[float, int]]:
    """(seconds, count) pairs of a histogram's non-empty buckets."""
    samples = []
    for index, count in enumerate(histogram.counts):
        if count:
            low, high = bucket_bounds(index)
            samples.append(((low + high) / 2e6, count))
    return samples


def record_delta(series: metrics.LoadSeries, delta: LoadResult) -> None:
    """Add what a run (or a slice of it) saw to a canary's load metrics."""
    series.add_codes(delta.status_counts)
    series.add_errors(delta.errors)
    series.add_latencies(latency_samples(delta.histogram))


@dataclass(frozen=True)
class LoadTask:
    """A run of the built-in engine on behalf of one canary."""

    payload: WebhookPayload
    spec: LoadSpec
    thresholds: Thresholds
    source: str
    background: bool
    type: str = "load"

    @property
    def key(self) -> str:
        return f"{self.payload.canary}/load {self.source}"

    @property
    def description(self) -> str:
        return self.source

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
            return TaskResult(False, self._failure("load test timed out"), outcome="timeout")
        except (LoadSpecError, RuntimeError) as exc:
            return TaskResult(False, self._failure(str(exc)))
        series.rate = result.achieved_rate
        fields = result.to_json()
        summary = result.summary_line()
        broken = self.thresholds.evaluate(result)
        if broken is None and not self.thresholds.any and result.total and (
                result.failed == result.total):
            broken = f"every request failed: {summary}"
        if broken is not None:
            return TaskResult(False, self._failure(broken), fields=fields)
        return TaskResult(True, answer="" if self.background else summary, fields=fields)

    def _failure(self, reason: str) -> str:
        return f"background task failed: {reason}" if self.background else reason


def load_task(payload: WebhookPayload, metadata: dict[str, str]) -> LoadTask:
    """`load`: a hey command line in `cmd`, or structured metadata (`url`, `rate`, ...)."""
    try:
        if metadata.get("cmd", "").strip():
            source = metadata["cmd"].strip()
            spec = LoadSpec.from_hey_command(source)
        elif metadata.get("url", "").strip():
            spec = LoadSpec.from_metadata(metadata)
            source = json.dumps({key: metadata[key] for key in _SPEC_KEYS if key in metadata},
                                sort_keys=True)
        else:
            raise BadRequest("url or cmd not found in metadata")
        thresholds = Thresholds.from_metadata(metadata)
    except LoadSpecError as exc:
        raise BadRequest(str(exc)) from None
    return LoadTask(payload, spec, thresholds, source, background=not flag(metadata, "wait"))
