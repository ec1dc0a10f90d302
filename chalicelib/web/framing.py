"""HTTP framing checks a front door makes before it reads a body, and log-safe request paths."""

from __future__ import annotations

import re
from collections.abc import Sequence
from http import HTTPStatus

from chalicelib.errors import AppError, BadRequestError, LengthRequiredError, PayloadTooLargeError
from chalicelib.observability import mask_account

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# On every answer: never sniffed, and (unless the answer sets its own Cache-Control, as the
# dashboard's page and files do) never stored by a browser or a proxy: API answers are per
# bank and per moment.
STANDARD_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
# The HTTP server's own refusals, by status: the error shape's Code for each
PROTOCOL_CODES = {400: "BadRequestError", 408: "RequestTimeoutError", 414: "UriTooLongError",
                  431: "RequestHeaderFieldsTooLargeError", 501: "NotImplementedError",
                  505: "HttpVersionNotSupportedError"}
MAX_LOGGED_PATH = 200
_ACCOUNT_SEGMENT = re.compile(r"(/accounts/)([^/]+)")


def framing_error(method: str, content_lengths: Sequence[str], transfer_encodings: Sequence[str],
                  max_bytes: int) -> AppError | None:
    """Why a request cannot be read safely, or None. Decided from the headers alone, so it is
    answered before the key check and before a byte of the body is read: a malformed or
    repeated Content-Length is 400, a body-bearing request without one 411, one above the
    limit 413; chunked bodies are refused (411) rather than misread, and a request carrying
    both headers (the request-smuggling shape) is 400."""
    if transfer_encodings:
        if content_lengths:
            return BadRequestError("send Content-Length or Transfer-Encoding, not both")
        return LengthRequiredError("chunked bodies are not accepted; send Content-Length")
    if not content_lengths:
        if method.upper() in BODY_METHODS:
            return LengthRequiredError("send a Content-Length header with the body")
        return None
    if len(set(content_lengths)) > 1:
        return BadRequestError("Content-Length is repeated with different values")
    text = content_lengths[0].strip()
    if not (text.isascii() and text.isdigit()):
        return BadRequestError("Content-Length must be a whole number of bytes")
    if len(text) > 19 or int(text) > max_bytes:  # (length first: int() of a huge text is slow)
        return PayloadTooLargeError(f"the body is larger than {max_bytes} bytes")
    return None


def protocol_error(status: int, message: str | None = None) -> AppError:
    """A refusal the HTTP server makes before the app sees the request, in the error shape."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "the request cannot be read"
    error = AppError(message or phrase)
    error.status, error.code = status, PROTOCOL_CODES.get(status, "BadRequestError")
    return error


def log_path(target: str) -> str:
    """A request target as an access log may keep it: no query string (a key pasted into a URL
    must not be logged), account numbers masked as the app's log masks them, and capped."""
    path, query, _ = target.partition("?")
    path = _ACCOUNT_SEGMENT.sub(lambda m: m.group(1) + mask_account(m.group(2)), path)
    path = path.encode("ascii", "backslashreplace").decode("ascii")
    if len(path) > MAX_LOGGED_PATH:
        path = path[:MAX_LOGGED_PATH] + f"...(+{len(path) - MAX_LOGGED_PATH} chars)"
    return path + ("?<query-dropped>" if query else "")
