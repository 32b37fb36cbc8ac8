"""Event forwarding: Flagger's events stored in a durable outbox and delivered to chat tools.

    receiver (routes/events.py) -> event.py (validate, dedup key) -> router.py (which sinks)
    -> outbox.py (SQLite: pending deliveries, folding) -> dispatcher.py (workers, retries)
    -> one module per sink (slack.py, msteams.py, ...) builds the HTTP request of its tool.
"""
