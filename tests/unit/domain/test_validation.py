"""Every refusal of the ingest path, by its exact field and message: each is the API contract
(openapi.yaml's error shape), what a client reads to fix its request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from chalicelib.domain.validation import parse_json, split_batch, validate_transaction
from chalicelib.errors import (
    AppError,
    BadRequestError,
    FieldError,
    PayloadTooLargeError,
    ValidationError,
)
from tests.support.factories import raw_tx

NOW = datetime(2026, 1, 10, 18, tzinfo=UTC)
EXAMPLE = "an RFC 3339 timestamp such as 2026-01-10T14:00:00Z"


def test_a_body_of_exactly_the_limit_is_read_and_one_byte_more_is_413() -> None:
    assert parse_json(b'{"a":1}', 7) == {"a": Decimal(1)}
    with pytest.raises(PayloadTooLargeError) as caught:
        parse_json(b'{"a":1}', 6)
    assert caught.value.message == "the body is larger than 6 bytes"


@pytest.mark.parametrize(("raw", "message", "details"), [
    (b"", "the body is empty; send a transaction or {\"transactions\": [...]}", []),
    (b" \n\t", "the body is empty; send a transaction or {\"transactions\": [...]}", []),
    (b'"\xff"', "the body is not UTF-8", []),
    (b"[NaN]", "NaN is not a number JSON allows", []),
    (b'{"a": 1, "b": {"c": 1, "c": 2}}', "the body repeats the key 'c'",
     [FieldError("c", "appears more than once")]),
])
def test_an_unreadable_body_is_refused_saying_why(
        raw: bytes, message: str, details: list[FieldError]) -> None:
    with pytest.raises(BadRequestError) as caught:
        parse_json(raw, 1000)
    assert (caught.value.message, caught.value.details) == (message, details)


def test_a_body_that_is_not_json_names_the_decoders_reason() -> None:
    with pytest.raises(BadRequestError) as caught:
        parse_json(b"{", 1000)
    assert caught.value.message.startswith("the body is not valid JSON: Expecting")


@pytest.mark.parametrize(("body", "kind", "message", "details"), [
    ([], BadRequestError,
     "the body must be a transaction object or {\"transactions\": [...]}", []),
    ({"transactions": [{}], "z": 1, "b": 2}, BadRequestError,
     "a batch carries only \"transactions\"",
     [FieldError("b", "unknown field"), FieldError("z", "unknown field")]),
    ({"transactions": {}}, BadRequestError, "\"transactions\" must be a list",
     [FieldError("transactions", "must be a list")]),
    ({"transactions": []}, BadRequestError, "the batch is empty",
     [FieldError("transactions", "must hold at least 1 item")]),
    ({"transactions": [{}, {}, {}]}, PayloadTooLargeError,
     "a batch holds at most 2 transactions", [FieldError("transactions", "has 3 items")]),
])
def test_a_malformed_batch_is_refused_naming_the_field(
        body: Any, kind: type[AppError], message: str, details: list[FieldError]) -> None:
    with pytest.raises(kind) as caught:
        split_batch(body, 2)
    assert (caught.value.message, caught.value.details) == (message, details)


def test_a_batch_of_the_limit_and_a_single_transaction_are_split() -> None:
    assert split_batch({"transactions": [{}, {}]}, 2) == ([{}, {}], True)
    assert split_batch({"id": "t1"}, 2) == ([{"id": "t1"}], False)


def test_an_item_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_transaction(["t1"], NOW)
    assert caught.value.message == "a transaction must be a JSON object"
    assert caught.value.details == [FieldError("transaction", "must be an object")]


def _without(*names: str) -> dict[str, Any]:
    body = raw_tx()
    for name in names:
        del body[name]
    return body


# (the body, every field error in the order the answer lists them)
REFUSALS: list[tuple[dict[str, Any], list[tuple[str, str]]]] = [
    (raw_tx(zeta=1, alpha=2), [("alpha", "unknown field"), ("zeta", "unknown field")]),
    (_without("id", "account", "amount", "type", "timestamp"),
     [("id", "is required"), ("account", "is required"), ("amount", "is required"),
      ("type", "is required"), ("timestamp", "is required")]),
    (raw_tx(id=7, account=["A"]), [("id", "must be a string"), ("account", "must be a string")]),
    (raw_tx(id="a/b", account="x" * 35),
     [("id", "must be 1-64 of A-Za-z0-9._:-, and not . or .."),
      ("account", "must be 1-34 of A-Za-z0-9._:-, and not . or ..")]),
    # a currency refused is read as USD for the amount's own check, and says so
    (raw_tx(currency="usd", amount="1.234"),
     [("currency", "must be a supported ISO 4217 code such as USD"),
      ("amount", "has more than 2 decimal places for USD")]),
    (raw_tx(currency=840), [("currency", "must be a supported ISO 4217 code such as USD")]),
    (raw_tx(currency="JPY", amount="1.5"), [("amount", "has more than 0 decimal places for JPY")]),
    (raw_tx(amount=None), [("amount", "is required")]),
    (raw_tx(type="CREDIT"), [("type", "must be \"credit\" or \"debit\"")]),
    (raw_tx(timestamp=1736517600), [("timestamp", "must be an RFC 3339 string")]),
    (raw_tx(timestamp="2026-13-01T00:00:00Z"),
     [("timestamp", f"is not a valid date and time: must be {EXAMPLE}")]),
    (raw_tx(timestamp="1969-12-31T23:59:59.999999Z"), [("timestamp", "must not be before 1970")]),
    (raw_tx(timestamp="2026-01-10T18:05:00.000001Z"),
     [("timestamp", "must not be more than 5 minutes ahead")]),
    (raw_tx(description=5, merchant="m" * 129, counterparty="c" * 129, channel="c" * 33),
     [("description", "must be a string"), ("merchant", "must be at most 128 characters"),
      ("counterparty", "must be at most 128 characters"),
      ("channel", "must be at most 32 characters")]),
    (raw_tx(description="d" * 257), [("description", "must be at most 256 characters")]),
    (raw_tx(channel="a\x00"),
     [("channel", "must not hold control or bidi-override characters (U+0000 at character 2)")]),
]


@pytest.mark.parametrize(("body", "expected"), REFUSALS)
def test_each_refused_field_is_named_with_its_message(
        body: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_transaction(body, NOW)
    assert caught.value.message == "the transaction is invalid"
    assert [(d.field, d.message) for d in caught.value.details] == expected


def test_the_edges_of_every_limit_are_accepted() -> None:
    body = raw_tx(timestamp="1970-01-01T00:00:00Z", description="d" * 256, merchant="m" * 128,
                  counterparty="c" * 128, channel="h" * 32, currency="EUR")
    tx = validate_transaction(body, NOW)
    assert (tx.description, tx.merchant, tx.counterparty, tx.channel) == (
        "d" * 256, "m" * 128, "c" * 128, "h" * 32)
    assert tx.timestamp == datetime(1970, 1, 1, tzinfo=UTC)
    ahead = validate_transaction(raw_tx(timestamp="2026-01-10T18:05:00Z"), NOW)
    assert ahead.timestamp == NOW + timedelta(minutes=5)


def test_an_accepted_transaction_carries_every_field_as_sent() -> None:
    body = raw_tx("t-9", account="ACC.1", amount="250.5", type="debit", currency="EUR",
                  timestamp="2026-01-10T15:30:00+01:00", description="rent",
                  merchant="Acme", counterparty="DE89", channel="card")
    assert validate_transaction(body, NOW).content() == {
        "id": "t-9", "account": "ACC.1", "amount": "250.50", "currency": "EUR", "type": "debit",
        "timestamp": "2026-01-10T14:30:00Z", "description": "rent", "merchant": "Acme",
        "counterparty": "DE89", "channel": "card"}
    assert validate_transaction(raw_tx(), NOW).currency == "USD"  # the default
