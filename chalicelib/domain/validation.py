"""Turning a raw request body into transactions, reporting every field error at once."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from chalicelib.domain.model import OPTIONAL_TEXT_FIELDS, Transaction
from chalicelib.domain.money import MINOR_UNITS, AmountError, parse_amount
from chalicelib.domain.timeutil import TimestampError, parse_timestamp
from chalicelib.errors import BadRequestError, FieldError, PayloadTooLargeError, ValidationError

# Ids and accounts are path segments of the read routes (`/transactions/{id}`,
# `/accounts/{account}`): `.` and `..` are not, as every client (browsers, curl, API Gateway)
# resolves them away (RFC 3986 5.2.4), so such an id could be stored but never read back.
ID_PATTERN = re.compile(r"(?!\.\.?\Z)[A-Za-z0-9._:-]{1,64}")
ACCOUNT_PATTERN = re.compile(r"(?!\.\.?\Z)[A-Za-z0-9._:-]{1,34}")
ID_RULE = "must be 1-64 of A-Za-z0-9._:-, and not . or .."
ACCOUNT_RULE = "must be 1-34 of A-Za-z0-9._:-, and not . or .."
REQUIRED = ("id", "account", "amount", "type", "timestamp")
KNOWN = frozenset((*REQUIRED, "currency", *OPTIONAL_TEXT_FIELDS))
TEXT_LIMITS = {"description": 256, "merchant": 128, "counterparty": 128, "channel": 32}
MAX_FUTURE = timedelta(minutes=5)
# The one rule for text (every text field on every path: transactions, sync or async, and any
# other input that carries free text calls `text_error`). Refused, exactly: C0 controls
# U+0000-U+001F, DEL U+007F, C1 controls U+0080-U+009F (NEL U+0085 among them), the bidi
# embeddings and overrides U+202A-U+202E and isolates U+2066-U+2069 (they reorder what a reader
# of the dashboard or an export sees: "Trojan Source"), and lone surrogates U+D800-U+DFFF (not
# text: no UTF-8 form). Everything else is kept as sent, including the implicit marks U+200E,
# U+200F and U+061C (they reorder nothing on their own), joiners, U+2028/U+2029 and U+FEFF.
REFUSED_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def text_error(value: str) -> str | None:
    """Why a text value is refused (its first refused character, by code point), or None."""
    found = REFUSED_TEXT.search(value)
    if found is None:
        return None
    return (f"must not hold control or bidi-override characters (U+{ord(found.group()):04X}"
            f" at character {found.start() + 1})")
MAX_DEPTH_MESSAGE = "the body is nested too deeply"


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for key, value in pairs:
        if key in body:
            raise BadRequestError(f"the body repeats the key {key!r}",
                                  [FieldError(key, "appears more than once")])
        body[key] = value
    return body


def _reject_constant(name: str) -> Any:
    raise BadRequestError(f"{name} is not a number JSON allows")


def parse_json(raw: bytes, max_bytes: int) -> Any:
    """Decode the body exactly: numbers become Decimal, NaN and repeated keys are refused."""
    if len(raw) > max_bytes:
        raise PayloadTooLargeError(f"the body is larger than {max_bytes} bytes")
    if not raw.strip():
        raise BadRequestError("the body is empty; send a transaction or {\"transactions\": [...]}")
    try:
        text = raw.decode("utf-8")
        return json.loads(text, parse_float=Decimal, parse_int=Decimal,
                          parse_constant=_reject_constant, object_pairs_hook=_no_duplicate_keys)
    except RecursionError as exc:
        raise BadRequestError(MAX_DEPTH_MESSAGE) from exc
    except UnicodeDecodeError as exc:
        raise BadRequestError("the body is not UTF-8") from exc
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise BadRequestError(f"the body is not valid JSON: {exc}") from exc


def split_batch(body: Any, max_batch: int) -> tuple[list[Any], bool]:
    """Return the items and whether the body was a batch (`{"transactions": [...]}`)."""
    if not isinstance(body, dict):
        raise BadRequestError("the body must be a transaction object or {\"transactions\": [...]}")
    if "transactions" not in body:
        return [body], False
    extra = sorted(set(body) - {"transactions"})
    if extra:
        raise BadRequestError("a batch carries only \"transactions\"",
                              [FieldError(name, "unknown field") for name in extra])
    items = body["transactions"]
    if not isinstance(items, list):
        raise BadRequestError("\"transactions\" must be a list",
                              [FieldError("transactions", "must be a list")])
    if not items:
        raise BadRequestError("the batch is empty",
                              [FieldError("transactions", "must hold at least 1 item")])
    if len(items) > max_batch:
        raise PayloadTooLargeError(f"a batch holds at most {max_batch} transactions",
                                   [FieldError("transactions", f"has {len(items)} items")])
    return items, True


def _text(raw: dict[str, Any], name: str, pattern: re.Pattern[str], errors: list[FieldError],
          rule: str) -> str:
    value = raw.get(name)
    if value is None:
        errors.append(FieldError(name, "is required"))
    elif not isinstance(value, str):
        errors.append(FieldError(name, "must be a string"))
    elif not pattern.fullmatch(value):
        errors.append(FieldError(name, rule))
    else:
        return value
    return ""


def _optional_text(raw: dict[str, Any], name: str, errors: list[FieldError]) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    limit = TEXT_LIMITS[name]
    if not isinstance(value, str):
        errors.append(FieldError(name, "must be a string"))
    elif len(value) > limit:
        errors.append(FieldError(name, f"must be at most {limit} characters"))
    elif (problem := text_error(value)) is not None:
        errors.append(FieldError(name, problem))
    else:
        return value
    return None


def validate_transaction(raw: Any, now: datetime) -> Transaction:
    """Check one item against the v1 schema; raise ValidationError naming every bad field."""
    if not isinstance(raw, dict):
        raise ValidationError("a transaction must be a JSON object",
                              [FieldError("transaction", "must be an object")])
    errors = [FieldError(name, "unknown field") for name in sorted(set(raw) - KNOWN)]
    tx_id = _text(raw, "id", ID_PATTERN, errors, ID_RULE)
    account = _text(raw, "account", ACCOUNT_PATTERN, errors, ACCOUNT_RULE)
    currency = raw.get("currency", "USD")
    if not isinstance(currency, str) or currency not in MINOR_UNITS:
        errors.append(FieldError("currency", "must be a supported ISO 4217 code such as USD"))
        currency = "USD"
    amount = Decimal(0)
    if raw.get("amount") is None:
        errors.append(FieldError("amount", "is required"))
    else:
        try:
            amount = parse_amount(raw["amount"], currency)
        except AmountError as exc:
            errors.append(FieldError("amount", str(exc)))
    kind = raw.get("type")
    if kind is None:
        errors.append(FieldError("type", "is required"))
    elif kind not in ("credit", "debit"):
        errors.append(FieldError("type", "must be \"credit\" or \"debit\""))
    moment = now
    stamp = raw.get("timestamp")
    if stamp is None:
        errors.append(FieldError("timestamp", "is required"))
    elif not isinstance(stamp, str):
        errors.append(FieldError("timestamp", "must be an RFC 3339 string"))
    else:
        try:
            moment = parse_timestamp(stamp)
            if moment.year < 1970:
                errors.append(FieldError("timestamp", "must not be before 1970"))
            elif moment > now + MAX_FUTURE:
                errors.append(FieldError("timestamp", "must not be more than 5 minutes ahead"))
        except TimestampError as exc:
            errors.append(FieldError("timestamp", str(exc)))
    description, merchant, counterparty, channel = (
        _optional_text(raw, name, errors) for name in OPTIONAL_TEXT_FIELDS)
    if errors:
        raise ValidationError("the transaction is invalid", errors)
    return Transaction(id=tx_id, account=account, amount=amount, currency=currency,
                       type=str(kind), timestamp=moment, description=description,
                       merchant=merchant, counterparty=counterparty, channel=channel)
