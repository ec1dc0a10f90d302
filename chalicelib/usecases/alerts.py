"""Alert triage and suppressions: the queue newest first, confirm/dismiss/reopen with a note
kept in the alert's history, and suppressions with an expiry and a reason (DESIGN.md 4)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain.alerts import ALERT_STATUSES, Alert, AlertChange, Suppression
from chalicelib.domain.rule_sets import NAME
from chalicelib.domain.timeutil import TimestampError, format_timestamp, parse_timestamp
from chalicelib.domain.validation import ID_PATTERN, ID_RULE, text_error
from chalicelib.errors import ConflictError, FieldError, NotFoundError, ValidationError
from chalicelib.ports.store import AlertChanged, AlertStore
from chalicelib.usecases.analytics import (
    DEFAULT_PAGE,
    MAX_PAGE,
    _decode_cursor,
    _encode_cursor,
    _only,
    check_account,
)

MAX_NOTE = 1000  # characters of a triage note
MAX_REASON = 500  # characters of a suppression's reason
MAX_SUPPRESSIONS = 200  # in force per bank (DynamoDB keeps a bank's in one item)
MAX_SUPPRESSION = timedelta(days=366)  # how far ahead `until` may be: a snooze, not forever
TRIAGE_TRIES = 3  # re-reads when a concurrent triage changed the alert meanwhile
RULE_RULE = "must be a rule name: a lowercase letter, then up to 39 of a-z, 0-9 and _"
SUPPRESSION_ID_LENGTH = 20  # `sup_` and 16 hex digits


def _invalid(message: str, field: str, why: str) -> ValidationError:
    return ValidationError(message, [FieldError(field, why)])


def _check_rule(rule: object, field: str = "rule") -> str:
    if not isinstance(rule, str) or not NAME.fullmatch(rule):
        raise _invalid(f"invalid {field}", field, RULE_RULE)
    return rule


def _check_id(transaction_id: str) -> None:
    if not ID_PATTERN.fullmatch(transaction_id):
        raise _invalid("invalid transaction id", "transaction_id", ID_RULE)


def _scope(status: str | None, rule: str | None, account: str | None) -> str:
    """What a cursor is signed for: this listing with these filters, nothing else."""
    return "\x1f".join(("alerts", status or "", rule or "", account or ""))


def list_alerts(store: AlertStore, bank: str, params: Mapping[str, str] | None,
                cursor_secret: str) -> dict[str, Any]:
    """A page of the bank's alerts, newest transaction first, filtered, with a signed cursor."""
    params = params or {}
    _only(params, {"status", "rule", "account", "limit", "cursor"})
    status = params.get("status")
    if status is not None and status not in ALERT_STATUSES:
        raise _invalid("invalid status", "status", f"must be one of {', '.join(ALERT_STATUSES)}")
    rule = _check_rule(params["rule"]) if "rule" in params else None
    account = params.get("account")
    if account is not None:
        check_account(account)
    raw_limit = params.get("limit", str(DEFAULT_PAGE))
    if not (raw_limit.isascii() and raw_limit.isdigit() and len(raw_limit) <= 3
            and 1 <= int(raw_limit) <= MAX_PAGE):
        raise _invalid("invalid limit", "limit", f"must be an integer from 1 to {MAX_PAGE}")
    limit, scope = int(raw_limit), _scope(status, rule, account)
    after = (_decode_cursor(params["cursor"], cursor_secret, bank, scope)
             if "cursor" in params else None)
    rows = store.list_alerts(bank, status, rule, account, limit + 1, after)
    page = rows[:limit]
    more = len(rows) > limit
    return {"alerts": [a.to_json() for a in page],
            "next_cursor": (_encode_cursor(page[-1].transaction, cursor_secret, bank, scope)
                            if more else None)}


def _triage_body(body: Any) -> tuple[str, str]:
    if not isinstance(body, dict):
        raise ValidationError("the body must be a JSON object",
                              [FieldError("body", "must be a JSON object")])
    unknown = sorted(set(body) - {"status", "note"})
    if unknown:
        raise ValidationError("unknown fields", [FieldError(str(n)[:64], "unknown field")
                                                 for n in unknown])
    status, note = body.get("status"), body.get("note", "")
    errors = []
    if status not in ALERT_STATUSES:
        errors.append(FieldError("status", f"must be one of {', '.join(ALERT_STATUSES)}"))
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        errors.append(FieldError("note", f"must be a string of at most {MAX_NOTE} characters"))
    elif text_error(note):
        errors.append(FieldError("note", str(text_error(note))))
    if errors:
        raise ValidationError("invalid triage", errors)
    return str(status), str(note)


def triage(store: AlertStore, bank: str, transaction_id: str, body: Any, by: str,
           now: datetime) -> dict[str, Any]:
    """Confirm, dismiss or reopen the bank's alert on a transaction; the answer is the alert
    with its whole history (`by` is a key's id or a token's subject, never a secret)."""
    _check_id(transaction_id)
    status, note = _triage_body(body)
    change = AlertChange(status, note, by, format_timestamp(now))
    for _ in range(TRIAGE_TRIES):
        alert = _alert(store, bank, transaction_id)
        try:
            return store.change_alert(bank, alert, change).to_json()
        except AlertChanged:
            continue  # another analyst's step landed first: ours goes after it
    raise ConflictError(f"alert {transaction_id} keeps changing; retry")


def _alert(store: AlertStore, bank: str, transaction_id: str) -> Alert:
    alert = store.get_alert(bank, transaction_id)
    if alert is None:
        raise NotFoundError(f"no alert on transaction {transaction_id}")
    return alert


def get_alert(store: AlertStore, bank: str, transaction_id: str) -> dict[str, Any]:
    """One alert with its history."""
    _check_id(transaction_id)
    return _alert(store, bank, transaction_id).to_json()


# --- suppressions ------------------------------------------------------------------------

def _suppression_body(body: Any, now: datetime) -> tuple[str, str, str, str]:
    if not isinstance(body, dict):
        raise ValidationError("the body must be a JSON object",
                              [FieldError("body", "must be a JSON object")])
    unknown = sorted(set(body) - {"account", "rule", "until", "reason"})
    if unknown:
        raise ValidationError("unknown fields", [FieldError(str(n)[:64], "unknown field")
                                                 for n in unknown])
    errors: list[FieldError] = []
    account = body.get("account")
    try:
        if not isinstance(account, str):
            raise ValidationError("", [FieldError("account", "is required: a string")])
        check_account(account)
    except ValidationError as exc:
        errors += exc.details
    rule = body.get("rule")
    if not isinstance(rule, str) or not NAME.fullmatch(rule):
        errors.append(FieldError("rule", RULE_RULE))
    until = body.get("until")
    try:
        if not isinstance(until, str):
            raise TimestampError("is required: an RFC 3339 timestamp")
        moment = parse_timestamp(until)
        if moment <= now:
            raise TimestampError("must be in the future")
        if moment > now + MAX_SUPPRESSION:
            raise TimestampError("must be at most 366 days ahead")
    except TimestampError as exc:
        errors.append(FieldError("until", str(exc)))
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
        errors.append(FieldError("reason", f"is required: 1 to {MAX_REASON} characters"))
    elif text_error(reason):
        errors.append(FieldError("reason", str(text_error(reason))))
    if errors:
        raise ValidationError("invalid suppression", errors)
    return str(account), str(rule), format_timestamp(parse_timestamp(str(until))), str(reason)


def create_suppression(store: AlertStore, bank: str, body: Any, by: str,
                       now: datetime) -> dict[str, Any]:
    """A new suppression (201): until `until`, the rule flags the account's transactions
    marked suppressed, opening no alert and sending no event."""
    account, rule, until, reason = _suppression_body(body, now)
    if len(in_force(store, bank, now)) >= MAX_SUPPRESSIONS:
        raise ConflictError(f"the bank has {MAX_SUPPRESSIONS} suppressions in force; delete "
                            "one first")
    made = Suppression(bank, f"sup_{secrets.token_hex(8)}", account, rule, until, reason,
                       format_timestamp(now), by)
    store.put_suppression(made)
    return made.to_json()


def in_force(store: AlertStore, bank: str, now: datetime) -> list[Suppression]:
    return [s for s in store.list_suppressions(bank) if s.in_force(now)]


def list_suppressions(store: AlertStore, bank: str, params: Mapping[str, str] | None,
                      now: datetime) -> dict[str, Any]:
    """The bank's suppressions in force, oldest first (expired ones no longer apply)."""
    _only(params or {}, set())
    return {"suppressions": [s.to_json() for s in in_force(store, bank, now)]}


def delete_suppression(store: AlertStore, bank: str, suppression_id: str) -> None:
    """Remove a suppression of the bank (404 when it has none by that id)."""
    if not (suppression_id.startswith("sup_") and len(suppression_id) == SUPPRESSION_ID_LENGTH
            and all(c in "0123456789abcdef" for c in suppression_id[4:])):
        raise _invalid("invalid suppression id", "id", "must be an id POST /suppressions gave")
    if not store.delete_suppression(bank, suppression_id):
        raise NotFoundError(f"no suppression {suppression_id}")
