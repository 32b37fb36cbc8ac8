"""Thin HTTP handlers: parse, authorise, hand over, answer."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import hdrs, web

from loadtester.auth import TOKEN_KEY, Authorizer, load_token_file
from loadtester.errors import BadRequest, PayloadTooLarge, TooManyFailures, Unauthorized
from loadtester.forwarded import client_address
from loadtester.keys import AUTH_FAILURES, AUTHORIZER, SETTINGS
from loadtester.logs import get_logger
from loadtester.models import (
    WebhookPayload,
    may_hold_surrogates,
    parse_payload,
    quote,
    refuse_lone_surrogates,
    validate_payload,
)
from loadtester.offloop import is_large, parse
from loadtester.state.admission import GLOBAL_ACCOUNT

LOG_FIELDS = web.RequestKey("log_fields", dict[str, str])  # the canary, for the log line
CALLER = web.RequestKey("caller", str)  # the name on the token line that let the request in
ACCOUNT = web.RequestKey("account", str)  # whom -max-canaries counts the request's canary for


def client_peer(request: web.Request) -> tuple[str, str]:
    """The client's address (X-Forwarded-For only as far as -trusted-proxies vouch for it),
    and the socket's peer when a trusted proxy forwarded the call ("" otherwise)."""
    address = client_address(request.remote, request.headers.getall(hdrs.X_FORWARDED_FOR, ()),
                             request.app[SETTINGS].trusted_proxies)
    proxy = request.remote if request.remote and request.remote != address else ""
    return address, proxy


async def read_payload(request: web.Request, *, header_token: bool = False,
                       needs_metadata: bool = False,
                       names_required: bool = False) -> WebhookPayload:
    """The request's webhook payload, authorised, with metadata.token removed.

    Checked in the Go service's order, so that its answer wins wherever it gives one: the JSON
    (400), the namespace regexp (403), then with `needs_metadata` (POST /) its
    `400 metadata not found in payload`; our own checks (tokens, names, surrogates) follow.
    `header_token`: a token, when tokens are required, must come in the Authorization header.
    """
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[SETTINGS].max_body_bytes
        raise PayloadTooLarge(f"request body larger than {limit} bytes") from None
    large = is_large(len(body))  # then parsed and checked beside the event loop
    payload = await parse(request.app, large, parse_payload, body)
    request[LOG_FIELDS] = payload.log_fields()
    check_text = may_hold_surrogates(body)
    if check_text:  # the one string the authorizer encodes: no lone surrogate may reach it
        refuse_lone_surrogates({TOKEN_KEY: (payload.metadata or {}).get(TOKEN_KEY, "")})
    if request.app[AUTHORIZER].tokens is not None:
        refuse_throttled(request, payload.namespace)
    try:
        grant = request.app[AUTHORIZER].authorize(
            payload, request.headers.get(hdrs.AUTHORIZATION), header_only=header_token
        )
    except Unauthorized as error:
        get_logger(**payload.log_fields()).warning(
            "unauthorized", path=request.path, remote=request.remote, reason=error.message
        )
        raise
    if needs_metadata and not payload.metadata:
        raise BadRequest("metadata not found in payload")
    await parse(request.app, large, validate_payload, grant.payload,
                names_required=names_required, check_text=check_text)
    request[CALLER] = grant.caller
    request[ACCOUNT] = grant.account or GLOBAL_ACCOUNT
    return grant.payload


def refuse_throttled(request: web.Request, scope: str = "") -> None:
    """TooManyFailures when this peer failed too often (for `scope`, a webhook's namespace;
    see InvalidCredentials), checked before its token is, so a right one tells a guesser
    nothing."""
    throttle = request.app[AUTH_FAILURES]
    if throttle.shutting_out():
        wait = throttle.retry_after(client_peer(request)[0], scope)
        if wait:
            what = (f"token checks for namespace {quote(scope)}" if scope
                    else "logins or token checks")
            raise TooManyFailures(f"too many failed {what} from this address; "
                                  f"try again in {wait} s", wait)


async def authorization(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx resource: the authorizer, with the token file read once at start-up."""
    settings = app[SETTINGS]
    tokens = load_token_file(settings.token_file) if settings.token_file else None
    app[AUTHORIZER] = Authorizer(settings.namespace_regexp, tokens)
    if tokens is not None:
        get_logger().info("tokens required", token_file=settings.token_file,
                          tokens=len(tokens))
    yield
