"""What a compare run's result decides: the compare target unreachable (the run fails), or,
with a :class:`RegressionPolicy`, the verdict of verdict.py's statistics (canary vs primary)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loadtester.loadgen.results.compare import unreachable
from loadtester.loadgen.results.result import LoadResult
from loadtester.loadgen.results.verdict import RegressionPolicy, Verdict, judge

__all__ = ["Comparison", "compare_results"]


@dataclass(frozen=True)
class Comparison:
    """``unreachable``: why the compare target answered nothing (the run fails with it);
    ``verdict``: the policy's decision (None without a policy)."""

    unreachable: str | None = None
    verdict: Verdict | None = None

    @property
    def failure(self) -> str | None:
        """Why the comparison fails the run: the target unreachable, or the verdict's body
        (``canary p99 92ms vs primary 41ms (+124% > 20%), Mann-Whitney U p=...``)."""
        if self.unreachable is not None:
            return self.unreachable
        if self.verdict is not None and not self.verdict.passed:
            return self.verdict.message
        return None

    def add_to(self, document: dict[str, Any]) -> None:
        """Put the verdict in a result document's ``compare`` object (``verdict``)."""
        compare = document.get("compare")
        if isinstance(compare, dict) and self.verdict is not None:
            compare["verdict"] = self.verdict.to_json()


def compare_results(result: LoadResult, policy: RegressionPolicy | None) -> Comparison | None:
    """The comparison of a compare run's result (None: the run had one target). Without a
    policy the run only reports the differences."""
    if result.primary is None:
        return None
    gone = unreachable(result.primary)
    if gone is not None or policy is None:
        return Comparison(unreachable=gone)
    return Comparison(verdict=judge(result, result.primary, policy))
