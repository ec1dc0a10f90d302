"""Collecting a file's problems (each named by line or element path) and reading its amounts."""

from __future__ import annotations

import re
from decimal import Decimal

from chalicelib.domain.money import MINOR_UNITS
from chalicelib.errors import FieldError, StatementFormatError

MAX_PROBLEMS = 50  # a refused file names this many problems at most: the answer stays small
BALANCE_TEXT = re.compile(r"\d{1,15}(?:\.\d{0,15})?")
CONTROL = re.compile("[\x00-\x1f\x7f\ud800-\udfff]+")


class Problems:
    """Everything wrong with a file, so one answer names them all (up to MAX_PROBLEMS)."""

    def __init__(self) -> None:
        self.found: list[FieldError] = []
        self.count = 0

    def add(self, where: str, message: str) -> None:
        self.count += 1
        if len(self.found) < MAX_PROBLEMS:
            self.found.append(FieldError(where, message))

    def __bool__(self) -> bool:
        return self.count > 0

    def raise_any(self, message: str) -> None:
        """StatementFormatError with every problem, if there is any."""
        if self.count:
            more = f" ({self.count} problems, the first {MAX_PROBLEMS} listed)" \
                if self.count > MAX_PROBLEMS else ""
            raise StatementFormatError(f"{message}{more}; nothing was stored", self.found)


def balance_amount(text: str, currency: str, where: str, problems: Problems,
                   comma: bool = False) -> Decimal | None:
    """A balance's magnitude (zero allowed) under the money rules: plain digits, at most the
    currency's minor digits (trailing zeros aside), never rounded."""
    shown = text.replace(".", ",") if comma else text
    if not text:
        problems.add(where, "is required")
        return None
    if not BALANCE_TEXT.fullmatch(text):
        problems.add(where, f"{shown[:40]} is not a balance amount")
        return None
    if not currency:
        problems.add(where, "names no currency")
        return None
    minor = MINOR_UNITS.get(currency)
    if minor is None:
        problems.add(where, f"{currency[:8]} is not a supported currency")
        return None
    amount = Decimal(text)
    exact = amount.quantize(Decimal(1).scaleb(-minor))  # at most 30 digits: within precision
    if exact != amount:
        problems.add(where, f"{shown} has more than {minor} decimal places for {currency}")
        return None
    return exact


def clean_text(text: str, limit: int) -> str | None:
    """Free text for a bounded field: control characters become spaces, runs of spaces one,
    and over-long text is cut at `limit` (never refused); None when nothing is left."""
    flat = " ".join(CONTROL.sub(" ", text).split())
    return flat[:limit] or None
