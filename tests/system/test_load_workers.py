"""The service's load runs start the worker processes the run needs, not one per CPU: counted
as the service's children while a run sends to a real nginx."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.nginx import Nginx
from tests.support.processes import children
from tests.support.service import GATE, Service, StartService, request

pytestmark = pytest.mark.system


def start_load(service: Service, command: str) -> None:
    """Post a background `type: load` task running ``command``."""
    payload = {**GATE, "metadata": {"type": "load", "cmd": command}}
    assert request(service.port, "/", payload) == (202, "")


def wait_for_requests(nginx: Nginx, count: int) -> None:
    """Until nginx has answered ``count`` requests (a guard against hanging, not a timing)."""
    deadline = time.monotonic() + 30
    while len(nginx.log()) < count:
        assert time.monotonic() < deadline, "the run sent nothing"
        time.sleep(0.05)


def task_ended(service: Service) -> dict[str, Any]:
    """The fields of the service's `task ended` log line, once written."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in service.log_lines():
            if '"task ended"' in line:
                fields: dict[str, Any] = json.loads(line)
                return fields
        time.sleep(0.05)
    raise AssertionError(f"no task ended: {service.log_lines()[-5:]}")


def worker_processes(service: Service) -> list[int]:
    """The service's children that are load workers (not multiprocessing's resource tracker)."""
    return [pid for pid in children(service.process.pid)
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def test_slow_run_starts_no_process(start_service: StartService, nginx: Nginx) -> None:
    """50 req/s over 20 connections with -load-workers=16 runs in the service's own process:
    while it sends, the service has no child at all."""
    service = start_service("-state=memory", "-log-level=info", "-load-workers=16")
    service.wait_healthy()
    start_load(service, f"hey -z 2s -q 2.5 -c 20 {nginx.url}")
    wait_for_requests(nginx, 20)
    assert children(service.process.pid) == []
    ended = task_ended(service)
    assert (ended["workers"], ended["workers_reason"]) == (0, "rate 50/s, in this process")
    assert ended["outcome"] == "ok" and ended["requests"] == 100


def test_faster_run_gets_the_workers_its_rate_needs(start_service: StartService,
                                                   nginx: Nginx) -> None:
    """5 000 req/s over 8 connections with -load-workers=16 gets one worker process, not one
    per connection or per CPU."""
    service = start_service("-state=memory", "-log-level=info", "-load-workers=16")
    service.wait_healthy()
    start_load(service, f"hey -z 3s -q 625 -c 8 {nginx.url}")
    wait_for_requests(nginx, 1)  # workers send once all of them are ready
    assert len(worker_processes(service)) == 1
    ended = task_ended(service)
    assert (ended["workers"], ended["workers_reason"]) == (1, "rate 5000/s")
