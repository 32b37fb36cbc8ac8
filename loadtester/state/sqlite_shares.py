"""Load runs over replicas on a store of one replica's own (SQLite, memory): refused.

The other replicas cannot see this store, so no run can be handed out through it; every
method but refusal() raises BadRequest with the reason (nothing calls them: a run asking for
replicas is refused with it first).
"""

from __future__ import annotations

from typing import NoReturn

from loadtester.errors import BadRequest
from loadtester.state.base import SharedRun, ShareReport


class LocalLoadShares:
    """LoadShares of a store no other replica shares."""

    def __init__(self, kind: str) -> None:
        self._kind = kind

    def refusal(self) -> str | None:
        return (f"replicas needs -state=redis://… (or redis+sentinel://, redis+cluster://) "
                f"shared by the replicas; this store ({self._kind}) is this replica's own")

    def _refuse(self) -> NoReturn:
        raise BadRequest(self.refusal() or "")

    async def heartbeat(self, replica: str, ttl: float) -> int:
        self._refuse()

    async def leave(self, replica: str) -> None:
        """Nothing was announced."""

    async def live(self) -> int:
        self._refuse()

    async def publish(self, run: SharedRun, replica: str) -> None:
        self._refuse()

    async def take(self, replica: str, cursor: str,
                   wait: float) -> tuple[str, list[tuple[SharedRun, int]]]:
        self._refuse()

    async def owners(self, run_id: str) -> dict[int, str]:
        self._refuse()

    async def report(self, run_id: str, report: ShareReport) -> bool:
        self._refuse()

    async def reports(self, run_id: str, cursor: str,
                      wait: float) -> tuple[str, list[ShareReport]]:
        self._refuse()

    async def stop(self, run_id: str) -> None:
        self._refuse()
