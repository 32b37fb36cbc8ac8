"""Who calls the console API: a Bearer token, a session cookie, or nobody (no -token-file).

The cookie holds the session's expiry and its CSRF value, signed (HMAC-SHA256) with a key
derived from the token it was opened with: every replica that reads the same token file accepts
it, and removing the token from the file (then restarting) ends its sessions. Logging out
records the session's id (a digest of its signature) in the state store until the session would
have expired, so every replica sharing the store refuses the cookie, and any copy of it, from
then on. A cookie is read strictly: both parts must be canonical unpadded base64url, so no
other spelling of a logged-out cookie (padded, re-encoded) is a session of its own.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import hdrs, web

from loadtester.auth import ANY_NAMESPACE, Token, matching_tokens
from loadtester.errors import Forbidden, InvalidCredentials, Unauthorized
from loadtester.keys import AUTHORIZER, STATE
from loadtester.operations import ANONYMOUS
from loadtester.state.base import SessionRevocations

SESSION_COOKIE = "loadtester_session"
CSRF_HEADER = "X-CSRF-Token"
SESSION_SECONDS = 12 * 3600
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_MAX_COOKIE = 512  # ours are ~130 characters; anything longer is not worth a hash
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Viewer:
    """An authenticated caller of the API and what it may see."""

    name: str  # the token's name; ANONYMOUS without -token-file or for an unnamed token
    namespaces: frozenset[str]  # the token's namespaces; ANY_NAMESPACE: all
    csrf: str = ""  # the session's CSRF value ("" unless authenticated by the cookie)
    by_cookie: bool = False

    def sees(self, namespace: str) -> bool:
        """Whether the caller may see and act on canaries of `namespace`."""
        return ANY_NAMESPACE in self.namespaces or namespace in self.namespaces

    @property
    def sees_all(self) -> bool:
        return ANY_NAMESPACE in self.namespaces

    @property
    def namespace(self) -> str:
        """`*`, the one namespace, or (a token on several lines) the namespaces, comma-joined."""
        if ANY_NAMESPACE in self.namespaces:
            return ANY_NAMESPACE
        return ",".join(sorted(self.namespaces))

    @property
    def store_filter(self) -> str | None:
        """The namespace to ask the store for when the caller names none (None: ask for all
        and filter with sees(), which a token of several namespaces needs)."""
        if ANY_NAMESPACE in self.namespaces or len(self.namespaces) != 1:
            return None
        return next(iter(self.namespaces))


OPEN_VIEWER = Viewer(ANONYMOUS, frozenset({ANY_NAMESPACE}))


@dataclass(frozen=True)
class Session:
    """A valid session cookie: who it lets in, and what a logout revokes until when."""

    viewer: Viewer
    id: str  # sha256 of the cookie's signature: stored on logout, never the cookie itself
    expires: float


async def identify(request: web.Request) -> Viewer:
    """The caller of an API request; Unauthorized without valid credentials, Forbidden for a
    cookie-authenticated change without the session's CSRF header."""
    tokens = request.app[AUTHORIZER].tokens
    if tokens is None:
        return OPEN_VIEWER
    header = request.headers.get(hdrs.AUTHORIZATION)
    if header is not None:
        return _bearer(tokens, header)
    cookie = request.cookies.get(SESSION_COOKIE, "")
    session = await _session(request, tokens)
    if session is None:
        error = InvalidCredentials if cookie else Unauthorized
        raise error("log in (POST /api/v1/session) or send the Authorization header "
                    "(Bearer) with a token")
    _check_csrf(request, session.viewer)
    return session.viewer


async def current_session(request: web.Request) -> Viewer | None:
    """The viewer of the request's session cookie, if it holds a valid one."""
    tokens = request.app[AUTHORIZER].tokens
    if tokens is None:
        return OPEN_VIEWER
    session = await _session(request, tokens)
    return session.viewer if session is not None else None


async def log_out(request: web.Request) -> None:
    """Revoke the request's session (if it holds a live one) on every replica sharing the
    store; like every change made with the cookie, it needs the session's CSRF header."""
    tokens = request.app[AUTHORIZER].tokens
    if tokens is None:
        return
    session = await _session(request, tokens)
    if session is None:
        return
    _check_csrf(request, session.viewer)
    await request.app[STATE].revocations.revoke(session.id, session.expires)


async def _session(request: web.Request, tokens: Sequence[Token]) -> Session | None:
    return await read_session(tokens, request.app[STATE].revocations,
                              request.cookies.get(SESSION_COOKIE, ""), time.time())


def _check_csrf(request: web.Request, viewer: Viewer) -> None:
    if request.method not in _SAFE_METHODS:
        given = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(given.encode("utf-8", "surrogatepass"), viewer.csrf.encode()):
            raise Forbidden(f"missing or wrong {CSRF_HEADER} header (see GET /api/v1/session)")


def log_in(tokens: Sequence[Token], token: str, now: float) -> tuple[Viewer, str]:
    """The viewer of `token` and the cookie value of its new session; Unauthorized if the
    token is on no line of the token file."""
    # surrogatepass: a lone surrogate from JSON's \ud800 matches no token, it is no crash
    lines = matching_tokens(tokens, token.encode("utf-8", "surrogatepass"))
    if not lines:
        raise InvalidCredentials("invalid token")
    csrf = secrets.token_urlsafe(24)
    body = _encode(json.dumps({"e": int(now + SESSION_SECONDS), "c": csrf}).encode())
    cookie = f"{body}.{_encode(_sign(lines[0].secret, body))}"
    return _viewer(lines, csrf, by_cookie=True), cookie


async def read_session(tokens: Sequence[Token], revocations: SessionRevocations, cookie: str,
                       now: float) -> Session | None:
    """The session of a cookie; None when parse_session refuses it or it was logged out."""
    session = parse_session(tokens, cookie, now)
    if session is None or await revocations.is_revoked(session.id):
        return None
    return session


def parse_session(tokens: Sequence[Token], cookie: str, now: float) -> Session | None:
    """The session of a cookie; None when it is absent, not in canonical form, forged,
    expired, or its token is no longer in the file."""
    body, _, signature = cookie.partition(".")
    if len(cookie) > _MAX_COOKIE or not _canonical(body) or not _canonical(signature):
        return None
    try:
        given = _decode(signature)
        fields = json.loads(_decode(body))
    except (ValueError, binascii.Error):
        return None
    # every line is checked, as matching_tokens does: the time taken names no line
    lines = [token for token in tokens
             if hmac.compare_digest(_sign(token.secret, body), given)]
    if not lines or not isinstance(fields, dict):
        return None
    expiry, csrf = fields.get("e"), fields.get("c")
    if not isinstance(expiry, int) or not isinstance(csrf, str) or expiry <= now:
        return None
    return Session(_viewer(lines, csrf, by_cookie=True), hashlib.sha256(given).hexdigest(),
                   float(expiry))


def set_session_cookie(response: web.StreamResponse, request: web.Request, value: str) -> None:
    """HttpOnly (no script reads it), SameSite=Strict (no other site sends it), Secure on TLS."""
    response.set_cookie(SESSION_COOKIE, value, max_age=SESSION_SECONDS, path="/",
                        httponly=True, samesite="Strict", secure=request.secure)


def clear_session_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Strict")


def _bearer(tokens: Sequence[Token], header: str) -> Viewer:
    scheme, _, given = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise Unauthorized("the Authorization header is not of type Bearer")
    lines = matching_tokens(tokens, given.strip().encode("utf-8", "surrogatepass"))
    if not lines:
        raise InvalidCredentials("invalid token")
    return _viewer(lines, "", by_cookie=False)


def _viewer(lines: Sequence[Token], csrf: str, *, by_cookie: bool) -> Viewer:
    namespaces = frozenset(line.namespace for line in lines)
    return Viewer(lines[0].name or ANONYMOUS, namespaces, csrf, by_cookie)


@functools.lru_cache(maxsize=64)
def _key(secret: bytes) -> bytes:
    # a key of its own, so that the token is never used directly to sign what a client chose
    return hmac.new(secret, b"loadtester console session", hashlib.sha256).digest()


def _sign(secret: bytes, body: str) -> bytes:
    return hmac.new(_key(secret), body.encode(), hashlib.sha256).digest()


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _canonical(text: str) -> bool:
    """Whether `text` is unpadded base64url exactly as _encode writes it: no padding, no other
    alphabet, no stray bits in the last character (which decoding would ignore)."""
    if not _BASE64URL.fullmatch(text):
        return False
    try:
        return _encode(_decode(text)) == text
    except (ValueError, binascii.Error):
        return False
