"""Before sending: is the API there, does it take our key? Also the --verify snapshots."""

from __future__ import annotations

from typing import Any

from simulator.transport import Client, Endpoint, FatalError, GaveUp

HINT = "is the server running? (make serve, or chalice local)"


def _get(client: Client, path: str) -> tuple[int, Any]:
    try:
        reply = client.request("GET", path)
    except GaveUp as exc:
        reason = str(exc).split(": ", 1)[-1]
        raise FatalError(f"cannot reach {client.endpoint.url}: {reason}; {HINT}") from exc
    return reply.status, reply.body


def analytics(client: Client) -> dict[str, Any]:
    """GET /analytics, or a one-line FatalError (refused key, not this API)."""
    status, body = _get(client, "/analytics")
    if status in (401, 403):
        message = body.get("Message", "") if isinstance(body, dict) else ""
        what = "token" if "authorization" in client.headers else "key"
        raise FatalError(f"the API refused the {what} (HTTP {status}: {message}); pass "
                         "--api-key (TXN_API_KEY) or --bearer-token (TXN_BEARER_TOKEN)")
    if status != 200 or not isinstance(body, dict) or "totals" not in body:
        raise FatalError(f"GET {client.endpoint.url}/analytics answered HTTP {status}; "
                         "is --url the txn-stream API?")
    return body


def check(endpoint: Endpoint, api_key: str, timeout: float,
          bearer_token: str | None = None) -> dict[str, Any]:
    """Fail fast with one clear line; returns the analytics before sending."""
    # Few retries: a wrong URL should say so in a second, not after a long backoff.
    client = Client(endpoint, api_key, timeout=min(timeout, 10.0), retries=2,
                    bearer_token=bearer_token)
    try:
        status, body = _get(client, "/health")
        if status != 200 or not isinstance(body, dict) or body.get("status") != "ok":
            raise FatalError(f"GET {endpoint.url}/health answered HTTP {status}; "
                             "is --url the txn-stream API?")
        return analytics(client)
    finally:
        client.close()
