"""Everything the service keeps: gates, background-task leases and failures, the event outbox.

    base.py           one protocol per kind of state (GateStore, TaskLedger, EventQueue)
    sqlite.py         gates and leases in SQLite (file: the default; ":memory:": -state=memory)
    sqlite_events.py  the event outbox in SQLite
    redis.py          gates and leases in Redis, shared by replicas; the client set-up
    redis_events.py   the event outbox in Redis
    open.py           open_state(settings): the one place that picks the backend

The memory backend keeps no promise across a restart; every other promise holds on each
backend, as tests/state pins.
"""
