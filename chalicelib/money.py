"""Exact money: amounts are Decimal from the raw body to the response, never float."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

# ISO 4217 minor units of the currencies we accept. A code missing here is rejected, so a typo
# ("USS") never silently opens a new currency column in the analytics.
MINOR_UNITS: dict[str, int] = {
    "AED": 2, "AUD": 2, "BRL": 2, "CAD": 2, "CHF": 2, "CNY": 2, "CZK": 2, "DKK": 2, "EUR": 2,
    "GBP": 2, "HKD": 2, "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2, "JPY": 0, "KRW": 0, "MXN": 2,
    "NOK": 2, "NZD": 2, "PLN": 2, "RON": 2, "SAR": 2, "SEK": 2, "SGD": 2, "THB": 2, "TRY": 2,
    "USD": 2, "ZAR": 2,
}
MAX_AMOUNT = Decimal(10) ** 12
ZERO = Decimal(0)


class AmountError(ValueError):
    """The value is not an acceptable amount; the message says why."""


def parse_amount(value: object, currency: str) -> Decimal:
    """Turn a JSON number (already a Decimal) or a decimal string into an exact amount."""
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, str)):
        raise AmountError("must be a number or a decimal string")
    if isinstance(value, str):
        text = value.strip()
        if text != value or not text or len(text) > 32 or not _plain_decimal(text):
            raise AmountError("must be a plain decimal string such as \"250.50\"")
        value = text
    try:
        amount = Decimal(value)
    except (InvalidOperation, ValueError) as exc:
        raise AmountError("is not a number") from exc
    if not amount.is_finite():
        raise AmountError("must be finite")
    if amount <= 0:
        raise AmountError("must be greater than 0")
    if amount >= MAX_AMOUNT:
        raise AmountError("must be below 10^12")
    digits = MINOR_UNITS.get(currency, 2)
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > digits:
        raise AmountError(f"has more than {digits} decimal places for {currency}")
    return quantize(amount, currency)


def _plain_decimal(text: str) -> bool:
    """Digits with at most one dot: no sign, exponent, spaces or NaN spelled out."""
    whole, _, frac = text.partition(".")
    return (whole.isascii() and frac.isascii() and whole.isdigit()
            and ((frac == "" and "." not in text) or frac.isdigit()))


def quantize(amount: Decimal, currency: str) -> Decimal:
    """The amount with exactly the currency's minor digits (250.5 USD -> 250.50)."""
    return amount.quantize(Decimal(1).scaleb(-MINOR_UNITS.get(currency, 2)))


def to_text(amount: Decimal) -> str:
    """The decimal string the API answers with; never scientific notation."""
    return format(amount, "f")
