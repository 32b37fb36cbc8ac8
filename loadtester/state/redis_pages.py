"""A page of the canary list in Redis: a range of the sorted set of canaries by last_seen,
from the cursor's score down, so that a page costs about its `limit` members.

Members tied on a score come in reverse member order (ZREVRANGEBYSCORE's). A namespace filter
reads members only (a member of namespace N starts with `member_of("", N)`) and the hashes of
those it keeps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import redis.asyncio

from loadtester.state.base import CanaryRecord
from loadtester.state.pages import CanaryCursor

_BATCH = 500  # members read at a time when a namespace filter skips others


async def canary_page(client: redis.asyncio.Redis, index: str, hash_key: Callable[[str], str],
                      member_of: Callable[[str, str], str],
                      record_of: Callable[[dict[Any, Any]], CanaryRecord], since: float,
                      limit: int, after: CanaryCursor | None,
                      namespaces: frozenset[str] | None) -> list[CanaryRecord]:
    """canaries(since) after `after`, of `namespaces` (None: all), `limit` at most."""
    if limit <= 0 or (namespaces is not None and not namespaces):
        return []
    prefixes = None if namespaces is None else tuple(member_of("", ns) for ns in namespaces)
    top, last = ("+inf", None) if after is None else (
        after.last_seen, member_of(after.name, after.namespace))
    kept: list[str] = []
    skip = 0
    while len(kept) < limit:
        batch = limit - len(kept) if prefixes is None else _BATCH
        rows = cast(list[tuple[str, float]], await client.zrevrangebyscore(
            index, top, since, start=skip, num=batch, withscores=True))
        # the members tied on `top` come first: skip those at or before the cursor
        fresh = [(member, score) for member, score in rows
                 if last is None or score != top or member < last]
        kept.extend(member for member, _score in fresh
                    if prefixes is None or member.startswith(prefixes))
        if len(rows) < batch:
            break
        if fresh:
            top, last = fresh[-1][1], fresh[-1][0]
            skip = 0
        else:
            skip += len(rows)
    kept = kept[:limit]
    async with client.pipeline(transaction=False) as pipe:
        for member in kept:
            pipe.hgetall(hash_key(member))
        found = await pipe.execute()
    return [record_of(row) for row in found if row]
