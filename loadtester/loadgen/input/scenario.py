"""A scenario (YAML or JSON): weighted requests with response checks and their own
thresholds, and optional stages; compiled once into a :class:`Mix` (see mix.py) before any
worker starts.

```yaml
stages: "30s:0->100, 2m:100, 30s:100->0"      # or a list, see stages.parse_stages
requests:
  - name: home                                # the request's key in results and metrics
    url: http://podinfo-canary:9898/          # or a path, resolved against the run's url
    method: GET
    headers: {X-Client: loadtester}
    body: ''
    weight: 80                                # a whole number; sent in proportion
    expect: {status: [200], body: '"status":"ok"', maxLatency: 300ms}
    thresholds: {maxP99: 200ms, maxErrorRate: 1}
    compareUrl: /v2/                          # a compare run's primary URL (default: path)
```
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import reduce
from typing import Any
from urllib.parse import urljoin, urlsplit

import yaml

from loadtester.durations import format_duration
from loadtester.excerpt import cut, excerpt
from loadtester.goregexp import to_python
from loadtester.loadgen.errors import LoadSpecError
from loadtester.loadgen.input.boundedyaml import DocumentRefused, TooManyItems, load_bounded
from loadtester.loadgen.input.metadata import metadata_duration, thresholds_from_metadata
from loadtester.loadgen.input.mix import Endpoint, Mix, MixRequest, interleave
from loadtester.loadgen.input.spec import LoadSpec, encode_body
from loadtester.loadgen.input.stages import Profile, parse_stages
from loadtester.loadgen.results.thresholds import Thresholds

__all__ = ["MAX_REQUESTS", "MAX_SCENARIO_BYTES", "Scenario", "parse_scenario", "scenario_spec",
           "with_stages"]

MAX_REQUESTS = 100
MAX_SCENARIO_BYTES = 256 * 1024
# what reading a YAML scenario may build: 100 requests of 20 headers each is ~6 000 values;
# 20 000 take ~0.1 s, where a 256 KiB flow list of 130 000 would take 0.6 s
MAX_VALUES = 20_000
MAX_DEPTH = 16
MAX_PERIOD = 10_000  # sum of the weights over their common divisor
_REQUEST_KEYS = ("name", "method", "url", "headers", "body", "weight", "expect", "thresholds",
                 "compareUrl")
_EXPECT_KEYS = ("status", "body", "maxLatency")
_THRESHOLD_KEYS = ("maxErrorRate", "maxP50", "maxP95", "maxP99", "minRate")
# what a match on a prefix of the body cannot be trusted for: the end of the text, a word
# boundary at the cut, a lookahead past it
_NEEDS_WHOLE_BODY = re.compile(r"\$|\\[ZzbB]|\(\?[=!]")


@dataclass(frozen=True)
class RequestDoc:
    """A request as written in the scenario, checked but not built."""

    name: str
    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    weight: int
    status: frozenset[int] | None
    body_check: str | None
    max_latency: float | None
    thresholds: Thresholds | None
    compare_url: str | None = None  # a compare run: where the primary's request goes, as given


@dataclass(frozen=True)
class Scenario:
    """A parsed scenario document."""

    requests: tuple[RequestDoc, ...]
    stages: Profile | None


def parse_scenario(text: str, base_url: str | None = None) -> Scenario:
    """Read a scenario; a request URL that is a path is resolved against ``base_url``.

    At a bounded cost: at most 256 KiB of text, 100 requests, and YAML without anchors or
    aliases, of at most 20 000 values (see boundedyaml)."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_SCENARIO_BYTES:
        raise LoadSpecError(f"scenario is {size} bytes: at most {MAX_SCENARIO_BYTES} (256 KiB)")
    doc = _read_document(text)
    if not isinstance(doc, dict):
        raise LoadSpecError("scenario must be a mapping with requests (and optional stages)")
    _no_unknown(doc, ("stages", "requests"), "scenario")
    stages = parse_stages(doc["stages"], "scenario stages") if "stages" in doc else None
    items = doc.get("requests")
    if not isinstance(items, list) or not items:
        raise LoadSpecError("scenario requests must be a non-empty list")
    if len(items) > MAX_REQUESTS:
        raise LoadSpecError(f"scenario has {len(items)} requests: at most {MAX_REQUESTS}")
    requests = tuple(_request(item, f"scenario requests[{k}]", base_url)
                     for k, item in enumerate(items))
    seen: set[str] = set()
    for k, request in enumerate(requests):
        if request.name in seen:
            raise LoadSpecError(f"scenario requests[{k}]: {excerpt(request.name)} names two "
                                "requests;"
                                " give each a distinct name")
        seen.add(request.name)
    _period([r.weight for r in requests])
    return Scenario(requests, stages)


def _read_document(text: str) -> Any:
    """The scenario's JSON or YAML document; LoadSpecError saying why it cannot be read."""
    try:
        if text.lstrip().startswith("{"):
            return json.loads(text)
        return load_bounded(text, max_nodes=MAX_VALUES, max_depth=MAX_DEPTH,
                            max_items={"requests": MAX_REQUESTS})
    except json.JSONDecodeError as exc:
        raise LoadSpecError(f"scenario is not valid JSON: {exc}") from None
    except RecursionError:
        raise LoadSpecError("scenario is nested too deeply") from None
    except TooManyItems:
        raise LoadSpecError(f"scenario has more than {MAX_REQUESTS} requests: at most "
                            f"{MAX_REQUESTS}") from None
    except DocumentRefused as exc:
        raise LoadSpecError(f"scenario: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "cannot be read"
        # libyaml's and PyYAML's problems quote what they stumbled on
        raise LoadSpecError(f"scenario is not valid YAML or JSON: {cut(problem)}{where}") \
            from None


def with_stages(spec: LoadSpec, profile: Profile) -> LoadSpec:
    """``spec`` with its rate and duration set by ``profile``."""
    if spec.rate > 0:
        raise LoadSpecError("a rate and stages are both given: the stages set the rate")
    if spec.duration is not None:
        raise LoadSpecError("a duration and stages are both given: the stages set the duration")
    return dataclasses.replace(spec, stages=profile, rate=profile.peak,
                               duration=profile.duration, requests=None)


def scenario_spec(scenario: Scenario, base: LoadSpec) -> LoadSpec:
    """The run of ``scenario`` with the run-wide options of ``base`` (concurrency, rate,
    duration or requests, timeout, keep-alive, compression); its stages, if any, apply. With
    ``base.compare`` (a compare run) the primary's mix is compiled too: each request's path
    and query on the compare base URL, or the request's own ``compareUrl``."""
    mix = _compile_mix(scenario.requests, base)
    compare_mix = None
    if base.compare is not None:
        compare_mix = _compile_mix(_rebased(scenario.requests, base.compare), base)
    else:
        for k, doc in enumerate(scenario.requests):
            if doc.compare_url is not None:
                raise LoadSpecError(f"scenario requests[{k}]: compareUrl needs compare (the "
                                    "primary's base URL)")
    first = scenario.requests[0]
    spec = dataclasses.replace(base, url=first.url, method=first.method, headers=(), body=b"",
                               host=None, content_type=None, mix=mix, compare_mix=compare_mix)
    return with_stages(spec, scenario.stages) if scenario.stages is not None else spec


def _rebased(docs: tuple[RequestDoc, ...], compare: str) -> tuple[RequestDoc, ...]:
    """The requests as the primary gets them: at ``compareUrl`` (a path resolved against
    ``compare``), else at their own path and query on ``compare``'s scheme and host."""
    rebased = []
    for k, doc in enumerate(docs):
        if doc.compare_url is not None:
            url = urljoin(compare, doc.compare_url)
        else:
            own = urlsplit(doc.url)
            url = urlsplit(compare)._replace(path=own.path or "/", query=own.query).geturl()
        try:
            LoadSpec(url=url)
        except LoadSpecError as exc:
            raise LoadSpecError(f"scenario requests[{k}] compareUrl: {exc}") from None
        rebased.append(dataclasses.replace(doc, url=url))
    return tuple(rebased)


def _compile_mix(docs: tuple[RequestDoc, ...], base: LoadSpec) -> Mix:
    """The requests built once, their endpoints and their order."""
    endpoints: list[Endpoint] = []
    built: list[MixRequest] = []
    for doc in docs:
        # an answer checked for its body comes uncompressed: the check reads the text
        one = LoadSpec(url=doc.url, method=doc.method, headers=doc.headers, body=doc.body,
                       disable_keepalive=base.disable_keepalive, user_agent=base.user_agent,
                       disable_compression=base.disable_compression or doc.body_check is not None)
        endpoint = _endpoint(one)
        if endpoint not in endpoints:
            endpoints.append(endpoint)
        built.append(_compile(doc, one.request_bytes(), endpoints.index(endpoint)))
    order = interleave([r.weight for r in built])
    return Mix(tuple(built), tuple(endpoints), bytes(order))


def _period(weights: list[int]) -> None:
    period = sum(weights) // reduce(math.gcd, weights)
    if period > MAX_PERIOD:
        raise LoadSpecError(f"scenario weights add up to {period} after dividing by their "
                            f"common divisor: at most {MAX_PERIOD}, use smaller weights")


def _endpoint(spec: LoadSpec) -> Endpoint:
    host, port = spec.address()
    name = None
    if spec.is_https:
        given = next((v for k, v in spec.headers if k.lower() == "host"), None)
        name = (urlsplit(f"//{given}").hostname if given else None) or host
    return Endpoint(host, port, spec.is_https, name)


def _compile(doc: RequestDoc, data: bytes, endpoint: int) -> MixRequest:
    checks: list[tuple[str, str]] = []
    if doc.status is not None:
        codes = ", ".join(str(c) for c in sorted(doc.status))
        checks.append(("status", f"check status [{codes}] failed"))
    pattern = None
    if doc.body_check is not None:
        pattern = re.compile(to_python(doc.body_check).encode())
        checks.append(("body", f"check body /{doc.body_check}/ failed"))
    if doc.max_latency is not None:
        checks.append(("maxLatency", f"check maxLatency {format_duration(doc.max_latency)} "
                                     "failed"))
    return MixRequest(
        name=doc.name, url=doc.url, method=doc.method, data=data, endpoint=endpoint,
        weight=doc.weight, status=doc.status, body=pattern,
        early=pattern is not None and not _NEEDS_WHOLE_BODY.search(pattern.pattern.decode()),
        max_latency_us=int(doc.max_latency * 1e6) if doc.max_latency is not None else 0,
        checks=tuple(checks), thresholds=doc.thresholds,
    )


def _request(item: Any, where: str, base_url: str | None) -> RequestDoc:
    if not isinstance(item, dict):
        raise LoadSpecError(f"{where} must be a mapping with at least a url")
    _no_unknown(item, _REQUEST_KEYS, where)
    url = _text(item.get("url", ""), f"{where} url").strip()
    if not url:
        raise LoadSpecError(f"{where}: url is required")
    if not urlsplit(url).scheme:
        if not base_url:
            raise LoadSpecError(f"{where}: url {excerpt(url)} is a path and no url is given to "
                                "resolve it against")
        url = urljoin(base_url, url)
    method = _text(item.get("method", "GET"), f"{where} method").strip().upper() or "GET"
    headers = item.get("headers") or {}
    if not isinstance(headers, dict):
        raise LoadSpecError(f"{where} headers must be a mapping of header name to value")
    pairs = tuple((str(k), _text(v, f"{where} header {cut(str(k))}")) for k, v in headers.items())
    body = encode_body(_text(item.get("body", ""), f"{where} body"), f"{where} body")
    weight = item.get("weight", 1)
    if isinstance(weight, bool) or not isinstance(weight, int) or not 1 <= weight <= 1_000_000:
        raise LoadSpecError(f"{where}: weight must be a whole number from 1 to 1000000, got "
                            f"{excerpt(weight)}")
    try:  # the checks LoadSpec makes of a URL, method and headers
        LoadSpec(url=url, method=method, headers=pairs, body=body)
    except LoadSpecError as exc:
        raise LoadSpecError(f"{where}: {exc}") from None
    name = item.get("name")
    if name is None:
        name = f"{method} {urlsplit(url).path or '/'}"
    name = _text(name, f"{where} name").strip()
    if not name:
        raise LoadSpecError(f"{where}: name must not be empty")
    status, body_check, max_latency = _expect(item.get("expect"), f"{where} expect")
    compare_url = None
    if "compareUrl" in item:
        compare_url = _text(item["compareUrl"], f"{where} compareUrl").strip()
        if not compare_url:
            raise LoadSpecError(f"{where}: compareUrl must not be empty")
    return RequestDoc(name, method, url, pairs, body, weight, status, body_check, max_latency,
                      _thresholds(item.get("thresholds"), f"{where} thresholds"), compare_url)


def _expect(value: Any, where: str) -> tuple[frozenset[int] | None, str | None, float | None]:
    if value is None:
        return None, None, None
    if not isinstance(value, dict):
        raise LoadSpecError(f"{where} must be a mapping (status, body, maxLatency)")
    _no_unknown(value, _EXPECT_KEYS, where)
    status = None
    if "status" in value:
        codes = value["status"] if isinstance(value["status"], list) else [value["status"]]
        if not codes or not all(isinstance(c, int) and not isinstance(c, bool)
                                and 100 <= c <= 999 for c in codes):
            raise LoadSpecError(f"{where} status must be a list of HTTP status codes, got "
                                f"{excerpt(value['status'])}")
        status = frozenset(codes)
    body = None
    if "body" in value:
        body = _text(value["body"], f"{where} body")
        try:
            re.compile(to_python(body).encode())
        except re.error as exc:
            raise LoadSpecError(f"{where} body: invalid regexp {excerpt(body)}: {exc}") from None
    max_latency = None
    if "maxLatency" in value:
        try:
            max_latency = metadata_duration({"maxLatency": str(value["maxLatency"])},
                                            "maxLatency", None, bare_unit=0.001)
        except LoadSpecError as exc:
            raise LoadSpecError(f"{where} {str(exc).removeprefix('metadata ')}") from None
    return status, body, max_latency


def _thresholds(value: Any, where: str) -> Thresholds | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise LoadSpecError(f"{where} must be a mapping ({', '.join(_THRESHOLD_KEYS)})")
    _no_unknown(value, _THRESHOLD_KEYS, where)
    try:
        limits = thresholds_from_metadata({str(k): str(v) for k, v in value.items()})
    except LoadSpecError as exc:
        raise LoadSpecError(f"{where}: {str(exc).removeprefix('metadata ')}") from None
    return limits if limits.any else None


def _no_unknown(doc: Mapping[Any, Any], known: tuple[str, ...], where: str) -> None:
    for key in doc:
        if key not in known:
            raise LoadSpecError(f"{where}: unknown key {excerpt(str(key))} "
                                f"(known: {', '.join(known)})")


def _text(value: Any, what: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None or isinstance(value, list | dict):
        raise LoadSpecError(f"{what} must be a string, got {excerpt(value)}")
    return str(value)
