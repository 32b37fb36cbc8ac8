"""Fixtures of the API tests: the real service as a subprocess (tests/test_server_process)."""

from tests.test_server_process import start_service  # noqa: F401 - a fixture
