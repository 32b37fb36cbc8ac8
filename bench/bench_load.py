#!/usr/bin/env python3
"""Load generator benchmark: built-in engine vs wrk, hey and h2load against a local nginx.

    python bench/bench_load.py                          # 10 s per run, median of 5 rounds
    python bench/bench_load.py --quick                  # 3 s per run, median of 3 rounds
    python bench/bench_load.py --quick --only plain,tls12 --no-gate

Starts nginx (Debian nginx-light) from a temporary directory on 127.0.0.1 with one port per
row: `return 200` over plain HTTP/1.1, TLS 1.2, TLS 1.3 and HTTP/2 over TLS (a self-signed RSA
2048 certificate the bench makes), and bench_scenario.py's three locations. With two CPUs or
more, nginx runs one worker on CPU 0 and every generator on CPU 1 (taskset). Each row
alternates its tools round by round and prints the median req/s and CPU seconds per 100k
requests of each (user + system of the tool's process tree, from getrusage(RUSAGE_CHILDREN)
deltas) and the ratios of the medians beside their targets; then the achieved/target rate of
the built-in engine at fixed rates, and the p99 of POST /gate/check answered by the service
while the built-in generator saturates nginx (bench/README.md). The exit code is 1 when a
target is missed.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from alternate import Outcome, alternate
from common import REPO, free_port, make_certificate, nginx_requests, run_nginx, stop, wait_port
from load_rows import OPTIONAL, ROWS, Builder, Placement, Ports, Row, rows, with_baseline, write_mix

from loadtester.loadgen.input.spec import LoadSpec
from loadtester.loadgen.running.workers import run_load_sync

GATE_BODY = '{"name":"podinfo","namespace":"test"}'
EXTRA = ("rates", "gate")  # --only keys past the rows: fixed-rate accuracy and /gate/check
Figure = tuple[str, str, str, bool | None]  # name, measured, target, met (None: no target)


def figures(row: Row, outcomes: dict[str, Outcome]) -> list[Figure]:
    """Median req/s and CPU per 100k of each tool, then the row's ratios beside targets."""
    out: list[Figure] = []
    for name, outcome in outcomes.items():
        rate = outcome.rate
        out.append((f"{row.key}: req/s, {name}",
                    outcome.why_none() if rate is None else f"{rate:,.0f}", "", None))
    for name, outcome in outcomes.items():
        cpu = outcome.cpu_per_100k
        if cpu is not None:
            out.append((f"{row.key}: CPU s per 100k, {name}", f"{cpu:.2f}", "", None))
    for target in row.targets:
        ours, other = outcomes[target.ours], outcomes[target.other]
        pair = ((ours.rate, other.rate) if target.figure == "req/s"
                else (ours.cpu_per_100k, other.cpu_per_100k))
        bound = "" if target.bound is None else f"{target.op} {target.bound:g}"
        name = f"{row.key}: {target.figure}, {target.ours} / {target.other}"
        if pair[0] is None or pair[1] is None or not pair[1]:
            out.append((name, "n/a", bound, None))
            continue
        ratio = pair[0] / pair[1]
        out.append((name, f"{ratio:.2f}", bound, target.holds(ratio)))
    return out


def notes_of(row: Row, outcomes: dict[str, Outcome]) -> list[str]:
    """Each tool's req/s per round (the spread behind the median) and what failed."""
    notes = [f"{row.key} ({row.title}), req/s per round: " + "; ".join(
        f"{name} {' '.join(f'{r.rate:,.0f}' for r in o.runs) or o.why_none()}"
        for name, o in outcomes.items())]
    for target in row.targets:
        ours, other = outcomes[target.ours].runs, outcomes[target.other].runs
        if target.figure == "req/s" and ours and len(ours) == len(other):
            # neighbours in time share the machine's load more than the medians do
            ratios = " ".join(f"{a.rate / b.rate:.2f}" for a, b in zip(ours, other, strict=True))
            notes.append(f"{row.key}: {target.ours} / {target.other} per round: {ratios}")
    counted = [f"{name} {o.counted:.3f}" for name, o in outcomes.items() if o.counted]
    notes.append(f"{row.key}: requests the tool counted / nginx served: {'; '.join(counted)}")
    for name, outcome in outcomes.items():
        notes += [f"{row.key}: {name} failed: {error}" for error in outcome.errors]
        if outcome.runs and name.startswith("ours"):
            doc = json.loads(outcome.runs[-1].stdout)
            codes, errors = doc.get("status_codes") or {}, doc.get("errors")
            if errors or doc.get("check_failures") or set(codes) - {"200", "201"}:
                notes.append(f"{row.key}: {name}, last run: errors {errors}, status codes "
                             f"{codes}, check failures {doc.get('check_failures')}")
        last = outcome.runs[-1].stdout if outcome.runs else ""
        mix = next((line for line in last.splitlines() if line.startswith("mix checked")), None)
        if mix:
            notes.append(f"{row.key}: {name}, last run: {mix}")
    return notes


def scaling(results: dict[str, dict[str, Outcome]]) -> list[Figure]:
    """2 workers over 1 (and wrk -t2 over -t1) when both rows ran; informational."""
    one, two = results.get("plain"), results.get("workers2")
    if not one or not two:
        return []
    out: list[Figure] = []
    for single, double in ((next(iter(one)), "ours -workers 2"), ("wrk -t1", "wrk -t2")):
        a, b = one.get(single), two.get(double)
        if a and b and a.rate and b.rate:
            out.append((f"scaling: req/s, {double} / {single}", f"{b.rate / a.rate:.2f}", "",
                        None))
    return out


def rate_accuracy(url: str, rate: float, seconds: float, workers: int | None) -> tuple[float, str]:
    spec = LoadSpec(url=url, rate=rate, duration=seconds, concurrency=50)
    result = run_load_sync(spec, workers)
    return result.achieved_rate, result.summary_line()


def gate_check_p99_while_saturated(url: str, seconds: int, connections: int) -> float | None:
    """p99 (ms) of POST /gate/check on the service while `loadtester load` saturates nginx.

    Starts ``python -m loadtester -port=P -state=TMP``; returns None if it does not start.
    """
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-gate-") as tmp:
        log = (Path(tmp) / "service.log").open("wb")
        service = subprocess.Popen(
            [sys.executable, "-m", "loadtester", f"-port={port}", f"-state={tmp}/state",
             "-log-level=error"],
            cwd=REPO, stdout=log, stderr=log,
        )  # fmt: skip
        try:
            wait_port(port, 20)
            if post(port, "/gate/open")[0] >= 400:
                return None
            load = subprocess.Popen(
                [sys.executable, "-m", "loadtester.loadgen.cli", "-o", "json", "-z",
                 f"{seconds}s", "-c", str(connections), url],
                cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            time.sleep(1.0)  # let the workers start and saturate
            latencies: list[float] = []
            end = time.monotonic() + max(seconds - 2.0, 1.0)
            while time.monotonic() < end:
                begin = time.perf_counter()
                post(port, "/gate/check")
                latencies.append((time.perf_counter() - begin) * 1000)
            load.wait()
        except (OSError, RuntimeError):
            return None
        finally:
            stop(service)
            log.close()
    latencies.sort()
    return latencies[max(0, int(len(latencies) * 0.99) - 1)] if latencies else None


def post(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("POST", path, body=GATE_BODY, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()



def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s runs, 3 rounds")
    parser.add_argument("--seconds", type=int, help="seconds per saturation and rate run")
    parser.add_argument("--rounds", type=int, help="alternating rounds (default 5, 3 quick)")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--workers", type=int,
                        help="built-in worker processes (default: 1 when pinned, else per CPU)")
    parser.add_argument("--streams", type=int, default=10, help="HTTP/2 streams, h2 row")
    parser.add_argument("--only", default=",".join(ROWS + EXTRA),
                        help=f"comma-separated rows (default {','.join(ROWS + EXTRA)}; "
                        f"also {','.join(OPTIONAL)})")
    parser.add_argument("--no-pin", action="store_true", help="no taskset, nginx workers auto")
    parser.add_argument("--baseline", type=Path,
                        help="another checkout (git archive): its built-in runs beside ours")
    parser.add_argument("--rates", default="100,1000,10000", help="comma-separated req/s")
    parser.add_argument("--no-gate", action="store_true", help="skip the /gate/check row")
    args = parser.parse_args()
    seconds = args.seconds or (3 if args.quick else 10)
    rounds = args.rounds or (3 if args.quick else 5)
    only = [key.strip() for key in args.only.split(",") if key.strip()]
    if unknown := set(only) - set(ROWS + OPTIONAL + EXTRA):
        parser.error(f"--only: unknown {sorted(unknown)}; known: {ROWS + OPTIONAL + EXTRA}")
    where = Placement.of(os.cpu_count() or 1, not args.no_pin)
    needed = ["hey", "wrk", "/usr/sbin/nginx", "openssl"]
    needed += ["taskset"] if where.server else []
    needed += ["h2load"] if {"h2", "h2c"} & set(only) else []
    for tool in needed:
        if shutil.which(tool) is None:
            print(f"bench_load: {tool} is not installed", file=sys.stderr)
            return 2
    start_load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    table: list[Figure] = []
    notes: list[str] = []
    results: dict[str, dict[str, Outcome]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-nginx-") as name:
        tmp = Path(name)
        ports = Ports.free()
        servers = ports.servers(*make_certificate(tmp))
        nginx = run_nginx(tmp, servers, dataclasses.astuple(ports), where.nginx_workers,
                          where.server)
        url = f"http://127.0.0.1:{ports.plain}/"
        try:
            build = Builder(seconds, args.connections, where)
            mix_file = write_mix(tmp / "mix.yaml", ports.mix)
            for row in rows(only, ports, build, mix_file, args.workers, args.streams):
                row = with_baseline(row, args.baseline.resolve()) if args.baseline else row
                counter = functools.partial(nginx_requests, ports.status)
                results[row.key] = outcomes = alternate(row.tools, rounds, counter)
                table += figures(row, outcomes)
                notes += notes_of(row, outcomes)
            table += scaling(results)
            rates = args.rates.split(",") if "rates" in only else []
            for rate in (float(r) for r in rates if r.strip()):
                achieved, _ = rate_accuracy(url, rate, seconds, args.workers)
                ratio = achieved / rate
                table.append((f"achieved / target at {rate:,.0f} req/s for {seconds} s",
                              f"{ratio:.4f}", "1 ± 0.01", abs(ratio - 1) <= 0.01))  # fmt: skip
            if "gate" in only and not args.no_gate:
                p99 = gate_check_p99_while_saturated(url, seconds, args.connections)
                table.append(("/gate/check p99 while saturated (ms)",
                              "n/a (service did not start)" if p99 is None else f"{p99:.1f}",
                              "< 20", None if p99 is None else p99 < 20))  # fmt: skip
        finally:
            stop(nginx)
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nnginx, {args.connections} connections, {seconds} s per run, median of {rounds} "
          f"alternating rounds, {os.cpu_count()} CPUs: {where.describe()}; load average at "
          f"the start {start_load}, at the end {load} (other work on the CPUs moves every "
          f"figure)\n")
    width = max(len(r[0]) for r in table)
    value_width = max(10, *(len(r[1]) for r in table))
    print(f"| {'figure':<{width}} | {'measured':>{value_width}} | {'target':<8} | ok  |")
    print(f"|{'-' * (width + 2)}|{'-' * (value_width + 2)}|{'-' * 10}|-----|")
    for figure, value, target, ok in table:
        mark = "" if ok is None else ("yes" if ok else "NO")
        print(f"| {figure:<{width}} | {value:>{value_width}} | {target:<8} | {mark:<3} |")
    print()
    for note in notes:
        print(note)
    return 1 if any(ok is False for *_, ok in table) else 0


if __name__ == "__main__":
    sys.exit(main())
