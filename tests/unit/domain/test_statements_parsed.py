"""The values a statement file is read into: a balance's text is plain digits."""

from __future__ import annotations

from decimal import Decimal

import pytest

from chalicelib.domain.statements.parsed import Balance


@pytest.mark.parametrize(("amount", "text"), [
    (Decimal("5600.00"), "5600.00"),
    (Decimal("-12.34"), "-12.34"),
    (Decimal("1E+2"), "100"),  # str() would say "1E+2"
    (Decimal("-1E-7"), "-0.0000001"),  # and "-1E-7"
])
def test_a_balance_text_is_plain_digits_never_an_exponent(amount: Decimal, text: str) -> None:
    assert Balance(amount, "EUR", "2026-11-01").text() == text
