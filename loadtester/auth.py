"""Who may use a payload endpoint: the Go service's namespace regexp."""

from __future__ import annotations

import re

from loadtester.errors import Forbidden
from loadtester.models import WebhookPayload


class NamespaceAuthorizer:
    """Refuses payloads whose namespace does not match `-namespace-regexp` (when set)."""

    def __init__(self, pattern: str) -> None:
        self._regexp = re.compile(pattern) if pattern else None

    def check(self, payload: WebhookPayload) -> None:
        """Raise Forbidden unless the payload's namespace is served."""
        if self._regexp is not None and not self._regexp.search(payload.namespace):
            raise Forbidden("Forbidden")
