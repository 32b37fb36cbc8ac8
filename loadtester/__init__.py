"""Flagger webhook service: tasks, durable gates, load generation and event forwarding."""

__version__ = "0.1.0"


def version() -> str:
    """The installed distribution's version; ``__version__`` when run from a bare checkout."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as distribution_version

    try:
        return distribution_version("loadtester")
    except PackageNotFoundError:
        return __version__
