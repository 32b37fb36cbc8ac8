"""A token file's text: one token for namespace team-a, one named `alice` for every namespace."""

from __future__ import annotations

TEAM_A = "tok-team-a-0123456789"
ADMIN = "tok-admin-9876543210"
TOKENS = f"""# tokens of the load tester
team-a {TEAM_A}

*      {ADMIN}  alice
"""
