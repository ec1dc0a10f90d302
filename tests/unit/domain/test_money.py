"""The amount limit: every amount is below MAX_AMOUNT, whatever its notation (openapi.yaml's
limit is checked against it in tests/integration/api/test_openapi.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from chalicelib.domain.money import MAX_AMOUNT, AmountError, parse_amount


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
