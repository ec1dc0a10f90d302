"""The token port: what the caller check needs of a bearer-token verifier (Cognito on AWS)."""

from __future__ import annotations

from typing import Any, Protocol


class TokenRejected(Exception):
    """The token is not one this stage accepts; `reason` is a short fixed word for metrics."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class JwksUnavailable(Exception):
    """The identity provider's keys could not be fetched or read (a dependency outage)."""


class TokenVerifier(Protocol):
    """Checks a bearer token: its claims, or TokenRejected (401) / JwksUnavailable (503)."""

    @property
    def jwks_url(self) -> str: ...

    def verify(self, token: str) -> dict[str, Any]: ...
