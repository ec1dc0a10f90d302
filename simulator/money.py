"""The simulator's own view of currencies: minor digits and exact amounts (Decimal only)."""

from __future__ import annotations

from decimal import Decimal

# The configured set; every code must be one the API accepts (chalicelib/domain/money.py
# MINOR_UNITS; a test checks the digits agree). Its own table: the currencies this client
# chooses to send.
MINOR_DIGITS: dict[str, int] = {"USD": 2, "EUR": 2, "GBP": 2, "CHF": 2, "JPY": 0, "SEK": 2}
DEFAULT_CURRENCIES = ("USD", "EUR", "GBP", "JPY")
# How many units of the currency a dollar buys, roughly: keeps amounts plausible per currency.
SCALE: dict[str, int] = {"USD": 1, "EUR": 1, "GBP": 1, "CHF": 1, "JPY": 150, "SEK": 10}


def from_minor(units: int, currency: str) -> Decimal:
    """`1234` cents -> `Decimal("12.34")`; `1234` yen -> `Decimal("1234")`."""
    return Decimal(units).scaleb(-MINOR_DIGITS[currency])


def text(amount: Decimal) -> str:
    """The decimal string sent on the wire (never scientific notation)."""
    return format(amount, "f")
