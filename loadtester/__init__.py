"""Flagger webhook service: tasks, durable gates, load generation and event forwarding."""

__version__ = "0.1.0"
