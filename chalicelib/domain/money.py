"""Exact money: amounts are Decimal from the raw body to the response, never float."""

from __future__ import annotations

from decimal import (
    Clamped,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    Rounded,
    Subnormal,
    Underflow,
)

# ISO 4217 minor units of the currencies we accept. A code missing here is rejected, so a typo
# ("USS") never silently opens a new currency column in the analytics.
MINOR_UNITS: dict[str, int] = {
    "AED": 2, "AUD": 2, "BRL": 2, "CAD": 2, "CHF": 2, "CNY": 2, "CZK": 2, "DKK": 2, "EUR": 2,
    "GBP": 2, "HKD": 2, "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2, "JPY": 0, "KRW": 0, "MXN": 2,
    "NOK": 2, "NZD": 2, "PLN": 2, "RON": 2, "SAR": 2, "SEK": 2, "SGD": 2, "THB": 2, "TRY": 2,
    "USD": 2, "ZAR": 2,
}
MAX_AMOUNT = Decimal(10) ** 12  # every amount is below it (openapi.yaml says the same)
ZERO = Decimal(0)

# Money arithmetic signals instead of rounding: 38 digits (DynamoDB's number precision), and
# every inexact, rounded, overflowing or underflowing result raises. Totals of amounts below
# MAX_AMOUNT (10^12) with 2 decimals stay exact for 10^23 transactions, so a trap here is a
# bug, never data.
MONEY = Context(prec=38, Emax=999_999, Emin=-999_999,
                traps=[Inexact, Rounded, Underflow, Overflow, Subnormal, Clamped,
                       InvalidOperation, DivisionByZero])
# quantize() signals Rounded when it drops trailing zeros ("1.000" -> "1.00"), which is exact;
# only an inexact quantize (a dropped non-zero digit) is an error.
_QUANTIZE = MONEY.copy()
_QUANTIZE.traps[Rounded] = False


class AmountError(ValueError):
    """The value is not an acceptable amount; the message says why."""


def parse_amount(value: object, currency: str) -> Decimal:
    """Turn a JSON number (already an exact Decimal) or a decimal string into an exact amount.

    The sign, digits and exponent are checked on the value as sent, before any arithmetic or
    normalisation: under a finite context `normalize()` turns 1e-999999 into 0 (and it would
    pass every later check as a zero with no decimals)."""
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, str)):
        raise AmountError("must be a number or a decimal string")
    if isinstance(value, str):
        text = value.strip()
        if text != value or not text or len(text) > 32 or not _plain_decimal(text):
            raise AmountError("must be a plain decimal string such as \"250.50\"")
        value = text
    # exact (construction never rounds) and it cannot fail: value is a Decimal, an int or a
    # string of ASCII digits with at most one dot
    amount = Decimal(value)
    if not amount.is_finite():
        raise AmountError("must be finite")
    sign, digits, exponent = amount.as_tuple()
    assert isinstance(exponent, int)  # finite
    if sign or not any(digits):
        raise AmountError("must be greater than 0")
    trailing = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    places = max(0, -(exponent + trailing))  # decimal places of the exact value
    if amount >= MAX_AMOUNT:  # a comparison is exact at any exponent: no context, no rounding
        raise AmountError(f"must be below 10^{MAX_AMOUNT.adjusted()}")
    minor = MINOR_UNITS.get(currency, 2)
    if places > minor:
        raise AmountError(f"has more than {minor} decimal places for {currency}")
    return quantize(amount, currency)


def _plain_decimal(text: str) -> bool:
    """Digits with at most one dot: no sign, exponent, spaces or NaN spelled out."""
    whole, _, frac = text.partition(".")
    return (whole.isascii() and frac.isascii() and whole.isdigit()
            and ((frac == "" and "." not in text) or frac.isdigit()))


def quantize(amount: Decimal, currency: str) -> Decimal:
    """The amount with exactly the currency's minor digits (250.5 USD -> 250.50); raises
    decimal.Inexact rather than drop a digit."""
    return amount.quantize(Decimal(1).scaleb(-MINOR_UNITS.get(currency, 2)), context=_QUANTIZE)


def add(a: Decimal, b: Decimal) -> Decimal:
    """a + b, exactly or not at all."""
    return MONEY.add(a, b)


def subtract(a: Decimal, b: Decimal) -> Decimal:
    """a - b, exactly or not at all."""
    return MONEY.subtract(a, b)


def to_text(amount: Decimal) -> str:
    """The decimal string the API answers with; never scientific notation."""
    return format(amount, "f")
