"""The event queue in Redis: the SQLite queue's semantics, each change one Lua script (atomic).

Keys, all under `<prefix>events:`:

    key:<identity>                 duplicate detection, SET NX with an expiry of KEEP_EVENT_KEYS
    seq                            the last entry id given out
    e:<id>                         one entry (hash): sink, lane, fold_key, event, received_at,
                                   state, count, sent, attempts, next_at, last_error, done_at
    fold:<sink>:<lane>:<fold_key>  the id of the lane's latest entry with that message
    lane:<sink>:<lane>             pending entry ids of one lane, oldest (the head) first
    due:<sink>                     lanes with pending entries, scored by when their head is due;
                                   a claim scores it now + lease, so a lane whose replica died
                                   mid-delivery is due again when the lease lapses
    sinks                          sinks with pending entries
    depth, counts                  pending entries per sink; entries per state
    done:delivered, done:dead      finished entry ids by finishing time, for prune()
    hist:<lane>                    every entry id of a lane (scored by id), for history()

A lane is the canary's store_keys.canary_id, which holds no ':'; nor do sink names (config.py
allows letters, digits, '.', '_', '-'), so key names built from a sink and a lane cannot
collide. Entries an earlier release stored under its lane form (`<name>.<namespace>`) are
delivered as they are (a lane is only a string here) and listed by history(). The scripts
build key names from the prefix; on a Redis Cluster it carries the store's one hash tag, so
they all share the slot of the one key each call names, `seq`, which only routes the call
there. Every method raises StoreUnavailable when Redis does not answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import redis.asyncio

from loadtester.event import Event
from loadtester.state.base import (
    KEEP_DEAD_EVENTS,
    KEEP_EVENT_KEYS,
    Delivery,
    Enqueued,
    EventRecord,
)
from loadtester.state.event_history import OutboxRow, event_records
from loadtester.state.redis import answers_or_unavailable
from loadtester.state.redis_replicas import acknowledged
from loadtester.state.store_keys import canary_id, legacy_canary

_PRUNE_BATCH = 500

_ENQUEUE = """
local p, lane, fold_key, now = ARGV[1], ARGV[5], ARGV[6], ARGV[8]
local window = tonumber(ARGV[7])
if not redis.call('SET', p .. 'key:' .. ARGV[2], '1', 'NX', 'PX', ARGV[3]) then
  return {'duplicate'}
end
local result = {'stored'}
for i = 9, #ARGV do
  local sink = ARGV[i]
  local fold = p .. 'fold:' .. sink .. ':' .. lane .. ':' .. fold_key
  local carry, folded = 0, false
  local previous = window > 0 and redis.call('GET', fold)
  if previous then
    local entry = p .. 'e:' .. previous
    local f = redis.call('HMGET', entry, 'state', 'count', 'sent', 'received_at')
    if f[1] and f[1] ~= 'dead' and tonumber(f[4]) >= tonumber(now) - window then
      redis.call('HINCRBY', entry, 'count', 1)
      folded = true
    elseif f[1] == 'delivered' then
      carry = math.max(0, tonumber(f[2]) - tonumber(f[3]))
    end
  end
  if folded then
    table.insert(result, 'f' .. sink)
  else
    local id = redis.call('INCR', p .. 'seq')
    redis.call('HSET', p .. 'e:' .. id, 'sink', sink, 'lane', lane, 'fold_key', fold_key,
               'event', ARGV[4], 'received_at', now, 'state', 'pending', 'count', 1 + carry,
               'sent', 0, 'attempts', 0, 'next_at', now, 'last_error', '')
    redis.call('SET', fold, id)
    redis.call('RPUSH', p .. 'lane:' .. sink .. ':' .. lane, id)
    redis.call('ZADD', p .. 'hist:' .. lane, id, id)
    redis.call('ZADD', p .. 'due:' .. sink, 'NX', now, lane)
    redis.call('SADD', p .. 'sinks', sink)
    redis.call('HINCRBY', p .. 'depth', sink, 1)
    redis.call('HINCRBY', p .. 'counts', 'pending', 1)
    table.insert(result, 'q' .. sink)
  end
end
return result
"""

_CLAIM = """
local p, sink, now, limit, lease_end = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local due = p .. 'due:' .. sink
local claimed = {}
for _, lane in ipairs(redis.call('ZRANGEBYSCORE', due, '-inf', now, 'LIMIT', 0, limit)) do
  local id = redis.call('LINDEX', p .. 'lane:' .. sink .. ':' .. lane, 0)
  if id then
    redis.call('ZADD', due, lease_end, lane)
    local f = redis.call('HMGET', p .. 'e:' .. id, 'event', 'count', 'attempts', 'received_at')
    table.insert(claimed, {id, lane, f[1] or '', f[2] or '1', f[3] or '0', f[4] or '0'})
  else
    redis.call('ZREM', due, lane)
  end
end
if redis.call('EXISTS', due) == 0 then redis.call('SREM', p .. 'sinks', sink) end
return claimed
"""

# ARGV: prefix, id, sink, lane, outcome (delivered | dead), now, count sent | error
_FINISH = """
local p, id, sink, lane, outcome, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local entry = p .. 'e:' .. id
local state = redis.call('HGET', entry, 'state')
local list = p .. 'lane:' .. sink .. ':' .. lane
if state == 'delivered' or state == 'dead' or redis.call('LREM', list, 1, id) == 0 then
  return 0
end
if outcome == 'delivered' then
  redis.call('HSET', entry, 'state', outcome, 'sent', ARGV[7], 'done_at', now, 'last_error', '')
else
  redis.call('HSET', entry, 'state', outcome, 'last_error', ARGV[7], 'done_at', now)
end
redis.call('HINCRBY', entry, 'attempts', 1)
redis.call('ZADD', p .. 'done:' .. outcome, now, id)
redis.call('HINCRBY', p .. 'counts', outcome, 1)
if redis.call('HINCRBY', p .. 'counts', 'pending', -1) <= 0 then
  redis.call('HDEL', p .. 'counts', 'pending')
end
if redis.call('HINCRBY', p .. 'depth', sink, -1) <= 0 then
  redis.call('HDEL', p .. 'depth', sink)
end
local due = p .. 'due:' .. sink
local head = redis.call('LINDEX', list, 0)
if head then
  redis.call('ZADD', due, redis.call('HGET', p .. 'e:' .. head, 'next_at') or now, lane)
else
  redis.call('ZREM', due, lane)
  if redis.call('EXISTS', due) == 0 then redis.call('SREM', p .. 'sinks', sink) end
end
return 1
"""

# ARGV: prefix, id, sink, lane, next_at, error
_RETRY = """
local p, id, sink, lane, next_at = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local entry = p .. 'e:' .. id
local state = redis.call('HGET', entry, 'state')
if state ~= 'pending' then return 0 end
redis.call('HINCRBY', entry, 'attempts', 1)
redis.call('HSET', entry, 'next_at', next_at, 'last_error', ARGV[6])
if redis.call('LINDEX', p .. 'lane:' .. sink .. ':' .. lane, 0) == id then
  redis.call('ZADD', p .. 'due:' .. sink, next_at, lane)
end
return 1
"""

# ARGV: prefix, outcome, finished before, batch size
_PRUNE = """
local p, outcome = ARGV[1], ARGV[2]
local done = p .. 'done:' .. outcome
local ids = redis.call('ZRANGEBYSCORE', done, '-inf', '(' .. ARGV[3], 'LIMIT', 0, ARGV[4])
for _, id in ipairs(ids) do
  local entry = p .. 'e:' .. id
  local f = redis.call('HMGET', entry, 'sink', 'lane', 'fold_key', 'state')
  if f[1] and f[2] and f[3] then
    local fold = p .. 'fold:' .. f[1] .. ':' .. f[2] .. ':' .. f[3]
    if redis.call('GET', fold) == id then redis.call('DEL', fold) end
  end
  if f[2] then redis.call('ZREM', p .. 'hist:' .. f[2], id) end
  if f[4] == outcome and redis.call('HINCRBY', p .. 'counts', outcome, -1) <= 0 then
    redis.call('HDEL', p .. 'counts', outcome)
  end
  redis.call('DEL', entry)
end
if #ids > 0 then redis.call('ZREM', done, unpack(ids)) end
return #ids
"""

# ARGV: prefix, lane, limit. The lane's entries newest first, until `limit` events are
# complete (one event's entries have adjacent ids and the same stored text).
_HISTORY = """
local p, limit = ARGV[1], tonumber(ARGV[3])
local hist = p .. 'hist:' .. ARGV[2]
local rows, events, last, start = {}, 0, nil, 0
while true do
  local ids = redis.call('ZREVRANGE', hist, start, start + 99)
  if #ids == 0 then return rows end
  for _, id in ipairs(ids) do
    local f = redis.call('HMGET', p .. 'e:' .. id, 'event', 'sink', 'state', 'attempts',
                         'last_error', 'received_at')
    if f[1] then
      if f[1] ~= last then
        if events == limit then return rows end
        events, last = events + 1, f[1]
      end
      table.insert(rows, {id, f[1], f[2], f[3], f[4], f[5] or '', f[6]})
    end
  end
  start = start + 100
end
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)



class RedisEventQueue:
    """EventQueue on a redis.asyncio client; entries of every replica live in one Redis."""

    def __init__(self, client: redis.asyncio.Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix + "events:"
        self._slot = [self._prefix + "seq"]  # KEYS[1] of every script: see the module's doc
        self._enqueue = client.register_script(_ENQUEUE)
        self._claim = client.register_script(_CLAIM)
        self._finish = client.register_script(_FINISH)
        self._retry = client.register_script(_RETRY)
        self._prune = client.register_script(_PRUNE)
        self._history = client.register_script(_HISTORY)

    def _key(self, name: str) -> str:
        return self._prefix + name

    @answers_or_unavailable
    async def enqueue(self, event: Event, sinks: Iterable[str], identity: str,
                      fold_window: float, now: float) -> Enqueued:
        async with acknowledged(self._redis) as redis:
            result = await self._enqueue(keys=self._slot, args=[
                self._prefix, identity, int(KEEP_EVENT_KEYS * 1000), event.to_json(),
                canary_id(event.name, event.namespace),
                event.fold_key(), fold_window, now, *sinks], client=redis)
        first, *changes = [_text(item) for item in result]
        if first == "duplicate":
            return Enqueued(duplicate=True)
        return Enqueued(False, tuple(c[1:] for c in changes if c[0] == "q"),
                        tuple(c[1:] for c in changes if c[0] == "f"))

    @answers_or_unavailable
    async def sinks(self) -> list[str]:
        return sorted(_text(sink) for sink in await self._redis.smembers(self._key("sinks")))

    @answers_or_unavailable
    async def claim_due(self, sink: str, now: float, limit: int,
                        lease: float) -> list[Delivery]:
        rows = await self._claim(keys=self._slot,
                                 args=[self._prefix, sink, now, limit, now + lease])
        claimed = []
        for row in rows:
            entry_id, lane, stored, count, attempts, received_at = (_text(v) for v in row)
            claimed.append(Delivery(entry_id, sink, lane, Event.from_stored(stored), int(count),
                                    int(attempts), float(received_at)))
        return claimed

    @answers_or_unavailable
    async def next_due(self, sink: str) -> float | None:
        first = await self._redis.zrange(self._key("due:" + sink), 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    @answers_or_unavailable
    async def delivered(self, entry: Delivery, now: float) -> None:
        await self._finish(keys=self._slot, args=[self._prefix, entry.id, entry.sink,
                                                  entry.lane, "delivered", now, entry.count])

    @answers_or_unavailable
    async def retry(self, entry: Delivery, next_at: float, error: str) -> None:
        await self._retry(keys=self._slot, args=[self._prefix, entry.id, entry.sink, entry.lane,
                                                 next_at, error])

    @answers_or_unavailable
    async def dead(self, entry: Delivery, error: str, now: float) -> None:
        await self._finish(keys=self._slot, args=[self._prefix, entry.id, entry.sink,
                                                  entry.lane, "dead", now, error])

    @answers_or_unavailable
    async def depth(self) -> dict[str, int]:
        return _positive(await self._redis.hgetall(self._key("depth")))

    @answers_or_unavailable
    async def counts(self) -> dict[str, int]:
        return _positive(await self._redis.hgetall(self._key("counts")))

    @answers_or_unavailable
    async def prune(self, keep_delivered: float, now: float) -> None:
        # in batches, so that no script holds Redis for long
        for outcome, before in (("delivered", now - keep_delivered),
                                ("dead", now - KEEP_DEAD_EVENTS)):
            while await self._prune(keys=self._slot, args=[
                    self._prefix, outcome, before, _PRUNE_BATCH]) == _PRUNE_BATCH:
                pass

    @answers_or_unavailable
    async def history(self, name: str, namespace: str, limit: int) -> list[EventRecord]:
        # an earlier release's lane (<name>.<namespace>) too: its replicas may still enqueue
        # there during a rolling update, and what they stored is kept KEEP_DEAD_EVENTS
        rows: list[Any] = []
        for lane in {canary_id(name, namespace), legacy_canary(name, namespace)}:
            rows += await self._history(keys=self._slot, args=[self._prefix, lane, limit])
        return event_records(
            sorted((OutboxRow(int(_text(id_)), _text(event), _text(sink), _text(state),
                              int(_text(attempts)), _text(error), float(_text(received_at)))
                    for id_, event, sink, state, attempts, error, received_at in rows),
                   key=lambda row: -row.id),
            name, namespace, limit)


def _positive(raw: dict[Any, Any]) -> dict[str, int]:
    return {_text(key): int(value) for key, value in raw.items() if int(value) > 0}
