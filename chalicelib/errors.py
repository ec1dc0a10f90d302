"""Domain errors: each knows its HTTP status and code; app.py renders them in one place."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One problem with one field of the input."""

    field: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class AppError(Exception):
    """Base of every error the API answers with; never a 5xx unless the service is down."""

    status = 400
    code = "BadRequestError"

    def __init__(self, message: str, details: list[FieldError] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []
        self.headers = headers or {}

    def to_json(self) -> dict[str, object]:
        return {"Code": self.code, "Message": self.message,
                "Details": [d.to_json() for d in self.details]}


class BadRequestError(AppError):
    """The body is not JSON, or not an object or a batch."""


class ValidationError(AppError):
    """Fields of a transaction break the schema; `details` names every one."""

    code = "ValidationError"


class ConflictError(AppError):
    """The id is taken by a transaction with other content."""

    status = 409
    code = "ConflictError"


class NotFoundError(AppError):
    """No such transaction or account for this bank."""

    status = 404
    code = "NotFoundError"


class UnsupportedMediaTypeError(AppError):
    """The request's Content-Type is not JSON."""

    status = 415
    code = "UnsupportedMediaType"


class PayloadTooLargeError(AppError):
    """The body, or the batch, is larger than allowed."""

    status = 413
    code = "RequestEntityTooLargeError"


class TotalTooLargeError(AppError):
    """A write would take a money total past what the store holds exactly: refused whole
    (never rounded); the limits are far past any bank's volume (see the README)."""

    status = 422
    code = "TotalTooLargeError"


class UnauthorizedError(AppError):
    """No credential proves who is calling: no API key or bearer token, or a token refused."""

    status = 401
    code = "UnauthorizedError"


class ForbiddenError(AppError):
    """The caller may not do this: an unknown or revoked API key, a token without the scope
    or the bank the request needs."""

    status = 403
    code = "ForbiddenError"


class LengthRequiredError(AppError):
    """A body-bearing request without a Content-Length (the local server's front door)."""

    status = 411
    code = "LengthRequiredError"


class MethodNotAllowedError(AppError):
    """The route exists, but not with this method."""

    status = 405
    code = "MethodNotAllowedError"


class InternalServerError(AppError):
    """A bug or a misconfiguration: logged with its traceback summary and counted."""

    status = 500
    code = "InternalServerError"


class ServiceUnavailableError(AppError):
    """The store is throttling or unreachable after retries; the client should retry later."""

    status = 503
    code = "ServiceUnavailableError"

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after_s)})


class StatementFormatError(AppError):
    """A statement file that cannot be read: `details` name the line (MT940) or the element
    path (camt XML) of each problem; nothing of the file is stored."""

    code = "StatementFormatError"


class StatementBalanceError(AppError):
    """A statement whose opening balance plus credits minus debits is not its closing balance;
    `details` give the figures of each such statement; nothing of the file is stored."""

    status = 422
    code = "StatementBalanceError"
