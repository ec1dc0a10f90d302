"""What a statement file holds once read, before it becomes transactions (pure values)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

BOOKED, PENDING, INFO = "booked", "pending", "information"
CREDIT, DEBIT = "credit", "debit"
MT940, CAMT052, CAMT053, CAMT054 = "mt940", "camt.052", "camt.053", "camt.054"
FORMATS = (MT940, CAMT052, CAMT053, CAMT054)


@dataclass(frozen=True)
class Balance:
    """A signed balance (a debit balance is negative) in the statement's currency."""

    amount: Decimal
    currency: str
    date: str  # YYYY-MM-DD

    def text(self) -> str:
        return format(self.amount, "f")


@dataclass(frozen=True)
class Entry:
    """One movement as the file states it. `amount` is the text of the file's amount in the
    JSON form ("1234.50"), so the money rules judge it exactly as they judge a JSON amount."""

    source: str  # where it is: `line 12` (MT940) or an element path (camt)
    amount: str
    currency: str
    type: str  # credit or debit, after a reversal is taken into account
    booking: str  # RFC 3339 timestamp of the booking (the date at 00:00Z when no time)
    status: str = BOOKED
    reversal: bool = False
    bank_reference: str | None = None  # the account servicer's reference for the entry
    reference: str | None = None  # the customer's / end-to-end reference
    counterparty: str | None = None
    description: str | None = None


@dataclass
class Statement:
    """One statement (MT940 message, camt Stmt / Rpt / Ntfctn) of a file."""

    source: str
    account: str
    currency: str
    statement_id: str | None = None
    opening: Balance | None = None
    closing: Balance | None = None
    entries: list[Entry] = field(default_factory=list)

    def booked(self) -> list[Entry]:
        return [e for e in self.entries if e.status == BOOKED]


@dataclass
class ParsedFile:
    """A whole file: its format and its statements in file order."""

    format: str
    statements: list[Statement]
