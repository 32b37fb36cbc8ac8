"""Saturation runs of several tools, alternated round by round, and their medians.

One round runs every tool once, one after the other (ours, wrk, hey, ...), so a slow spell of
a shared machine falls on every tool alike; a figure is the median over the rounds. A tool's
CPU time is the getrusage(RUSAGE_CHILDREN) delta around its run: its whole process tree once
reaped (taskset execs the tool, and the built-in engine's parent reaps its workers).
"""

from __future__ import annotations

import resource
import statistics
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from common import REPO

Parse = Callable[[str], tuple[int, float]]
Counter = Callable[[], int]  # the server's own count of requests served so far


@dataclass(frozen=True)
class Run:
    """One saturation run of one tool."""

    requests: int
    rate: float
    cpu: float  # user + system seconds of the tool's whole process tree
    served: int | None = None  # requests the server counted during the run
    stdout: str = ""

    @property
    def cpu_per_100k(self) -> float:
        return self.cpu / self.requests * 100_000 if self.requests else float("nan")


@dataclass(frozen=True)
class Tool:
    """One column of a row: a name, the argv of one run and the parser of its output.
    `refused` maps a phrase of a failed run's stderr to the reason printed instead of a figure
    (a flag this version of the tool does not know), and ends that tool's rounds."""

    name: str
    argv: list[str]
    parse: Parse
    refused: dict[str, str] = field(default_factory=dict)
    cwd: Path = REPO  # `python -m loadtester...` imports the checkout it runs in


@dataclass
class Outcome:
    """A tool's runs over the rounds, and why it has none (or fewer) when it failed."""

    runs: list[Run] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    refused: str | None = None

    @property
    def rate(self) -> float | None:
        return statistics.median(r.rate for r in self.runs) if self.runs else None

    @property
    def cpu_per_100k(self) -> float | None:
        return statistics.median(r.cpu_per_100k for r in self.runs) if self.runs else None

    @property
    def counted(self) -> float | None:
        """Median of the tool's count over the server's (requests in flight at the end are
        served but not counted by most tools: slightly under 1 is expected)."""
        shares = [r.requests / r.served for r in self.runs if r.served]
        return statistics.median(shares) if shares else None

    def why_none(self) -> str:
        return self.refused or (self.errors[-1] if self.errors else "not run")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(tool: Tool, counter: Counter | None = None) -> Run:
    """Run the tool to completion; RuntimeError with the tail of stderr when it fails."""
    served = counter() if counter else 0
    before = children_cpu()
    done = subprocess.run(tool.argv, capture_output=True, text=True, check=False, cwd=tool.cwd)
    cpu = children_cpu() - before
    if done.returncode != 0:
        raise RuntimeError(f"exit {done.returncode}: {done.stderr.strip()[-300:]}")
    requests, rate = tool.parse(done.stdout)
    # the counter's own request is counted too
    served = counter() - served - 1 if counter else 0
    return Run(requests, rate, cpu, served or None, done.stdout)


def alternate(tools: list[Tool], rounds: int, counter: Counter | None = None
              ) -> dict[str, Outcome]:
    """Each tool once per round, in the given order, for `rounds` rounds."""
    outcomes = {tool.name: Outcome() for tool in tools}
    for _ in range(rounds):
        for tool in tools:
            outcome = outcomes[tool.name]
            if outcome.refused:
                continue
            try:
                outcome.runs.append(measure(tool, counter))
            except RuntimeError as exc:
                reason = next((why for phrase, why in tool.refused.items()
                               if phrase in str(exc)), None)  # fmt: skip
                if reason:
                    outcome.refused = reason
                else:
                    outcome.errors.append(str(exc))
    return outcomes
