"""HTTP to the API over keep-alive connections, retrying 429, 5xx and connection errors."""

from __future__ import annotations

import http.client
import json
import random
import socket
import threading
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from chalicelib.support.backoff import Backoff

BACKOFF_BASE_S = 0.05
BACKOFF_CAP_S = 2.0
RETRY_AFTER_CAP_S = 10.0


class FatalError(Exception):
    """Nothing sensible can be sent (bad URL, nothing listening, key refused): one line."""


class GaveUp(Exception):
    """A request still failed after every retry. `maybe_delivered`: some attempt may have
    reached the server (a timeout or a hang-up after sending, a 5xx), so what it carried may
    be stored even though no answer said so."""

    def __init__(self, message: str, maybe_delivered: bool = False) -> None:
        super().__init__(message)
        self.maybe_delivered = maybe_delivered


@dataclass(frozen=True)
class Endpoint:
    """Where the API lives: scheme, host, port and the base path (API Gateway's stage)."""

    scheme: str
    host: str
    port: int
    base: str

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}{self.base}"


def parse_url(url: str) -> Endpoint:
    """Check the URL up front so a typo is one clear line, not a traceback."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FatalError(f"--url {url!r} is not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FatalError(f"--url {url!r} is not an http(s) URL such as http://127.0.0.1:8000")
    default = 443 if parts.scheme == "https" else 80
    return Endpoint(parts.scheme, parts.hostname, port or default, parts.path.rstrip("/"))


@dataclass(frozen=True)
class Reply:
    """An answer: status, parsed JSON (None if not JSON), attempts used, and whether an
    earlier attempt may have reached the server (so `duplicate` can mean "ours")."""

    status: int
    body: Any
    attempts: int
    maybe_delivered: bool
    location: str | None = None  # the Location header (asynchronous answers)


def describe(exc: BaseException) -> str:
    """A short human reason for a transport failure."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "unknown host"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


class Client:
    """One keep-alive connection (use one per thread) with retries and backoff."""

    def __init__(self, endpoint: Endpoint, api_key: str, timeout: float = 30.0,
                 retries: int = 6, stop: threading.Event | None = None,
                 seed: int | None = None, bearer_token: str | None = None) -> None:
        self.endpoint = endpoint
        # One credential: the API refuses a request carrying both (400).
        credential = ({"authorization": f"Bearer {bearer_token}"} if bearer_token
                      else {"x-api-key": api_key})
        self.headers = {**credential, "content-type": "application/json",
                        "accept": "application/json"}
        self.timeout = timeout
        self.retries = retries
        self.stop = stop or threading.Event()
        # the project's one jitter formula, drawn from this client's own generator: one per
        # sender thread, so threads never share a generator (seeded when a test needs it)
        self.jitter = Backoff(BACKOFF_BASE_S, BACKOFF_CAP_S, random=random.Random(seed).random)
        self.conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self.conn is None:
            cls = (http.client.HTTPSConnection if self.endpoint.scheme == "https"
                   else http.client.HTTPConnection)
            self.conn = cls(self.endpoint.host, self.endpoint.port, timeout=self.timeout)
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def backoff(self, attempt: int, retry_after: str | None) -> float:
        """Full jitter (random in [0, base * 2^attempt], capped), or the server's Retry-After."""
        delay = self.jitter.delay(attempt)
        if retry_after and retry_after.strip().isdigit():
            delay = max(delay, min(float(retry_after), RETRY_AFTER_CAP_S))
        return delay

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Reply:
        """Send, retrying what is safe to retry (a transaction id makes a POST idempotent)."""
        sent_headers = {**self.headers, **headers} if headers else self.headers
        delivered = False
        reason = "not sent"
        for attempt in range(self.retries + 1):
            retry_after = None
            try:
                conn = self._connection()
                conn.request(method, self.endpoint.base + path, body=body, headers=sent_headers)
                response = conn.getresponse()
                data = response.read()
            except ConnectionRefusedError as exc:  # never reached the server
                self.close()
                reason = describe(exc)
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                reason, delivered = describe(exc), True
            else:
                if response.will_close:
                    self.close()
                if response.status != 429 and response.status < 500:
                    return Reply(response.status, _json(data), attempt + 1, delivered,
                                 response.getheader("location"))
                reason = f"HTTP {response.status} {_message(data)}".strip()
                delivered = delivered or response.status != 429
                retry_after = response.getheader("retry-after")
            if attempt == self.retries or self.stop.wait(self.backoff(attempt, retry_after)):
                break
        raise GaveUp(f"{method} {path}: {reason} (after {attempt + 1} attempts)", delivered)


def _json(data: bytes) -> Any:
    try:
        return json.loads(data, parse_float=Decimal) if data else None
    except ValueError:
        return None


def _message(data: bytes) -> str:
    body = _json(data)
    if isinstance(body, dict) and "Message" in body:
        return str(body["Message"])[:200]
    return ""
