"""One error hierarchy; a middleware turns each into its status and a one-line body: plain
text, as the Go service's, or `{"error": "..."}` under /api/v1/.

    LoadtesterError (500)
    ├── BadRequest (400)
    │   └── InvalidPayload (400)
    ├── Unauthorized (401)  no token, or not the token of the payload's namespace
    │   └── InvalidCredentials (401)  a token or session given and wrong: counted per peer
    ├── Forbidden (403)
    ├── NotFound (404)
    ├── RequestTimeout (408)  the request did not arrive within -read-timeout; closes
    ├── Conflict (409)  the thing exists, but not in a state that allows the change
    ├── PayloadTooLarge (413)
    ├── UnsupportedMediaType (415)
    ├── TooManyTasks (429)
    ├── TooManyCanaries (429)  a caller named -max-canaries new canaries today
    ├── TooManyFailures (429)  a peer's credentials failed too often; carries Retry-After
    ├── CallerGone (499)  the caller of a blocking check disconnected; nobody reads the answer
    ├── ServiceUnavailable (503)
    │   └── StoreUnavailable (503)  the state store (Redis) does not answer
    ├── TaskSetupFailed (500)  a blocking task's metadata is unusable (Go's Concord answer)
    └── CheckFailed (500)  a task ran and failed: Flagger counts it as a failed check
        └── BackgroundTaskFailed (500)
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType


class LoadtesterError(Exception):
    """Base of every error the service answers with; `str(error)` is the response body."""

    status = 500
    headers: Mapping[str, str] = MappingProxyType({})  # added to the answer

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(LoadtesterError):
    status = 400


class InvalidPayload(BadRequest):
    """The body is not a webhook payload."""


class Unauthorized(LoadtesterError):
    status = 401


class InvalidCredentials(Unauthorized):
    """A token or session cookie was presented and is not valid (a guess, or a stale one).

    `scope`: the namespace a webhook's token was checked for ("" for the console's logins), so
    that one Canary's wrong token shuts out only its namespace's calls from Flagger's address.
    """

    def __init__(self, message: str, scope: str = "") -> None:
        super().__init__(message)
        self.scope = scope


class Forbidden(LoadtesterError):
    status = 403


class NotFound(LoadtesterError):
    status = 404


class RequestTimeout(LoadtesterError):
    """The request's body did not arrive within -read-timeout; the connection is closed."""

    status = 408
    headers = MappingProxyType({"Connection": "close"})


class Conflict(LoadtesterError):
    status = 409


class PayloadTooLarge(LoadtesterError):
    status = 413


class UnsupportedMediaType(LoadtesterError):
    status = 415


class TooManyTasks(LoadtesterError):
    status = 429


class TooManyCanaries(LoadtesterError):
    status = 429


class TooManyFailures(LoadtesterError):
    """The caller's address failed to authenticate too often: refused for `retry_after` s."""

    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(retry_after)}


class CallerGone(LoadtesterError):
    status = 499  # nginx's "client closed request": only ever seen in logs and metrics


class ServiceUnavailable(LoadtesterError):
    status = 503


class TaskSetupFailed(LoadtesterError):
    """A task that cannot be set up where the Go service answers 500 for it (Concord)."""


class CheckFailed(LoadtesterError):
    """A task ran and failed."""


class BackgroundTaskFailed(CheckFailed):
    """The previous run of a background task failed; it has been started again."""


class StoreUnavailable(ServiceUnavailable):
    """The state store did not answer in time; the request can be tried again."""
