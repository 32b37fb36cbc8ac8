"""Event forwarding: Flagger's events stored in a durable queue and delivered to chat tools.

    receiver (routes/events.py) -> loadtester/event.py (validate, dedup key) -> router.py
    (which sinks) -> the EventQueue of the state backend (state/sqlite_events.py,
    state/redis_events.py: pending deliveries, folding, leases) -> dispatcher.py (workers,
    retries, circuit breaker) -> one module per sink (slack.py, msteams.py, ...) builds the
    HTTP request of its tool.
"""
