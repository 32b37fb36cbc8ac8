"""CanaryAdmission in Redis, shared by every replica: a set per account and day.

    admission:<day>:<account>   the canaries (store_keys.canary_id) the account named that day

The day is digits, so the key names one account. Each set expires two days after its last
addition.
"""

from __future__ import annotations

import redis.asyncio

from loadtester.state.admission import DAY_SECONDS
from loadtester.state.redis import answers_or_unavailable
from loadtester.state.store_keys import canary_id

_KEEP = 2 * DAY_SECONDS
# KEYS: the day's set; ARGV: the canary, the limit, the TTL. 1: admitted, 0: over the limit.
_ADMIT = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 1 end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""


class RedisCanaryAdmission:
    """CanaryAdmission in Redis; raises StoreUnavailable when Redis is away."""

    def __init__(self, client: redis.asyncio.Redis, prefix: str) -> None:
        self._prefix = prefix
        self._admit = client.register_script(_ADMIT)

    @answers_or_unavailable
    async def admit(self, account: str, name: str, namespace: str, day: int,
                    limit: int) -> bool:
        key = f"{self._prefix}admission:{day}:{account}"
        member = canary_id(name, namespace)
        return bool(await self._admit(keys=[key], args=[member, limit, _KEEP]))

    async def prune(self, day: int) -> None:
        """Nothing to do: every set expires on its own."""
