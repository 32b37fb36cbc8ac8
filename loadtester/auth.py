"""Who may use a payload endpoint: `-namespace-regexp` and, with `-token-file`, tokens."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from loadtester.errors import Forbidden, InvalidCredentials, Unauthorized
from loadtester.goregexp import compile_go
from loadtester.models import WebhookPayload, is_namespace, quote

ANY_NAMESPACE = "*"
MIN_TOKEN_LENGTH = 16  # a shorter token can be guessed (even at 20 guesses a minute)
TOKEN_KEY = "token"  # metadata.token: the one place a Canary webhook can carry a secret


class TokenFileError(ValueError):
    """A token file that cannot be used; the message is one line, naming the file and line."""


@dataclass(frozen=True)
class Token:
    """One line of the token file."""

    namespace: str  # or ANY_NAMESPACE
    secret: bytes
    name: str = ""  # who holds it, for the audit of gate changes

    def __repr__(self) -> str:
        return f"Token(namespace={self.namespace!r}, name={self.name!r})"


@dataclass(frozen=True)
class Grant:
    """An authorised payload (metadata.token removed) and the name of the token that let it in."""

    payload: WebhookPayload
    caller: str = ""
    # whom -max-canaries counts against: the token's name, else its position in the file
    account: str = ""


def load_token_file(path: str) -> tuple[Token, ...]:
    """Parse lines of `NAMESPACE TOKEN [NAME]`; blank lines and `#` comments are skipped.

    Lines may end in LF or CRLF (a file written on Windows); a token needs MIN_TOKEN_LENGTH
    characters."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise TokenFileError(f"cannot read token file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise TokenFileError(f"token file {path}: not UTF-8 text") from None
    tokens: list[Token] = []
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        where = f"token file {path} line {number}"
        # never echo the line: it holds a token
        if len(fields) not in (2, 3):
            raise TokenFileError(f"{where}: expected NAMESPACE TOKEN [NAME], "
                                 f"found {len(fields)} fields")
        namespace = fields[0]
        if namespace != ANY_NAMESPACE and not is_namespace(namespace):
            raise TokenFileError(f"{where}: {quote(namespace)} is not a Kubernetes namespace "
                                 f"or {ANY_NAMESPACE}")
        if len(fields[1]) < MIN_TOKEN_LENGTH:
            raise TokenFileError(f"{where}: the token is shorter than {MIN_TOKEN_LENGTH} "
                                 f"characters")
        name = fields[2] if len(fields) == 3 else ""
        tokens.append(Token(namespace, fields[1].encode(), name))
    if not tokens:
        raise TokenFileError(f"token file {path} holds no token (lines of NAMESPACE TOKEN [NAME])")
    return tuple(tokens)


class Authorizer:
    """Checks the namespace regexp and, when tokens are configured, the caller's token."""

    def __init__(self, namespace_regexp: str, tokens: Sequence[Token] | None = None) -> None:
        self._regexp = compile_go(namespace_regexp) if namespace_regexp else None
        self._tokens = tuple(tokens) if tokens is not None else None

    @property
    def tokens(self) -> tuple[Token, ...] | None:
        """The token file's lines; None when -token-file is not set (everything is open)."""
        return self._tokens

    def authorize(self, payload: WebhookPayload, authorization: str | None,
                  *, header_only: bool = False) -> Grant:
        """The payload cleared to go on, or Unauthorized (401) / Forbidden (403).

        `authorization` is the request's Authorization header; `header_only` refuses a token
        carried in metadata (the gate changes, which Flagger never calls).
        """
        grant = Grant(payload)
        if self._tokens is not None:
            given = _given_token(payload, authorization, header_only)
            found = _caller(self._tokens, payload.namespace, given.encode())
            if found is None:
                raise InvalidCredentials(
                    f"invalid token for namespace {quote(payload.namespace)}", payload.namespace)
            grant = Grant(_without_token(payload), *found)
        if self._regexp is not None and not self._regexp.search(payload.namespace):
            raise Forbidden("Forbidden")
        return grant


def _given_token(payload: WebhookPayload, authorization: str | None, header_only: bool) -> str:
    """The token the caller presents: the Bearer header, else metadata.token (where allowed)."""
    namespace = quote(payload.namespace)
    if authorization is not None:
        scheme, _, given = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise Unauthorized("the Authorization header is not of type Bearer")
        return given.strip()
    if header_only:
        raise Unauthorized(f"gate changes need the Authorization header (Bearer) with a token "
                           f"of namespace {namespace}")
    given = (payload.metadata or {}).get(TOKEN_KEY, "")
    if not given:
        # no colon after the namespace: redaction would take `auth-x": …` for a header
        raise Unauthorized(f"no token for namespace {namespace} in metadata.token or the "
                           f"Authorization header (Bearer)")
    return given


def matching_tokens(tokens: Sequence[Token], secret: bytes) -> tuple[Token, ...]:
    """Every line of the token file whose token is `secret` (one token may be on several
    lines, one per namespace); each line is compared, in constant time."""
    matches = [token for token in tokens if hmac.compare_digest(token.secret, secret)]
    return tuple(matches)


def _caller(tokens: Sequence[Token], namespace: str, secret: bytes) -> tuple[str, str] | None:
    """The name on the token line that grants `secret` for `namespace` ('' if unnamed), and
    its account: the name, or `token N` (its position in the file) for an unnamed line."""
    caller: tuple[str, str] | None = None
    for number, token in enumerate(tokens, 1):  # compare every line: how long it takes says
        matches = hmac.compare_digest(token.secret, secret)  # nothing of which matched
        if matches and caller is None and token.namespace in (ANY_NAMESPACE, namespace):
            caller = (token.name, token.name or f"token {number}")
    return caller


def _without_token(payload: WebhookPayload) -> WebhookPayload:
    if payload.metadata is None or TOKEN_KEY not in payload.metadata:
        return payload
    metadata = {key: value for key, value in payload.metadata.items() if key != TOKEN_KEY}
    return payload.model_copy(update={"metadata": metadata})
