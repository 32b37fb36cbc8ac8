"""Secret flag values out of the process title, so that `ps` and /proc/PID/cmdline hide them."""

from __future__ import annotations

import os
import sys
from collections.abc import Collection, Sequence

from loadtester.redact import MASK


def mask_secret_arguments(
    args: Sequence[str], secret_flags: Collection[str]
) -> tuple[list[str], list[str]]:
    """`args` with the URL values of secret flags masked, and the names of those flags.

    A secret flag's URL carries its credential (a webhook token, a Redis password); a plain
    value such as `-state=/var/lib/loadtester` is not a secret and stays readable.
    """
    masked: list[str] = []
    exposed: list[str] = []
    position = 0
    while position < len(args):
        arg = args[position]
        masked.append(arg)
        position += 1
        name, has_value, value = arg.lstrip("-").partition("=")
        if not arg.startswith("-") or name not in secret_flags:
            continue
        if not has_value:
            if position >= len(args):
                continue
            value = args[position]
            masked.append(MASK if "://" in value else value)
            position += 1
        elif "://" in value:
            masked[-1] = arg[: len(arg) - len(value)] + MASK
        if "://" in value:
            exposed.append(name)
    return masked, exposed


def hide_secret_arguments(secret_flags: Collection[str]) -> list[str]:
    """Rewrite this process's title without the secret flag values of sys.argv.

    Returns the names of the secret flags found on the command line. The title shows the
    secret for the moment between exec and this call: the environment and *_FILE forms are
    the ones that never show it.
    """
    tail = sys.argv[1:]
    masked, exposed = mask_secret_arguments(tail, secret_flags)
    if not exposed:
        return []
    head = sys.orig_argv[: len(sys.orig_argv) - len(tail)]
    # no room taken from the environment block: /proc/PID/environ stays what it was
    os.environ["SPT_NOENV"] = "1"
    try:
        import setproctitle

        comm = setproctitle.getthreadtitle()
        setproctitle.setproctitle(" ".join([*head, *masked]))
        setproctitle.setthreadtitle(comm)  # keep the name `pgrep` and `top` show
    finally:
        os.environ.pop("SPT_NOENV", None)
    return exposed
