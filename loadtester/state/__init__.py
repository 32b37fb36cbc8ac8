"""Everything the service keeps: gates, background-task leases and failures, the event outbox,
the canaries seen, task records and the audit log.

    base.py           one protocol per kind of state (GateStore, TaskLedger, EventQueue,
                      CanaryHistory, AuditLog)
    store_keys.py     the key of each (kind, name, namespace); the forms earlier releases wrote
    sqlite_migrate.py a file of an earlier release rewritten to store_keys', once, at open
    sqlite.py         gates and leases in SQLite (file: the default; ":memory:": -state=memory)
    sqlite_events.py  the event outbox in SQLite
    sqlite_history.py canary history, task records and the audit log in SQLite
    event_history.py  outbox rows read back as EventRecords (the console's event history)
    redis.py          gates and leases in Redis, shared by replicas; the client set-up
    redis_events.py   the event outbox in Redis
    redis_history.py  canary history, task records and the audit log in Redis
    pages.py          the cursor of a page of the canary list (CanaryHistory.canary_page)
    sqlite_pages.py   ... a page in SQLite, redis_pages.py in Redis, each from an index
    sqlite_runs.py, redis_runs.py   LoadRuns: a canary's load runs and their series
    admission.py      -max-canaries: the new canaries each account named per day (protocol)
    sqlite_admission.py, redis_admission.py   ... in SQLite, and in Redis (shared by replicas)
    open.py           open_state(settings): the one place that picks the backend

The memory backend keeps no promise across a restart; every other promise holds on each
backend, as tests/state pins.
"""
