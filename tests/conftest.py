"""Shared fixtures: settings on a temporary state directory, a client of the real app, the real
service as a subprocess, and real servers (Redis, nginx, counting HTTP servers) to test against."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from loadtester import metrics
from loadtester.app import create_app
from loadtester.logs import configure_logging
from loadtester.settings import Settings
from loadtester.tasks.process import child_environment
from tests.support.client import ClientFactory
from tests.support.nginx import NGINX, Nginx
from tests.support.redis_cluster import RedisClusterGroup
from tests.support.redis_sentinel import SentinelGroup
from tests.support.redis_server import RedisServer
from tests.support.servers import CountingServer, Reply
from tests.support.service import Services, StartService


@pytest.fixture(autouse=True, scope="session")
def _logging() -> None:
    configure_logging("debug", "console")


@pytest.fixture(autouse=True)
def _child_environment() -> Iterator[None]:
    """Children see this test's environment (a fake tool's PATH), computed once per test."""
    child_environment.cache_clear()
    yield
    child_environment.cache_clear()


@pytest.fixture(autouse=True)
def _load_series() -> None:
    """Each test's load runs start below the per-canary label caps of /metrics (tests share
    the canary podinfo.test, each with its own server's port as the target)."""
    metrics.LOAD.clear()


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings whose SQLite store lives in this test's temporary directory."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"state": str(tmp_path / "state"), "load_workers": 1}
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
async def make_client(
    aiohttp_client: Any, make_settings: Callable[..., Settings]
) -> ClientFactory:
    """A test client of create_app() with the given settings overrides."""

    async def make(**overrides: Any) -> TestClient[Any, Any]:
        client: TestClient[Any, Any] = await aiohttp_client(create_app(make_settings(**overrides)))
        return client

    return make


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[StartService]:
    """Start `python -m loadtester` (or another command) on a free port; killed at the end."""
    services = Services(tmp_path)
    yield services.start
    services.close()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the whole run; see redis_url for a clean database per test."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The URL of the shared redis-server, emptied for this test."""
    if redis_server.process is None:
        redis_server.start()
    redis_server.flush()
    return redis_server.url


@pytest.fixture(scope="session")
def redis_sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelGroup]:
    """One real Sentinel group (primary, replica, 3 sentinels) for the whole run."""
    group = SentinelGroup(tmp_path_factory.mktemp("sentinel"))
    try:
        yield group.start()
    finally:
        group.stop()


@pytest.fixture
def redis_sentinel_url(redis_sentinel: SentinelGroup) -> str:
    """A redis+sentinel:// URL of the shared Sentinel group, its data emptied for this test."""
    redis_sentinel.flush()
    return redis_sentinel.url()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterGroup]:
    """One real Redis Cluster (three primaries) for the whole run."""
    group = RedisClusterGroup(tmp_path_factory.mktemp("cluster"))
    try:
        yield group.start()
    finally:
        group.kill()


@pytest.fixture
def redis_cluster_url(redis_cluster: RedisClusterGroup) -> str:
    """A redis+cluster:// URL of the shared cluster, every node emptied for this test."""
    redis_cluster.flush()
    return redis_cluster.url()


@pytest.fixture
async def target() -> AsyncIterator[CountingServer]:
    """A server answering 200 at once; started before (so closed after) the service."""
    server = await CountingServer(lambda n: Reply()).start()
    yield server
    await server.close()


@pytest.fixture
async def failing() -> AsyncIterator[CountingServer]:
    """A server answering 503 to everything."""
    server = await CountingServer(lambda n: Reply(status=503)).start()
    yield server
    await server.close()


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Nginx]:
    """A real nginx with fixed answers per path, logging each answer in tmp_path."""
    if not NGINX.exists():
        pytest.skip("nginx is not installed (Debian nginx-light)")
    server = Nginx(tmp_path)
    yield server
    server.stop()
