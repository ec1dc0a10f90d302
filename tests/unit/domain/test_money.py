"""The amount limit: every amount is below MAX_AMOUNT, whatever its notation (openapi.yaml's
limit is checked against it in tests/integration/api/test_openapi.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from chalicelib.domain.money import MAX_AMOUNT, AmountError, parse_amount, quantize, to_text


@pytest.mark.parametrize("value", [Decimal("999999999999.99"), "999999999999.99",
                                   Decimal("9.9999999999999E+11"), Decimal(MAX_AMOUNT - 1)])
def test_the_largest_amounts_below_the_limit_are_accepted_exactly(value: Decimal | str) -> None:
    assert parse_amount(value, "USD") == Decimal(value) < MAX_AMOUNT


@pytest.mark.parametrize("value", [MAX_AMOUNT, Decimal("1E+12"), Decimal("1000000000000.00"),
                                   "1000000000000", Decimal("1E+999999"), int(MAX_AMOUNT) * 7])
def test_an_amount_at_or_above_the_limit_is_refused_in_any_notation(
        value: Decimal | int | str) -> None:
    with pytest.raises(AmountError, match=r"must be below 10\^12"):
        parse_amount(value, "USD")


# Each refusal's text is the `message` of the amount's field error in the API's answer.
@pytest.mark.parametrize(("value", "currency", "message"), [
    (1.5, "USD", "must be a number or a decimal string"),
    (True, "USD", "must be a number or a decimal string"),
    (None, "USD", "must be a number or a decimal string"),
    (" 1.00", "USD", "must be a plain decimal string such as \"250.50\""),
    ("", "USD", "must be a plain decimal string such as \"250.50\""),
    ("250.", "USD", "must be a plain decimal string such as \"250.50\""),
    (".5", "USD", "must be a plain decimal string such as \"250.50\""),
    ("1e3", "USD", "must be a plain decimal string such as \"250.50\""),
    ("0" * 29 + "1.00", "USD", "must be a plain decimal string such as \"250.50\""),  # 33 chars
    (Decimal("NaN"), "USD", "must be finite"),
    (Decimal("Infinity"), "USD", "must be finite"),
    ("0.00", "USD", "must be greater than 0"),
    (Decimal("-1"), "USD", "must be greater than 0"),
    (0, "USD", "must be greater than 0"),
    ("1.234", "USD", "has more than 2 decimal places for USD"),
    ("1.5", "JPY", "has more than 0 decimal places for JPY"),
    # a code outside the table (validation answers USD for one) is held to 2 decimals
    ("1.234", "XXX", "has more than 2 decimal places for XXX"),
])
def test_each_refused_amount_says_why_in_its_own_words(
        value: object, currency: str, message: str) -> None:
    with pytest.raises(AmountError) as caught:
        parse_amount(value, currency)
    assert str(caught.value) == message


@pytest.mark.parametrize(("value", "currency", "text"), [
    ("0" * 28 + "1.00", "USD", "1.00"),  # 32 characters: the longest string accepted
    ("250.5", "USD", "250.50"),
    ("250", "USD", "250.00"),
    ("1.000", "USD", "1.00"),  # trailing zeros are exact, not a third decimal place
    ("1500", "JPY", "1500"),
    ("1.5", "XXX", "1.50"),  # a code outside the table: 2 decimals
])
def test_an_accepted_amount_carries_exactly_its_currencys_minor_digits(
        value: str, currency: str, text: str) -> None:
    assert str(parse_amount(value, currency)) == text


@pytest.mark.parametrize(("amount", "currency", "text"), [
    (Decimal("250.5"), "USD", "250.50"), (Decimal("7"), "JPY", "7"),
    (Decimal("1.5"), "XXX", "1.50"), (Decimal("1E+3"), "USD", "1000.00"),
])
def test_quantize_gives_the_currencys_minor_digits(
        amount: Decimal, currency: str, text: str) -> None:
    assert str(quantize(amount, currency)) == text


@pytest.mark.parametrize(("amount", "text"), [
    (Decimal("1E+3"), "1000"), (Decimal("1E-7"), "0.0000001"), (Decimal("250.50"), "250.50"),
])
def test_to_text_never_answers_in_scientific_notation(amount: Decimal, text: str) -> None:
    assert to_text(amount) == text
