#!/usr/bin/env python3
"""Scenario benchmark: a 3-request mix vs a single URL vs wrk + Lua, and stage accuracy.

    python bench/bench_scenario.py            # 10 s per saturation run, 3 runs each
    python bench/bench_scenario.py --quick    # 3 s per saturation run (under 2 minutes)

Starts nginx (Debian nginx-light) from a temporary directory on 127.0.0.1 with three
locations (`/` 200, `/api/items` 200 JSON, `/api/orders` 201 JSON) on two ports: one without
an access log for the saturation runs, one logging `$msec` (millisecond timestamps) for the
staged runs. With two CPUs or more, nginx runs one worker on CPU 0 and the saturating tools
run on CPU 1 (taskset; ours with `-workers 1`, wrk with one thread; `--no-pin` to not).
Prints one table: max req/s (median of --runs) of `loadtester load URL`, of
`loadtester load -f mix.yaml` (weights 80/15/5, a body check on POST /api/orders) and of
`wrk -s bench/wrk_mix.lua` (the same mix and check); the ratios mix/single and ours/wrk; and,
for staged runs peaking at 1 000 and 20 000 req/s (3 s up, 3 s at the peak, 3 s down), the
requests nginx logged in each stage over the stage's integral. Each figure is printed beside
its target; the exit code is 1 when one is missed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from common import REPO, free_port, parse_wrk, pinned, run_nginx, stop

from loadtester.durations import parse_go_duration

WRK_SCRIPT = REPO / "bench" / "wrk_mix.lua"
LOCATIONS = """
        location = / {{ return 200 "ok\\n"; }}
        location = /api/items {{ default_type application/json;
                                 return 200 '{{"items":[1,2,3]}}'; }}
        location = /api/orders {{ default_type application/json;
                                  return 201 '{{"status":"ok","id":42}}'; }}
"""
SERVERS = """
    server {{
        listen 127.0.0.1:{port};
{locations}
    }}
    server {{
        listen 127.0.0.1:{logged_port};
        access_log {dir}/access.log stamps buffer=256k flush=1s;
{locations}
    }}"""
MIX = (("home", "GET", "/", 80, None), ("items", "GET", "/api/items", 15, None),
       ("orders", "POST", "/api/orders", 5, {"status": [201], "body": '"status":"ok"'}))
ORDER_BODY = '{"item":1,"quantity":2}'


@dataclass(frozen=True)
class Stage:
    seconds: float
    start: float
    end: float

    @property
    def target(self) -> float:
        """Requests the stage should send: the integral of its rate."""
        return self.seconds * (self.start + self.end) / 2

    def __str__(self) -> str:
        rate = f"{self.start:g}" if self.start == self.end else f"{self.start:g}->{self.end:g}"
        return f"{self.seconds:g}s:{rate}"


def parse_stages(text: str) -> list[Stage]:
    """`3s:0->1000, 3s:1000, 3s:1000->0` (the scenario's own syntax)."""
    stages = []
    for part in text.split(","):
        duration, _, rates = part.strip().partition(":")
        start, _, end = rates.partition("->")
        stages.append(Stage(parse_go_duration(duration), float(start), float(end or start)))
    return stages


def scenario(base: str, stages: str | None = None) -> str:
    """The mix as scenario JSON (YAML is a superset), optionally with stages."""
    requests = []
    for name, method, path, weight, expect in MIX:
        request: dict[str, object] = {"name": name, "method": method, "url": base + path,
                                      "weight": weight}
        if method == "POST":
            request["headers"] = {"Content-Type": "application/json"}
            request["body"] = ORDER_BODY
        if expect:
            request["expect"] = expect
        requests.append(request)
    document: dict[str, object] = {"requests": requests}
    if stages:
        document["stages"] = stages
    return json.dumps(document, indent=2)


FAILED_RUNS: list[str] = []  # runs that failed and were tried again, reported under the table


def loadtester(*args: str, attempts: int = 3, cpus: str | None = None) -> dict[str, object]:
    """`loadtester load ... -o json` as a subprocess (on `cpus` when given); its JSON document.
    A failed run is tried again (at most `attempts` in all) and noted in FAILED_RUNS."""
    argv = pinned([sys.executable, "-m", "loadtester", "load", "-o", "json", *args], cpus)
    for _ in range(attempts):
        done = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=REPO)
        if done.returncode == 0:
            document: dict[str, object] = json.loads(done.stdout)
            return document
        FAILED_RUNS.append(f"loadtester load {' '.join(args)}: {done.stderr.strip()[-300:]}")
    raise RuntimeError(f"loadtester load failed {attempts} times: {FAILED_RUNS[-1]}")


def check_failures(document: dict[str, object]) -> int:
    failures = document.get("check_failures") or {}
    return sum(failures.values()) if isinstance(failures, dict) else 0


def run_wrk(base: str, seconds: int, connections: int,
            cpus: str | None = None) -> tuple[float, str]:
    threads = "1" if cpus else str(min(os.cpu_count() or 1, connections))
    argv = pinned(["wrk", "-t", threads, "-c", str(connections), "-d", f"{seconds}s",
                   "-s", str(WRK_SCRIPT), base], cpus)
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    _, rate = parse_wrk(done.stdout)
    mix = re.search(r"^mix .*$", done.stdout, re.MULTILINE)
    return rate, mix.group(0) if mix else "no mix line"


def saturation(base: str, mix_file: Path, seconds: int, connections: int, runs: int,
               cpus: str | None = None) -> tuple[dict[str, float], list[str]]:
    """Median max req/s of each tool over `runs` rounds (tools interleaved in each round);
    with `cpus`, every tool runs there, ours with one worker and wrk with one thread."""
    rates: dict[str, list[float]] = {"single": [], "mix": [], "wrk": []}
    notes: list[str] = []
    common = [*(["-workers", "1"] if cpus else []), "-z", f"{seconds}s", "-c", str(connections)]
    for _ in range(runs):
        single = loadtester(*common, base + "/", cpus=cpus)
        rates["single"].append(float(str(single["rate"])))
        mixed = loadtester("-f", str(mix_file), *common, cpus=cpus)
        rates["mix"].append(float(str(mixed["rate"])))
        if check_failures(mixed):
            notes.append(f"built-in mix: {check_failures(mixed)} check failures")
        rate, line = run_wrk(base, seconds, connections, cpus)
        rates["wrk"].append(rate)
        notes.append(f"wrk {line}")
    shares = mixed.get("by_request")
    if isinstance(shares, dict):
        counts = {name: doc.get("requests") for name, doc in shares.items()}
        notes.append(f"built-in mix, last run: {counts}")
    notes.append("rates per run: " + ", ".join(
        f"{tool} {' '.join(f'{r:,.0f}' for r in values)}" for tool, values in rates.items()))
    return {tool: statistics.median(values) for tool, values in rates.items()}, notes


def logged_times(log: Path, offset: int) -> list[float]:
    """`$msec` of each request nginx logged from byte `offset` of its access log."""
    with log.open("rb") as handle:
        handle.seek(offset)
        return sorted(float(line.split(b" ", 1)[0]) for line in handle if line.strip())


def start_estimate(times: list[float], first: Stage) -> float:
    """When the run started, in nginx's clock: in a ramp 0 -> R over T seconds request g
    (from 0) is due when the rate's integral reaches g, at sqrt(2Tg/R); the median over the
    middle half of the ramp of (logged - due)."""
    if first.start != 0 or first.end <= 0:
        return times[0]
    middle = range(int(first.target / 4), min(int(first.target * 3 / 4), len(times)))
    return statistics.median(times[g] - math.sqrt(2 * first.seconds * g / first.end)
                             for g in middle)


def staged_run(logged: str, log: Path, tmp: Path,
               stages_text: str) -> list[tuple[Stage, int, int | None]]:
    """Run the mix with stages against the logging port: for each stage, the requests nginx
    saw in it and those the engine says it sent in it (its result's `stages`, if given)."""
    stages = parse_stages(stages_text)
    path = tmp / f"staged-{abs(hash(stages_text))}.yaml"
    path.write_text(scenario(logged, stages_text))
    time.sleep(1.2)  # nginx flushes its log buffer every second
    offset = log.stat().st_size if log.exists() else 0
    result = loadtester("-f", str(path))
    reported = result.get("stages")
    sent = [int(s["sent"]) for s in reported] if isinstance(reported, list) else []
    time.sleep(1.5)
    times = logged_times(log, offset)
    if not times:
        raise RuntimeError("nginx logged no request of the staged run")
    begin = start_estimate(times, stages[0])
    counts: list[tuple[Stage, int, int | None]] = []
    for index, stage in enumerate(stages):
        end = begin + stage.seconds
        counts.append((stage, sum(1 for t in times if begin <= t < end),
                       sent[index] if index < len(sent) else None))
        begin = end
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s saturation runs, not 10 s")
    parser.add_argument("--seconds", type=int, help="seconds per saturation run")
    parser.add_argument("--runs", type=int, default=3, help="rounds; medians are reported")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--peaks", default="1000,20000", help="comma-separated req/s")
    parser.add_argument("--stage-seconds", type=int, default=3)
    parser.add_argument("--no-pin", action="store_true", help="no taskset, nginx workers auto")
    args = parser.parse_args()
    # nginx (one worker) on CPU 0, the saturating tools on CPU 1, as in bench_load.py
    pin = (os.cpu_count() or 1) >= 2 and not args.no_pin
    seconds = args.seconds or (3 if args.quick else 10)
    for tool in ("wrk", "/usr/sbin/nginx"):
        if shutil.which(tool) is None:
            print(f"bench_scenario: {tool} is not installed", file=sys.stderr)
            return 2
    rows: list[tuple[str, str, str, bool | None]] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-scenario-") as name:
        tmp = Path(name)
        port, logged_port = free_port(), free_port()
        servers = SERVERS.format(dir=tmp, port=port, logged_port=logged_port,
                                 locations=LOCATIONS.format())
        nginx = run_nginx(tmp, servers, (port, logged_port), "1" if pin else "auto",
                          "0" if pin else None)
        try:
            base, logged = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{logged_port}"
            mix_file = tmp / "mix.yaml"
            mix_file.write_text(scenario(base))
            medians, notes = saturation(base, mix_file, seconds, args.connections, args.runs,
                                        "1" if pin else None)
            for tool, label in (("single", "built-in, single URL"),
                                ("mix", "built-in, 3-request mix + body check"),
                                ("wrk", "wrk + Lua, same mix + body check")):
                rows.append((f"max req/s, {label}", f"{medians[tool]:,.0f}", "", None))
            ratio = medians["mix"] / medians["single"]
            rows.append(("max req/s, mix / single", f"{ratio:.2f}", ">= 0.95",
                         ratio >= 0.95))
            ratio = medians["mix"] / medians["wrk"]
            rows.append(("max req/s, mix: built-in / wrk", f"{ratio:.2f}", ">= 1.0",
                         ratio >= 1.0))
            step = args.stage_seconds
            for peak in (float(p) for p in args.peaks.split(",") if p.strip()):
                text = f"{step}s:0->{peak:g}, {step}s:{peak:g}, {step}s:{peak:g}->0"
                for stage, got, sent in staged_run(logged, tmp / "access.log", tmp, text):
                    ratio = got / stage.target
                    rows.append((f"stage {stage}: nginx saw / integral", f"{ratio:.4f}",
                                 "1 ± 0.01", abs(ratio - 1) <= 0.01))
                    if sent is not None:
                        rows.append((f"stage {stage}: engine sent / integral",
                                     f"{sent / stage.target:.4f}", "", None))
        finally:
            stop(nginx)
    placed = "nginx (1 worker) on CPU 0, tools on CPU 1" if pin else "unpinned"
    print(f"\nnginx, 3 locations, {args.connections} connections, {seconds} s per saturation "
          f"run, median of {args.runs}, {os.cpu_count()} CPUs, {placed}\n")
    width = max(len(r[0]) for r in rows)
    print(f"| {'figure':<{width}} | {'measured':>10} | {'target':<8} | ok  |")
    print(f"|{'-' * (width + 2)}|{'-' * 12}|{'-' * 10}|-----|")
    for figure, value, target, ok in rows:
        mark = "" if ok is None else ("yes" if ok else "NO")
        print(f"| {figure:<{width}} | {value:>10} | {target:<8} | {mark:<3} |")
    print()
    for note in notes:
        print(note)
    for failure in FAILED_RUNS:
        print(f"failed and run again: {failure}")
    return 1 if any(ok is False for *_, ok in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
