"""The load generator's command line as a process: `python -m loadtester.loadgen.cli`."""

from __future__ import annotations

import asyncio
import sys


async def run_cli(*argv: str) -> tuple[int, str, str]:
    """`python -m loadtester.loadgen.cli ARGV`: exit code, stdout and stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "loadtester.loadgen.cli", *argv,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
