"""The rows of bench_load.py: one nginx serving every row on its own port, where each process
runs (taskset), and per row the tools it alternates and the ratios it holds to a target.

Rows: plain (HTTP/1.1, one worker vs `wrk -t1`, and hey), workers2 (two workers vs `wrk -t2`),
tls12 and tls13 (nginx `ssl` with one protocol each, RSA 2048), h2 (nginx `ssl http2`: ours
`-h2 -streams S` vs h2load, ours `-h2` vs `hey -h2`), mix (bench_scenario's 3-request mix with
a body check vs the single URL vs wrk + Lua); on request only, h2c (HTTP/2 without TLS, ours
`-h2c -streams S` vs h2load).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from alternate import Tool
from bench_scenario import LOCATIONS, WRK_SCRIPT, scenario
from common import free_port, parse_h2load, parse_wrk, pinned

from loadtester.loadgen.tools.hey import parse_hey_output

ROWS = ("plain", "workers2", "tls12", "tls13", "h2", "mix")
OPTIONAL = ("h2c",)  # rows run only when named in --only
NO_H2 = {"unsupported hey flag -h2": "n/a (loadtester load has no -h2)",
         "unsupported hey flag -streams": "n/a (loadtester load has no -streams)"}
_TLS = """
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols {protocols};"""
SERVERS = """
    server {{
        listen 127.0.0.1:{plain};
        location / {{ return 200; }}
    }}
    server {{
        listen 127.0.0.1:{tls12} ssl;{tls12_conf}
        location / {{ return 200; }}
    }}
    server {{
        listen 127.0.0.1:{tls13} ssl;{tls13_conf}
        location / {{ return 200; }}
    }}
    server {{
        listen 127.0.0.1:{h2} ssl http2;{h2_conf}
        location / {{ return 200; }}
    }}
    server {{
        listen 127.0.0.1:{h2c} http2;
        location / {{ return 200; }}
    }}
    server {{
        listen 127.0.0.1:{mix};
{locations}
    }}
    server {{
        listen 127.0.0.1:{status};
        location / {{ stub_status; }}
    }}"""


@dataclass(frozen=True)
class Placement:
    """CPUs (taskset lists) of nginx, of a one-worker generator and of a two-worker one; None
    leaves a process wherever the kernel puts it."""

    server: str | None
    tool: str | None
    pair: str | None
    nginx_workers: str

    @staticmethod
    def of(cpus: int, pin: bool) -> Placement:
        """nginx (one worker) on CPU 0 and generators on CPU 1 when there are two CPUs or more.
        Two generator workers get CPUs 1-2 when there are three; on two CPUs they run unpinned
        (both CPUs, sharing CPU 0 with nginx): on CPU 1 alone they would time-share one core
        and show nothing about scaling."""
        if not pin or cpus < 2:
            return Placement(None, None, None, "auto")
        return Placement("0", "1", "1,2" if cpus >= 3 else None, "1")

    def describe(self) -> str:
        if self.server is None:
            return "unpinned, nginx worker_processes auto"
        pair = f"CPUs {self.pair}" if self.pair else "unpinned (both CPUs)"
        return (f"nginx (1 worker) on CPU {self.server}, generators on CPU {self.tool}, "
                f"2-worker generators {pair}")


@dataclass(frozen=True)
class Target:
    """A ratio of two tools' medians (req/s, or CPU s per 100k) against a bound."""

    figure: str  # "req/s" or "CPU"
    ours: str
    other: str
    op: str  # ">=" or "<="
    bound: float | None  # None: printed without a target

    def holds(self, ratio: float) -> bool | None:
        if self.bound is None:
            return None
        return ratio >= self.bound if self.op == ">=" else ratio <= self.bound


@dataclass(frozen=True)
class Row:
    key: str
    title: str
    tools: list[Tool]
    targets: list[Target]


@dataclass(frozen=True)
class Ports:
    plain: int
    tls12: int
    tls13: int
    h2: int
    h2c: int
    mix: int
    status: int  # stub_status: what nginx served, to check each tool's own count

    @staticmethod
    def free() -> Ports:
        return Ports(*(free_port() for _ in range(7)))

    def servers(self, cert: Path, key: Path) -> str:
        def tls(protocols: str) -> str:
            return _TLS.format(cert=cert, key=key, protocols=protocols)

        return SERVERS.format(plain=self.plain, tls12=self.tls12, tls13=self.tls13, h2=self.h2,
                              h2c=self.h2c, mix=self.mix, status=self.status,
                              tls12_conf=tls("TLSv1.2"),
                              tls13_conf=tls("TLSv1.3"), h2_conf=tls("TLSv1.2 TLSv1.3"),
                              locations=LOCATIONS.format())


def parse_ours(out: str) -> tuple[int, float]:
    doc = json.loads(out)
    return int(doc["requests"]), float(doc["rate"])


def parse_hey(out: str) -> tuple[int, float]:
    report = parse_hey_output(out)
    return report.total, report.achieved_rate


@dataclass(frozen=True)
class Builder:
    """Argv of each tool for a run of `seconds` at `connections`, placed by `where`."""

    seconds: int
    connections: int
    where: Placement

    def ours(self, url: str, workers: int | None, *extra: str, cpus: str | None) -> list[str]:
        argv = [sys.executable, "-m", "loadtester.loadgen.cli", "-o", "json"]
        if workers:
            argv += ["-workers", str(workers)]
        return pinned([*argv, *extra, "-z", f"{self.seconds}s", "-c", str(self.connections),
                       *([url] if url else [])], cpus)  # fmt: skip

    def wrk(self, url: str, threads: int, *extra: str, cpus: str | None) -> list[str]:
        return pinned(["wrk", "-t", str(threads), "-c", str(self.connections),
                       "-d", f"{self.seconds}s", *extra, url], cpus)  # fmt: skip

    def hey(self, url: str, *extra: str) -> list[str]:
        return pinned(["hey", *extra, "-z", f"{self.seconds}s", "-c", str(self.connections),
                       url], self.where.tool)  # fmt: skip

    def h2load(self, url: str, streams: int) -> list[str]:
        return pinned(["h2load", "-t", "1", "-c", str(self.connections), "-m", str(streams),
                       "-D", str(self.seconds), url], self.where.tool)  # fmt: skip


def with_baseline(row: Row, baseline: Path) -> Row:
    """The row with a copy of each of our tools run from another checkout, right after it,
    and the ratio of the two (this checkout over the baseline), for an A/B in one run."""
    tools: list[Tool] = []
    targets = list(row.targets)
    for tool in row.tools:
        tools.append(tool)
        if tool.name.startswith("ours"):
            old = f"{tool.name} (baseline)"
            tools.append(replace(tool, name=old, cwd=baseline, refused={
                **tool.refused, "unsupported hey flag": "n/a (baseline refuses a flag)"}))
            targets += [Target("req/s", tool.name, old, ">=", None),
                        Target("CPU", tool.name, old, "<=", None)]
    return replace(row, tools=tools, targets=targets)


def rows(keys: list[str], ports: Ports, build: Builder, mix_file: Path, workers: int | None,
         streams: int) -> list[Row]:
    """The rows named in `keys`, in ROWS order."""
    one = build.where.tool
    # unpinned (one CPU, or --no-pin): the engine's own default and a wrk thread per CPU
    workers = workers or (1 if one else None)
    threads = 1 if one else min(build.connections, os.cpu_count() or 1)
    ours_name = f"ours -workers {workers}" if workers else "ours"
    plain, mix_base = f"http://127.0.0.1:{ports.plain}/", f"http://127.0.0.1:{ports.mix}"
    made: dict[str, Row] = {}

    def http11(key: str, title: str, url: str, bound: float, cpu: float | None) -> Row:
        tools = [Tool(ours_name, build.ours(url, workers, cpus=one), parse_ours),
                 Tool(f"wrk -t{threads}", build.wrk(url, threads, cpus=one), parse_wrk),
                 Tool("hey", build.hey(url), parse_hey)]
        targets = [Target("req/s", ours_name, f"wrk -t{threads}", ">=", bound),
                   Target("CPU", ours_name, f"wrk -t{threads}", "<=", cpu),
                   Target("req/s", ours_name, "hey", ">=", 2.0 if key == "plain" else None),
                   Target("CPU", ours_name, "hey", "<=", 0.5 if key == "plain" else None)]
        return Row(key, title, tools, targets)

    made["plain"] = http11("plain", "plain HTTP/1.1", plain, 1.0, 1.1)
    pair = build.where.pair
    made["workers2"] = Row("workers2", "plain HTTP/1.1, 2 workers vs wrk -t2", [
        Tool("ours -workers 2", build.ours(plain, 2, cpus=pair), parse_ours),
        Tool("wrk -t2", build.wrk(plain, 2, cpus=pair), parse_wrk),
    ], [Target("req/s", "ours -workers 2", "wrk -t2", ">=", 1.0),
        Target("CPU", "ours -workers 2", "wrk -t2", "<=", None)])
    for key, port in (("tls12", ports.tls12), ("tls13", ports.tls13)):
        title = f"HTTPS TLS 1.{key[-1]}, RSA 2048"
        made[key] = http11(key, title, f"https://127.0.0.1:{port}/", 0.7, None)
    h2 = f"https://127.0.0.1:{ports.h2}/"
    ours_s, ours_1 = f"ours -h2 -streams {streams}", "ours -h2"
    made["h2"] = Row("h2", f"HTTP/2 over TLS, {streams} streams per connection for h2load", [
        Tool(ours_s, build.ours(h2, workers, "-h2", "-streams", str(streams), cpus=one),
             parse_ours, NO_H2),
        Tool(f"h2load -m {streams}", build.h2load(h2, streams), parse_h2load),
        Tool(ours_1, build.ours(h2, workers, "-h2", cpus=one), parse_ours, NO_H2),
        Tool("hey -h2", build.hey(h2, "-h2"), parse_hey),
    ], [Target("req/s", ours_s, f"h2load -m {streams}", ">=", 0.5),
        Target("req/s", ours_1, "hey -h2", ">=", 1.0),
        Target("CPU", ours_s, f"h2load -m {streams}", "<=", None)])
    h2c = f"http://127.0.0.1:{ports.h2c}/"
    ours_c = f"ours -h2c -streams {streams}"
    made["h2c"] = Row("h2c", f"HTTP/2 cleartext (prior knowledge), {streams} streams", [
        Tool(ours_c, build.ours(h2c, workers, "-h2c", "-streams", str(streams), cpus=one),
             parse_ours, {"unsupported hey flag -h2c": "n/a (loadtester load has no -h2c)",
                          **NO_H2}),
        Tool(f"h2load -m {streams}", build.h2load(h2c, streams), parse_h2load),
    ], [Target("req/s", ours_c, f"h2load -m {streams}", ">=", None),
        Target("CPU", ours_c, f"h2load -m {streams}", "<=", None)])
    made["mix"] = Row("mix", "3-request mix with a body check (bench_scenario.py's)", [
        Tool("ours single URL", build.ours(mix_base + "/", workers, cpus=one), parse_ours),
        Tool("ours mix", build.ours("", workers, "-f", str(mix_file), cpus=one), parse_ours),
        Tool("wrk + Lua", build.wrk(mix_base, threads, "-s", str(WRK_SCRIPT), cpus=one),
             parse_wrk),
    ], [Target("req/s", "ours mix", "ours single URL", ">=", 0.95),
        Target("req/s", "ours mix", "wrk + Lua", ">=", 1.0),
        Target("CPU", "ours mix", "wrk + Lua", "<=", None)])
    return [made[key] for key in ROWS + OPTIONAL if key in keys]


def write_mix(path: Path, port: int) -> Path:
    path.write_text(scenario(f"http://127.0.0.1:{port}"))
    return path
