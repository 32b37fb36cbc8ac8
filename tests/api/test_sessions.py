"""Session cookies: signed by the token they were opened with, and only until they expire."""

from __future__ import annotations

import pytest

from loadtester.auth import Token
from loadtester.errors import Unauthorized
from loadtester.sessions import SESSION_SECONDS, log_in, read_session

TOKENS = (Token("*", b"root-token", "alice"), Token("test", b"team-token", "bob"),
          Token("shop", b"team-token", "bob"))


def test_session_lasts_until_it_expires() -> None:
    """A cookie is read back as its token's viewer until SESSION_SECONDS after the login."""
    viewer, cookie = log_in(TOKENS, "root-token", now=1000.0)
    read = read_session(TOKENS, cookie, now=1000.0 + SESSION_SECONDS - 1)
    assert read == viewer and read.name == "alice" and read.sees("anything")
    assert read_session(TOKENS, cookie, now=1000.0 + SESSION_SECONDS) is None


def test_token_on_several_lines_sees_each_namespace() -> None:
    """A token listed for two namespaces sees both, and no other."""
    viewer, cookie = log_in(TOKENS, "team-token", now=0.0)
    assert viewer.sees("test") and viewer.sees("shop") and not viewer.sees("other")
    assert viewer.namespace == "shop,test" and viewer.store_filter is None
    assert read_session(TOKENS, cookie, now=1.0) == viewer


def test_removed_token_ends_its_sessions() -> None:
    """Once its token is gone from the file, a cookie is no session; the others still are."""
    _, cookie = log_in(TOKENS, "team-token", now=0.0)
    _, root_cookie = log_in(TOKENS, "root-token", now=0.0)
    remaining = TOKENS[:1]
    assert read_session(remaining, cookie, now=1.0) is None
    assert read_session(remaining, root_cookie, now=1.0) is not None


@pytest.mark.parametrize("cookie", ["", "abc", "abc.", ".abc", "a.b.c", "é.é", "x" * 600])
def test_malformed_cookies_are_no_session(cookie: str) -> None:
    """Anything that is not a cookie we signed reads as no session, never an error."""
    assert read_session(TOKENS, cookie, now=0.0) is None


def test_wrong_token_cannot_log_in() -> None:
    """A token on no line is refused with 401."""
    with pytest.raises(Unauthorized):
        log_in(TOKENS, "root-token ", now=0.0)
