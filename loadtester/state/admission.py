"""The per-day budget of new canaries (-max-canaries): which canaries each caller named today.

A caller is an account: the token's name (or its position in the token file), or one global
account without -token-file. Days are UTC days; a day's list is forgotten the day after next.
"""

from __future__ import annotations

from typing import Protocol

DAY_SECONDS = 86_400
GLOBAL_ACCOUNT = "*"  # every caller, when no -token-file names them


def day_of(at: float) -> int:
    """The UTC day (days since the epoch) of a time.time()."""
    return int(at // DAY_SECONDS)


class CanaryAdmission(Protocol):
    """Distinct canaries named per account and day, admitted up to a limit."""

    async def admit(self, account: str, name: str, namespace: str, day: int,
                    limit: int) -> bool:
        """True when `account` named this canary on `day` already, or named fewer than
        `limit` canaries that day (the canary is then counted); False otherwise. Atomic: two
        replicas cannot both admit the last place."""
        ...

    async def prune(self, day: int) -> None:
        """Forget the lists of days before `day` - 1."""
        ...
