"""Load runs spread over the replicas, through Redis: a stream announces each run, a Lua
script hands out its shares (at most one per replica), a stream per run carries the shares'
reports back. Keys, under the prefix:

    replicas                 live replicas (sorted set), each scored by when it lapses
    loadruns                 the announcements (stream: run id and start), the last 1000
    loadrun:<id>             the run (JSON: SharedRun), expiring at its deadline
    loadrun:<id>:claims      n, the last share handed out, and who holds each (hash)
    loadrun:<id>:reports     the shares' progress, ends and failures (stream)
    loadrun:<id>:stop        set when the receiving replica stopped waiting

Blocking reads wait at most READ_BLOCK, within the client's socket timeout.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict
from typing import Any

import redis.asyncio

from loadtester.state.base import SharedRun, ShareReport
from loadtester.state.redis import answers_or_unavailable

READ_BLOCK = 0.25  # s: under the client's 0.4 s socket timeout
_KEEP_ANNOUNCEMENTS = 1000
_KEEP_REPORTS = 600  # s after a share's last report (the run's keys go at its deadline)

# KEYS: the run's claims, the run; ARGV: the replica. A share for a replica holding none yet.
_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('EXISTS', KEYS[2]) == 0 then
  return false
end
for _, holder in ipairs(redis.call('HVALS', KEYS[1])) do
  if holder == ARGV[1] then return false end
end
local share = redis.call('HINCRBY', KEYS[1], 'next', 1)
if share >= tonumber(redis.call('HGET', KEYS[1], 'n')) then return false end
redis.call('HSET', KEYS[1], tostring(share), ARGV[1])
return {share, redis.call('GET', KEYS[2])}
"""


def _block(wait: float) -> int | None:
    """XREAD's BLOCK in ms (None: do not wait; 0 would wait for ever)."""
    return max(1, int(min(wait, READ_BLOCK) * 1000)) if wait > 0 else None


class RedisLoadShares:
    """LoadShares in Redis; every method raises StoreUnavailable when Redis is away."""

    def __init__(self, client: redis.asyncio.Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix
        self._claim = client.register_script(_CLAIM)

    def _key(self, run_id: str, part: str = "") -> str:
        return f"{self._prefix}loadrun:{run_id}{part}"

    def refusal(self) -> str | None:
        return None

    @answers_or_unavailable
    async def heartbeat(self, replica: str, ttl: float) -> int:
        now = time.time()
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zadd(f"{self._prefix}replicas", {replica: now + ttl})
            pipe.zremrangebyscore(f"{self._prefix}replicas", "-inf", f"({now}")
            pipe.zcard(f"{self._prefix}replicas")
            *_, live = await pipe.execute()
        return int(live)

    @answers_or_unavailable
    async def leave(self, replica: str) -> None:
        await self._redis.zrem(f"{self._prefix}replicas", replica)

    @answers_or_unavailable
    async def live(self) -> int:
        return int(await self._redis.zcount(f"{self._prefix}replicas", time.time(), "+inf"))

    @answers_or_unavailable
    async def publish(self, run: SharedRun, replica: str) -> None:
        until = math.ceil(run.deadline * 1000)
        claims = self._key(run.id, ":claims")
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._key(run.id), json.dumps(asdict(run)), pxat=until)
            pipe.hset(claims, mapping={"n": run.shares, "next": 0, "0": replica})
            pipe.pexpireat(claims, until)
            pipe.xadd(f"{self._prefix}loadruns", {"run": run.id, "start": repr(run.start_at)},
                      maxlen=_KEEP_ANNOUNCEMENTS, approximate=True)
            await pipe.execute()

    @answers_or_unavailable
    async def take(self, replica: str, cursor: str,
                   wait: float) -> tuple[str, list[tuple[SharedRun, int]]]:
        stream = f"{self._prefix}loadruns"
        if not cursor:  # from now on: the last announcement so far
            last: Any = await self._redis.xrevrange(stream, count=1)
            return (str(last[0][0]) if last else "0-0"), []
        found: Any = await self._redis.xread({stream: cursor}, count=16, block=_block(wait))
        taken: list[tuple[SharedRun, int]] = []
        for _, entries in found or []:
            for entry_id, fields in entries:
                cursor = entry_id
                if float(fields.get("start", 0)) < time.time():
                    continue  # announced while this replica was away: too late to join
                claimed = await self._claim(
                    keys=[self._key(fields["run"], ":claims"), self._key(fields["run"])],
                    args=[replica])
                if claimed:
                    taken.append((SharedRun(**json.loads(claimed[1])), int(claimed[0])))
        return cursor, taken

    @answers_or_unavailable
    async def owners(self, run_id: str) -> dict[int, str]:
        claims: Any = await self._redis.hgetall(self._key(run_id, ":claims"))
        return {int(k): str(v) for k, v in claims.items() if str(k).isdigit()}

    @answers_or_unavailable
    async def report(self, run_id: str, report: ShareReport) -> bool:
        reports = self._key(run_id, ":reports")
        fields: dict[Any, Any] = {"share": report.share, "replica": report.replica,
                                  "kind": report.kind, "body": json.dumps(report.body)}
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.xadd(reports, fields)
            pipe.expire(reports, _KEEP_REPORTS)
            pipe.exists(self._key(run_id, ":stop"))
            *_, stopped = await pipe.execute()
        return not stopped

    @answers_or_unavailable
    async def reports(self, run_id: str, cursor: str,
                      wait: float) -> tuple[str, list[ShareReport]]:
        found: Any = await self._redis.xread({self._key(run_id, ":reports"): cursor or "0-0"},
                                             count=100, block=_block(wait))
        out: list[ShareReport] = []
        for _, entries in found or []:
            for entry_id, fields in entries:
                cursor = entry_id
                out.append(ShareReport(int(fields["share"]), fields["replica"], fields["kind"],
                                       json.loads(fields["body"])))
        return cursor or "0-0", out

    @answers_or_unavailable
    async def stop(self, run_id: str) -> None:
        await self._redis.set(self._key(run_id, ":stop"), "1", ex=_KEEP_REPORTS)
