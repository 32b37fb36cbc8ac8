"""Revoked console sessions in Redis: one key each, which Redis drops when the session would
have expired, so every replica refuses a session as soon as any of them logged it out."""

from __future__ import annotations

import math
import time

import redis.asyncio as aioredis

from loadtester.state.redis import PREFIX, answers_or_unavailable
from loadtester.state.redis_replicas import acknowledged


class RedisSessionRevocations:
    """SessionRevocations as `PREFIX + revoked-session:ID` keys that expire at the session's end."""

    def __init__(self, client: aioredis.Redis, prefix: str = PREFIX) -> None:
        self._redis = client
        self._prefix = prefix

    def _key(self, session_id: str) -> str:
        return f"{self._prefix}revoked-session:{session_id}"

    @answers_or_unavailable
    async def revoke(self, session_id: str, until: float) -> None:
        if until <= time.time():
            return  # expired already: nothing to refuse
        async with acknowledged(self._redis) as redis:
            await redis.set(self._key(session_id), "1", pxat=math.ceil(until * 1000))

    @answers_or_unavailable
    async def is_revoked(self, session_id: str) -> bool:
        return bool(await self._redis.exists(self._key(session_id)))
