"""Read models: analytics, account summaries, history pages; each reads a bounded set of rows."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from chalicelib.domain.aggregates import ACCOUNT, BANK_KEY, AggKey, Bucket, CurrencyTotals, merged
from chalicelib.domain.model import Transaction
from chalicelib.domain.money import quantize, subtract, to_text
from chalicelib.domain.timeutil import (
    TimestampError,
    ceil_hour,
    floor_hour,
    format_timestamp,
    hour_key,
    parse_timestamp,
    sort_key,
)
from chalicelib.domain.validation import ACCOUNT_PATTERN, ACCOUNT_RULE, ID_PATTERN, ID_RULE
from chalicelib.errors import FieldError, NotFoundError, ValidationError
from chalicelib.ports.store import LedgerStore

RECENT_FLAGGED = 20
# `until` is widened up to the hour and its last hour is the one before it: both must stay in
# the calendar, so `until` is 0001-01-01T01:00Z to 9999-12-31T23:00Z once widened (`since`
# only ever floors, which cannot leave it).
FIRST_UNTIL = datetime(1, 1, 1, 1, tzinfo=UTC)
LAST_UNTIL = datetime(9999, 12, 31, 23, tzinfo=UTC)
CURSOR_FORM = re.compile(r"[A-Za-z0-9_-]{1,200}\.[A-Za-z0-9_-]{43}")
SORT_KEY_FORM = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\d{6}")
MAX_PAGE = 100
DEFAULT_PAGE = 20


@dataclass(frozen=True)
class Window:
    """A half-open window [since, until) on hour boundaries; None is open-ended."""

    since: datetime | None = None
    until: datetime | None = None

    def to_json(self) -> dict[str, str | None]:
        return {"since": _text(self.since), "until": _text(self.until)}


def _text(moment: datetime | None) -> str | None:
    return None if moment is None else format_timestamp(moment)


def _key(moment: datetime | None) -> str | None:
    return None if moment is None else sort_key(format_timestamp(moment))


def _only(params: Mapping[str, str], allowed: set[str]) -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValidationError("unknown query parameters",
                              [FieldError(n, "unknown query parameter") for n in unknown])


def parse_window(params: Mapping[str, str] | None) -> Window:
    """`since`/`until` query parameters, widened to whole hours (the buckets' resolution)."""
    params = params or {}
    _only(params, {"since", "until"})
    bounds: dict[str, datetime] = {}
    errors: list[FieldError] = []
    for name in ("since", "until"):
        if name in params:
            try:
                bounds[name] = parse_timestamp(params[name])
            except TimestampError as exc:
                errors.append(FieldError(name, str(exc)))
    since = floor_hour(bounds["since"]) if "since" in bounds else None
    until = None
    if "until" in bounds:
        until = ceil_hour(bounds["until"]) if bounds["until"] <= LAST_UNTIL else None
        if until is None or until < FIRST_UNTIL:
            errors.append(FieldError("until", "must be from 0001-01-01T01:00:00Z to "
                                              "9999-12-31T23:00:00Z once widened to the hour"))
    if since and until and since >= until:
        errors.append(FieldError("until", "must be after since"))
    if errors:
        raise ValidationError("the analytics window is invalid", errors)
    return Window(since, until)


def _totals_json(currency: str, totals: CurrencyTotals) -> dict[str, Any]:
    def text(amount: Decimal) -> str:
        return to_text(quantize(amount, currency))

    return {"credits": {"count": totals.credit_count, "total": text(totals.credit_total)},
            "debits": {"count": totals.debit_count, "total": text(totals.debit_total)},
            "net": text(subtract(totals.credit_total, totals.debit_total)),
            "max_transaction": totals.max and totals.max.to_json()}


def bank_analytics(store: LedgerStore, bank: str, window: Window,
                   now: datetime) -> dict[str, Any]:
    """Totals by currency, the largest transaction, flags; from aggregates, never a scan."""
    until = window.until or ceil_hour(now) + timedelta(hours=1)
    if window.since is not None and window.since >= until:
        # Checked here, before any read: an inverted range is a query DynamoDB refuses
        # (ValidationException), where SQLite would quietly answer nothing.
        raise ValidationError("the analytics window is invalid", [FieldError(
            "since", f"must be before until, which defaults to {format_timestamp(until)}"
                     " (the end of the hour after this one)")])
    everything = store.get_buckets(bank, [BANK_KEY]).get(BANK_KEY, Bucket())
    if window.since is None and window.until is None:
        bucket = everything
    else:
        first = hour_key(window.since) if window.since else "0000"
        bucket = merged(store.get_hour_buckets(bank, first, hour_key(until - timedelta(hours=1))))
    recent = store.recent_flagged(bank, _key(window.since), _key(window.until), RECENT_FLAGGED)
    return {
        "count": bucket.count,
        "accounts": everything.accounts,
        "totals": {c: _totals_json(c, t) for c, t in sorted(bucket.currencies.items())},
        "flags": {"count": bucket.flagged, "by_rule": dict(sorted(bucket.flags.items())),
                  "recent": [t.to_json() for t in recent]},
        "window": window.to_json(),
        "generated_at": format_timestamp(now.replace(microsecond=0)),
    }


def check_account(account: str) -> None:
    """Reject a path's account that could never have been stored."""
    if not ACCOUNT_PATTERN.fullmatch(account):
        raise ValidationError("invalid account", [FieldError("account", ACCOUNT_RULE)])


def account_summary(store: LedgerStore, bank: str, account: str) -> dict[str, Any]:
    """An account's count, totals by currency, net, flags and last activity."""
    check_account(account)
    key = AggKey(ACCOUNT, account)
    bucket = store.get_buckets(bank, [key]).get(key)
    if bucket is None:
        raise NotFoundError(f"account {account} has no transactions")
    return {"account": account, "count": bucket.count,
            "totals": {c: _totals_json(c, t) for c, t in sorted(bucket.currencies.items())},
            "flags": {"count": bucket.flagged, "by_rule": dict(sorted(bucket.flags.items()))},
            "last_activity": bucket.last_activity}


def get_transaction(store: LedgerStore, bank: str, tx_id: str) -> dict[str, Any]:
    """One stored transaction as the API shows it."""
    if not ID_PATTERN.fullmatch(tx_id):
        raise ValidationError("invalid id", [FieldError("id", ID_RULE)])
    tx = store.get_transaction(bank, tx_id)
    if tx is None:
        raise NotFoundError(f"transaction {tx_id} not found")
    return tx.to_json()


def _cursor_mac(secret: str, bank: str, account: str, payload: str) -> str:
    """HMAC-SHA256 over the bank, the account and the payload: a cursor is valid only for the
    history page it was made for, and only on a deployment holding the same secret."""
    message = "\x1f".join((bank, account, payload)).encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _encode_cursor(tx: Transaction, secret: str, bank: str, account: str) -> str:
    raw = json.dumps([sort_key(tx.timestamp_text), tx.id], separators=(",", ":"))
    payload = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    return f"{payload}.{_cursor_mac(secret, bank, account, payload)}"


def _decode_cursor(cursor: str, secret: str, bank: str, account: str) -> tuple[str, str]:
    """The (time key, id) position a cursor this API signed holds; anything else is a 400.
    The form is checked before the signature, and the signature before the payload is read."""
    invalid = ValidationError("invalid cursor",
                              [FieldError("cursor", "is not a cursor this API gave")])
    if not (cursor.isascii() and CURSOR_FORM.fullmatch(cursor)):
        raise invalid
    payload, mac = cursor.split(".")
    if not hmac.compare_digest(mac, _cursor_mac(secret, bank, account, payload)):
        raise invalid
    try:
        position = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError) as exc:  # only a leaked secret gets here
        raise invalid from exc
    if not (isinstance(position, list) and len(position) == 2
            and all(isinstance(part, str) for part in position)
            and SORT_KEY_FORM.fullmatch(position[0]) and ID_PATTERN.fullmatch(position[1])):
        raise invalid
    return position[0], position[1]


def account_history(store: LedgerStore, bank: str, account: str,
                    params: Mapping[str, str] | None, cursor_secret: str) -> dict[str, Any]:
    """A page of an account's transactions, newest first, with an opaque next cursor."""
    check_account(account)
    params = params or {}
    _only(params, {"limit", "cursor"})
    raw_limit = params.get("limit", str(DEFAULT_PAGE))
    if not (raw_limit.isascii() and raw_limit.isdigit() and len(raw_limit) <= 3
            and 1 <= int(raw_limit) <= MAX_PAGE):
        raise ValidationError("invalid limit", [FieldError("limit", f"must be 1 to {MAX_PAGE}")])
    limit = int(raw_limit)
    after = (_decode_cursor(params["cursor"], cursor_secret, bank, account)
             if "cursor" in params else None)
    rows = store.account_transactions(bank, account, limit + 1, after)
    page = rows[:limit]
    more = len(rows) > limit
    return {"items": [t.to_json() for t in page],
            "next_cursor": (_encode_cursor(page[-1], cursor_secret, bank, account)
                            if more else None)}
