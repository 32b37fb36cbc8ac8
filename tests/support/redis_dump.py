"""Load a JSON dump of Redis keys (tests/data/state/make_old_stores.py writes one) into a Redis."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import redis


def restore(url: str, dump: Path) -> int:
    """Write every key of `dump` (name, type, value, pttl) into the Redis at `url`; how many."""
    keys: list[dict[str, Any]] = json.loads(dump.read_text())
    with redis.Redis.from_url(url, decode_responses=True) as client:
        for item in keys:
            name, kind, value = item["key"], item["type"], item["value"]
            if kind == "string":
                client.set(name, value)
            elif kind == "hash":
                client.hset(name, mapping=value)
            elif kind == "set":
                client.sadd(name, *value)
            elif kind == "zset":
                client.zadd(name, {member: score for member, score in value})
            elif kind == "list":
                client.rpush(name, *value)
            else:
                raise ValueError(f"{name}: no restore for a Redis {kind}")
            if item["pttl"] > 0:
                client.pexpire(name, item["pttl"])
    return len(keys)
