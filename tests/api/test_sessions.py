"""Session cookies: signed by the token they were opened with, and only until they expire."""

from __future__ import annotations

import pytest

from loadtester.auth import Token
from loadtester.errors import Unauthorized
from loadtester.sessions import SESSION_SECONDS, log_in, parse_session

TOKENS = (Token("*", b"root-token", "alice"), Token("test", b"team-token", "bob"),
          Token("shop", b"team-token", "bob"))


def test_session_lasts_until_it_expires() -> None:
    """A cookie is read back as its token's viewer until SESSION_SECONDS after the login."""
    viewer, cookie = log_in(TOKENS, "root-token", now=1000.0)
    read = parse_session(TOKENS, cookie, now=1000.0 + SESSION_SECONDS - 1)
    assert read is not None and read.expires == 1000.0 + SESSION_SECONDS
    assert read.viewer == viewer and viewer.name == "alice" and viewer.sees("anything")
    assert parse_session(TOKENS, cookie, now=1000.0 + SESSION_SECONDS) is None


def test_token_on_several_lines_sees_each_namespace() -> None:
    """A token listed for two namespaces sees both, and no other."""
    viewer, cookie = log_in(TOKENS, "team-token", now=0.0)
    assert viewer.sees("test") and viewer.sees("shop") and not viewer.sees("other")
    assert viewer.namespace == "shop,test" and viewer.store_filter is None
    read = parse_session(TOKENS, cookie, now=1.0)
    assert read is not None and read.viewer == viewer


def test_removed_token_ends_its_sessions() -> None:
    """Once its token is gone from the file, a cookie is no session; the others still are."""
    _, cookie = log_in(TOKENS, "team-token", now=0.0)
    _, root_cookie = log_in(TOKENS, "root-token", now=0.0)
    remaining = TOKENS[:1]
    assert parse_session(remaining, cookie, now=1.0) is None
    assert parse_session(remaining, root_cookie, now=1.0) is not None


@pytest.mark.parametrize("cookie", ["", "abc", "abc.", ".abc", "a.b.c", "é.é", "x" * 600])
def test_malformed_cookies_are_no_session(cookie: str) -> None:
    """Anything that is not a cookie we signed reads as no session, never an error."""
    assert parse_session(TOKENS, cookie, now=0.0) is None


def _variants(cookie: str) -> list[str]:
    """Other spellings of the same bytes that a lenient base64 decoder reads as `cookie`."""
    body, signature = cookie.split(".")
    last = signature[-1]
    # the signature's 32 bytes leave 2 unused bits in its last character
    sibling = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    stray = sibling[sibling.index(last) ^ 1]
    return [
        f"{body}==.{signature}=", f"{body}.{signature}=", f"{body}=.{signature}",
        f"{body}.{signature[:-1]}{stray}",
        f"{body}.{signature.replace('-', '+').replace('_', '/')}",
        f"{body}.!{signature}", f"{body}.{signature} ", f" {body}.{signature}",
        f"{body}.{signature[:10]}\n{signature[10:]}",
    ]


def test_only_the_canonical_spelling_is_a_session() -> None:
    """Padded, standard-alphabet, stray-bit or noise-laden copies of a cookie are refused, so
    no other spelling escapes the revocation of the cookie's session."""
    for token in ("root-token", "team-token"):
        _, cookie = log_in(TOKENS, token, now=0.0)
        session = parse_session(TOKENS, cookie, now=1.0)
        assert session is not None
        for variant in _variants(cookie):
            if variant != cookie:
                assert parse_session(TOKENS, variant, now=1.0) is None, variant


def test_session_id_is_a_digest_not_the_cookie() -> None:
    """Each login is a session of its own id, which holds nothing of the cookie."""
    _, first = log_in(TOKENS, "root-token", now=0.0)
    _, second = log_in(TOKENS, "root-token", now=0.0)
    one, other = parse_session(TOKENS, first, now=1.0), parse_session(TOKENS, second, now=1.0)
    assert one is not None and other is not None and one.id != other.id
    assert len(one.id) == 64 and one.id not in first and first.split(".")[1] not in one.id


def test_wrong_token_cannot_log_in() -> None:
    """A token on no line is refused with 401."""
    with pytest.raises(Unauthorized):
        log_in(TOKENS, "root-token ", now=0.0)
