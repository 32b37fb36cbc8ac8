#!/usr/bin/env python3
"""The figures of the fuzz run: payloads tried, answers by status code,
tracebacks, per fuzz test and in total.

    python bench/fuzz_report.py

Runs tests/server/test_fuzz.py (the same strategies, the same fixed seed, the real app in-process)
with its output shown, reads the line each test prints (`fuzz NAME: N payloads, statuses {...},
tracebacks T`) and prints a table. The exit code is pytest's.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LINE = re.compile(r"fuzz (\w+): (\d+) payloads, statuses (\{.*?\}), tracebacks (\d+)")


def main() -> int:
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-s",
         "tests/server/test_fuzz.py"],
        cwd=REPO, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    rows: list[tuple[str, int, Counter[int], int]] = []
    for line in run.stdout.splitlines():
        match = LINE.search(line)
        if match:
            name, count, statuses, tracebacks = match.groups()
            rows.append((name, int(count), Counter(ast.literal_eval(statuses)), int(tracebacks)))
    if not rows:
        print(run.stdout[-3000:], run.stderr[-3000:])
        return run.returncode or 1
    codes = sorted(set().union(*(row[2] for row in rows)))
    header = f"{'fuzz test':<22} {'payloads':>8} " + " ".join(f"{c:>6}" for c in codes)
    print(header + f" {'tracebacks':>10}")
    total: Counter[int] = Counter()
    for name, count, statuses, tracebacks in rows:
        total.update(statuses)
        print(f"{name:<22} {count:>8} " + " ".join(f"{statuses[c]:>6}" for c in codes)
              + f" {tracebacks:>10}")
    print(f"{'total':<22} {sum(r[1] for r in rows):>8} "
          + " ".join(f"{total[c]:>6}" for c in codes)
          + f" {sum(r[3] for r in rows):>10}")
    print(f"\npytest exit {run.returncode} in {elapsed:.0f} s; every 500 is a task that ran and "
          "failed (its body checked by the tests), every 5xx else would fail them")
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
