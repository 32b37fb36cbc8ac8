"""One error hierarchy; a middleware turns each into its status and a one-line body: plain
text, as the Go service's, or `{"error": "..."}` under /api/v1/.

    LoadtesterError (500)
    ├── BadRequest (400)
    │   └── InvalidPayload (400)
    ├── Unauthorized (401)  no token, or not the token of the payload's namespace
    ├── Forbidden (403)
    ├── NotFound (404)
    ├── Conflict (409)  the thing exists, but not in a state that allows the change
    ├── PayloadTooLarge (413)
    ├── UnsupportedMediaType (415)
    ├── TooManyTasks (429)
    ├── CallerGone (499)  the caller of a blocking check disconnected; nobody reads the answer
    ├── ServiceUnavailable (503)
    │   └── StoreUnavailable (503)  the state store (Redis) does not answer
    ├── TaskSetupFailed (500)  a blocking task's metadata is unusable (Go's Concord answer)
    └── CheckFailed (500)  a task ran and failed: Flagger counts it as a failed check
        └── BackgroundTaskFailed (500)
"""

from __future__ import annotations


class LoadtesterError(Exception):
    """Base of every error the service answers with; `str(error)` is the response body."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(LoadtesterError):
    status = 400


class InvalidPayload(BadRequest):
    """The body is not a webhook payload."""


class Unauthorized(LoadtesterError):
    status = 401


class Forbidden(LoadtesterError):
    status = 403


class NotFound(LoadtesterError):
    status = 404


class Conflict(LoadtesterError):
    status = 409


class PayloadTooLarge(LoadtesterError):
    status = 413


class UnsupportedMediaType(LoadtesterError):
    status = 415


class TooManyTasks(LoadtesterError):
    status = 429


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
