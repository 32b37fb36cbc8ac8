"""A run the CLI sends from its own process never imports multiprocessing: no worker, no
resource tracker, no start-up spent on them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.nginx import Nginx

# runs `loadtester load ARGS` in this interpreter, then prints what multiprocessing it loaded
_PROBE = """
import sys
from loadtester.loadgen.cli import main
code = main(sys.argv[1:], stdout=open("/dev/null", "w"))
print(code, sorted(m for m in sys.modules if m.split(".")[0] == "multiprocessing"))
"""


@pytest.mark.system
@pytest.mark.parametrize("args", [["-n", "1", "-c", "1"], ["-z", "0.3s", "-q", "10", "-c", "2"]])
def test_local_run_does_not_import_multiprocessing(nginx: Nginx, args: list[str]) -> None:
    """`loadtester load -n 1 -c 1 URL` (and a slow timed run) leaves sys.modules without
    multiprocessing."""
    done = subprocess.run([sys.executable, "-c", _PROBE, *args, nginx.url],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.stdout.strip() == "0 []", done.stderr
    assert nginx.log(), "the run sent nothing"
