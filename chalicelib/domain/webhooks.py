"""Webhooks as a bank registers them, their deliveries' log, and the signature receivers verify.

Pure: no I/O. The secret of a webhook is never stored: it is derived as
HMAC-SHA256(deployment key, bank + webhook id), shown once at registration and derived again
by the delivery worker (docs/webhooks.md says why). A delivery is signed as DESIGN.md section 4
says: `Txn-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass, replace
from typing import Any

from chalicelib.domain.alerts import ALERT_OPENED, Event
from chalicelib.errors import FieldError, ValidationError

EVENT_TYPES = (ALERT_OPENED,)  # what a webhook may subscribe to
PING = "ping"  # the test event (`POST /webhooks/{id}/test`): every webhook receives it
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
MAX_URL_CHARS = 2048
SIGNATURE_HEADER, EVENT_ID_HEADER = "Txn-Signature", "Txn-Event-Id"
DEFAULT_TOLERANCE_S = 300  # a receiver refuses signatures older than this (replays)


@dataclass(frozen=True)
class Webhook:
    """A bank's registered receiver (never its secret: that is derived when needed)."""

    bank: str
    id: str
    url: str
    events: tuple[str, ...]
    created_at: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "url": self.url, "events": list(self.events),
                "created_at": self.created_at}

    def wants(self, event_type: str) -> bool:
        return event_type == PING or event_type in self.events


@dataclass(frozen=True)
class Delivery:
    """One event to one webhook: the deliveries log's line, written after every attempt.
    `created` is the event's (so a redelivered event finds its own line); `first_attempt_at`
    starts the 24 h after which it is dead-lettered."""

    webhook_id: str
    event_id: str
    event_type: str
    created: str
    status: str = PENDING
    attempts: int = 0
    first_attempt_at: str | None = None
    last_attempt_at: str | None = None
    last_status: int | None = None  # the receiver's HTTP status, None: no answer
    last_error: str = ""
    next_retry_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "event_type": self.event_type,
                "created": self.created, "status": self.status, "attempts": self.attempts,
                "first_attempt_at": self.first_attempt_at,
                "last_attempt_at": self.last_attempt_at, "last_status": self.last_status,
                "last_error": self.last_error, "next_retry_at": self.next_retry_at}

    def attempted(self, at: str, status: int | None, error: str) -> Delivery:
        """This line after one more attempt (still pending: the caller settles it)."""
        return replace(self, attempts=self.attempts + 1, last_attempt_at=at,
                       first_attempt_at=self.first_attempt_at or at, last_status=status,
                       last_error=error[:300], next_retry_at=None)


WEBHOOK_ID = re.compile(r"wh_[0-9a-f]{24}")


def new_webhook_id() -> str:
    return f"wh_{secrets.token_hex(12)}"


def is_webhook_id(text: str) -> bool:
    """Whether `text` could be a webhook's id (anything else is not found, unread)."""
    return WEBHOOK_ID.fullmatch(text) is not None


def derive_secret(key: bytes, bank: str, webhook_id: str) -> str:
    """The webhook's signing secret: the same for the same key, bank and id, unguessable
    without the key (`whsec_` + 64 hex digits)."""
    mac = hmac.new(key, f"webhook-secret\x1f{bank}\x1f{webhook_id}".encode(), hashlib.sha256)
    return f"whsec_{mac.hexdigest()}"


def body_of(event: Event) -> bytes:
    """The raw body a receiver gets (and the signature covers): compact JSON."""
    return json.dumps(event.to_json(), separators=(",", ":"), sort_keys=True).encode()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `Txn-Signature` header's value for `body` sent at `timestamp` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, now: int,
           tolerance_s: int = DEFAULT_TOLERANCE_S) -> bool:
    """What a receiver does (docs/webhooks.md): the header parses, its time is within the
    tolerance, and one of its v1 signatures matches (compared in constant time)."""
    parts = [p.partition("=") for p in header.split(",")]
    stamps = [v for k, _, v in parts if k.strip() == "t"]
    signatures = [v.strip() for k, _, v in parts if k.strip() == "v1"]
    if len(stamps) != 1 or not stamps[0].strip().isdigit() or not signatures:
        return False
    timestamp = int(stamps[0])
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body).rpartition("v1=")[2]
    return any(hmac.compare_digest(expected, s) for s in signatures)


def ping_event(bank: str, webhook_id: str, created: str) -> Event:
    """A test event with a fresh id (each ping is its own delivery)."""
    return Event(f"evt_{secrets.token_hex(12)}", PING, bank, created, {"webhook_id": webhook_id})


def parse_registration(body: Any) -> tuple[str, tuple[str, ...]]:
    """`{"url", "events"}` checked for shape (the URL's safety is `webhook_urls`' job)."""
    if not isinstance(body, dict):
        raise ValidationError("send an object: {\"url\": \"https://...\", \"events\": "
                              "[\"alert.opened\"]}", [FieldError("body", "must be an object")])
    problems = [FieldError(k, "is not a field of a webhook") for k in body
                if k not in ("url", "events")]
    url, events = body.get("url"), body.get("events", list(EVENT_TYPES))
    if not isinstance(url, str) or not url:
        problems.append(FieldError("url", "is required: an https URL"))
    elif len(url) > MAX_URL_CHARS:
        problems.append(FieldError("url", f"is longer than {MAX_URL_CHARS} characters"))
    if not isinstance(events, list) or not events:
        problems.append(FieldError("events", f"must be a non-empty list of {list(EVENT_TYPES)}"))
    else:
        for i, name in enumerate(events):
            if name not in EVENT_TYPES:
                problems.append(FieldError(f"events[{i}]", f"must be one of {list(EVENT_TYPES)}"))
    if problems:
        raise ValidationError("the webhook is invalid", problems)
    assert isinstance(url, str) and isinstance(events, list)
    return url, tuple(dict.fromkeys(str(e) for e in events))
