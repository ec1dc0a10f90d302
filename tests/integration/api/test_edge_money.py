"""Amounts that are not exactly representable in the currency's minor units are refused (400),
whatever their notation, single or batched, on every store, and nothing is stored."""

from __future__ import annotations

import json
from decimal import Decimal, Inexact, Rounded

import pytest

from chalicelib.domain.money import parse_amount, quantize
from tests.conftest import Api
from tests.support.edges import check_error_shape, snapshot, store_api

__all__ = ["store_api"]

# JSON numbers, written into the body as they are (not as strings)
NOT_MONEY_NUMBERS = [
    "1e-999999", "1E-999999", "5e-1000000", "0.001", "1E-3", "1.001", "0.0000000001",
    "1e-3", "1e999999999", "1E+999999999", "1" + "0" * 5000, "1." + "0" * 5000 + "1",
    "0." + "0" * 400 + "1", "1e-1000028", "1e-1000030", "3E-1999999", "1000000000000",
    "999999999999.999",
    "1e12", "12345678901234567890", "-0", "0e-5", "0E+7", "-1e-999999",
]
NOT_MONEY_STRINGS = ["0.001", "0.0000000001", "1.001", "1000000000000", "00.001"]
JPY_NOT_MONEY = ["0.5", "1e-1", "1.1", "1e-999999"]


def _body(amount_json: str, currency: str = "USD", tx_id: str = "m1") -> str:
    # by hand: the amount goes in as written, a raw JSON number
    return ('{"id":"' + tx_id + '","account":"A1","amount":' + amount_json + ',"currency":"'
            + currency + '","type":"credit","timestamp":"2026-01-10T14:00:00Z"}')


CASES = ([(n, "USD") for n in NOT_MONEY_NUMBERS] + [(json.dumps(s), "USD")
         for s in NOT_MONEY_STRINGS] + [(n, "JPY") for n in JPY_NOT_MONEY])


@pytest.mark.parametrize(("amount", "currency"), CASES)
def test_amount_not_exact_in_minor_units_is_400_and_stores_nothing(
        store_api: tuple[Api, object], amount: str, currency: str) -> None:
    api, store = store_api
    before = snapshot(store)  # type: ignore[arg-type]
    response = api.post(_body(amount, currency))
    assert response.status_code == 400, (amount, response.body)
    body = json.loads(response.body)
    check_error_shape(body)
    assert [d["field"] for d in body["Details"]] == ["amount"]
    assert snapshot(store) == before  # type: ignore[arg-type]


def test_batched_amounts_not_exact_are_rejected_items_and_stores_nothing(
        store_api: tuple[Api, object]) -> None:
    api, store = store_api
    before = snapshot(store)  # type: ignore[arg-type]
    items = ",".join(_body(amount, currency, f"b{i}") for i, (amount, currency)
                     in enumerate(CASES))
    response = api.post('{"transactions":[' + items + "]}")
    assert response.status_code == 200, response.body
    body = json.loads(response.body)
    assert body["summary"] == {"created": 0, "duplicate": 0, "conflict": 0,
                               "rejected": len(CASES)}
    for result in body["results"]:
        assert [e["field"] for e in result["errors"]] == ["amount"], result
    assert snapshot(store) == before  # type: ignore[arg-type]
    analytics = json.loads(api.get("/analytics").body)
    assert analytics["count"] == 0 and analytics["totals"] == {}


@pytest.mark.parametrize(("amount", "currency", "stored"), [
    ("250.5", "USD", "250.50"), ("2.505e2", "USD", "250.50"), ("25050E-2", "USD", "250.50"),
    ("1.000000000000000000000000000000", "USD", "1.00"), ("1e2", "JPY", "100"),
    ("999999999999.99", "USD", "999999999999.99"), ("0.01", "USD", "0.01"),
    ('"0.01"', "USD", "0.01"), ("1E+11", "USD", "100000000000.00"),
    ("123456789012.5", "USD", "123456789012.50"),
])
def test_exact_amounts_in_any_notation_are_stored_exactly(
        store_api: tuple[Api, object], amount: str, currency: str, stored: str) -> None:
    api, _ = store_api
    response = api.post(_body(amount, currency))
    assert response.status_code == 201, response.body
    assert json.loads(response.body)["transaction"]["amount"] == stored


def test_parse_amount_checks_the_exponent_before_any_normalisation() -> None:
    # under the default context normalize() makes 1e-999999 a zero with no decimal places
    for text in ("1e-999999", "1e-1000000", "7E-999999999"):
        with pytest.raises(ValueError):
            parse_amount(Decimal(text), "USD")


def test_money_arithmetic_raises_instead_of_rounding() -> None:
    from chalicelib.domain.money import MONEY, add, subtract

    big = Decimal("9" * 38)
    with pytest.raises(Inexact):
        add(big, Decimal("0.01"))
    with pytest.raises(ArithmeticError):  # Inexact and Rounded, both trapped
        subtract(Decimal("1e40"), Decimal(1))
    with pytest.raises(Inexact):
        quantize(Decimal("1.005"), "USD")
    assert quantize(Decimal("1.000"), "USD") == Decimal("1.00")
    assert add(Decimal("0.10"), Decimal("0.20")) == Decimal("0.30")
    assert MONEY.traps[Inexact] and MONEY.traps[Rounded]
