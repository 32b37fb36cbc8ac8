"""Hostile scenarios (a 500 KB list, an alias bomb, long values), for the tests and
bench/bench_hostile_input.py."""

from __future__ import annotations

# 500 KB: answered 400 after 11.2 s with /healthz blocked 11.1 s before the fix
HUGE_LIST = "requests: [" + "1," * 250000 + "]"


def alias_bomb() -> str:
    """496 bytes, billion-laughs style: 7 levels of 10 aliases of the level below, in `url`;
    expanded, 10^7 strings (an 80 MB 400 body and log line before the fix)."""
    lines = ["requests:", "- name: billion laughs in url, 7 levels of 10 aliases, 10^7 items",
             "  url:", "  - &l0 [" + ", ".join(["lol"] * 10) + "]"]
    lines += [f"  - &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 7)]
    return "\n".join(lines) + "\n"


def flow_list(key: str, size: int) -> str:
    """``key: [1,1,...]`` padded with spaces to exactly ``size`` bytes (at least 16)."""
    head = f"{key}: ["
    count = (size - len(head) - 1) // 2
    text = head + "1," * count + "]"
    return text + " " * (size - len(text))
