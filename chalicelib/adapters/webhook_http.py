"""Calling a webhook with the standard library: resolve, then POST to the checked address.

`resolve` is what `webhook_urls.check_url` is given (every address of the name); `post`
connects to the address the check returned, never resolving the name again (DNS rebinding),
while TLS still verifies the certificate against the URL's host name (SNI and hostname check)
and the Host header names it. Redirects are not followed: a 3xx is a failed attempt like any
other non-2xx. The answer's body is never read past a few bytes, nor stored.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time

from chalicelib.domain.webhook_urls import Target

USER_AGENT = "txn-stream-webhooks/1"
MAX_READ = 1024  # of the receiver's answer: enough to end the exchange, never stored


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` names (IPv4 and IPv6), as getaddrinfo answers."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a fixed address, verifying the certificate for the URL's host."""

    def __init__(self, address: str, host: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.address = address

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


class _PinnedHTTP(http.client.HTTPConnection):
    """Plain HTTP to a fixed address (the dev stage's local receivers only)."""

    def __init__(self, address: str, host: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def post(target: Target, body: bytes, headers: dict[str, str],
         timeout_s: float) -> tuple[int | None, str]:
    """POST `body`; (the HTTP status, "") or (None, why there was no answer). Connecting and
    sending get `timeout_s`; every later wait for the answer gets what was left of it then."""
    kind = _PinnedHTTPS if target.scheme == "https" else _PinnedHTTP
    conn = kind(target.address, target.host, target.port, timeout_s)
    started = time.monotonic()
    try:
        conn.request("POST", target.path, body=body, headers={
            "Content-Type": "application/json", "User-Agent": USER_AGENT, **headers})
        if conn.sock is not None:
            conn.sock.settimeout(max(0.01, timeout_s - (time.monotonic() - started)))
        response = conn.getresponse()
        response.read(MAX_READ)
        return response.status, "" if 200 <= response.status < 300 else f"HTTP {response.status}"
    except TimeoutError:
        return None, f"no answer within {timeout_s:g} s"
    except ssl.SSLError as exc:
        return None, f"TLS failed: {exc.reason or exc}"
    except (OSError, http.client.HTTPException) as exc:
        return None, f"{type(exc).__name__}: {exc}"[:300]
    finally:
        conn.close()
