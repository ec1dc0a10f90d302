"""A statement file to transactions: format detection, deterministic ids, the balance check.

`read_statements` parses a file (StatementFormatError naming the line or element path);
`prepare` maps every booked entry to a validated Transaction with its deterministic id, all or
nothing (ValidationError with every invalid entry's reasons), and checks each statement's
balances exactly (StatementBalanceError with the figures). docs/statements.md is the
reference for the mapping and the id scheme.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from chalicelib.domain.model import Transaction
from chalicelib.domain.money import ZERO, add, subtract, to_text
from chalicelib.domain.statements.camt import parse_camt
from chalicelib.domain.statements.mt940 import parse_mt940
from chalicelib.domain.statements.parsed import (
    CAMT053,
    CREDIT,
    FORMATS,
    MT940,
    Entry,
    ParsedFile,
    Statement,
)
from chalicelib.domain.validation import validate_transaction
from chalicelib.errors import (
    FieldError,
    StatementBalanceError,
    StatementFormatError,
    ValidationError,
)

ID_PREFIX = "st-"
CHANNEL = "statement"  # the same for every format, so one entry read from two formats is equal
MAX_REASONS = 50
PLACEHOLDER_ID = "pending"


def detect_format(raw: bytes) -> str:
    """`camt` for XML, `mt940` for SWIFT fields; StatementFormatError when neither."""
    head = raw[:2048].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<") or head[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 XML too
        return "camt"
    if head.startswith(b"{1:") or b"\n:20:" in head \
            or (head.startswith(b":") and b":20:" in head):
        return MT940
    raise StatementFormatError(
        "the file is neither MT940 nor camt XML; send ?format=mt940|camt.052|camt.053|camt.054",
        [FieldError("line 1", "starts with neither `<`, `{1:` nor a `:NN:` field")])


def _text(raw: bytes) -> str:
    """MT940 text: UTF-8, else Latin-1 (older bank exports); a BOM is dropped."""
    try:
        return raw.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def read_statements(raw: bytes, declared: str | None = None) -> ParsedFile:
    """Parse a statement file; `declared` (?format=) must agree with the content."""
    if declared is not None and declared not in FORMATS:
        raise StatementFormatError(f"format must be one of {', '.join(FORMATS)}",
                                   [FieldError("format", f"{declared[:32]!r} is not known")])
    if not raw.strip():
        raise StatementFormatError("the body is empty; send the statement file",
                                   [FieldError("body", "is empty")])
    found = detect_format(raw)
    if found == MT940:
        kind, statements = MT940, parse_mt940(_text(raw))
    else:
        kind, statements = parse_camt(raw)
    if declared is not None and declared != kind:
        raise StatementFormatError(f"the file is {kind}, not {declared}",
                                   [FieldError("format", f"the content is {kind}")])
    return ParsedFile(kind, statements)


@dataclass(frozen=True)
class Booked:
    """A booked entry of a statement and the transaction it becomes."""

    statement: int
    entry: Entry
    transaction: Transaction


def _digest(*parts: str) -> str:
    return ID_PREFIX + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def _content(statement: Statement, entry: Entry) -> dict[str, object]:
    body: dict[str, object] = {"id": PLACEHOLDER_ID, "account": statement.account,
                               "amount": entry.amount, "currency": entry.currency,
                               "type": entry.type, "timestamp": entry.booking,
                               "channel": CHANNEL}
    if entry.counterparty:
        body["counterparty"] = entry.counterparty
    if entry.description:
        body["description"] = entry.description
    return body


def _ids(statement: Statement, entries: list[tuple[Entry, Transaction]]) -> list[str]:
    """Deterministic ids: the account and the bank's reference for the entry (with its
    occurrence number when a statement repeats a reference), else a digest of account,
    booking day, amount, type, the customer reference and the ordinal among identical
    entries of the statement."""
    seen: Counter[tuple[str, ...]] = Counter()
    ids = []
    for entry, tx in entries:
        if entry.bank_reference:
            key: tuple[str, ...] = ("ref", entry.bank_reference)
        else:
            key = ("entry", tx.timestamp_text[:10], to_text(tx.amount), tx.currency, tx.type,
                   entry.reference or "")
        ordinal = seen[key]
        seen[key] += 1
        ids.append(_digest(statement.account, *key, str(ordinal)))
    return ids


def prepare(parsed: ParsedFile, now: datetime) -> list[Booked]:
    """Every booked entry as a validated transaction, all or nothing, balances checked."""
    reasons: list[FieldError] = []
    invalid = 0
    booked: list[Booked] = []
    for number, statement in enumerate(parsed.statements):
        pairs: list[tuple[Entry, Transaction]] = []
        for entry in statement.booked():
            try:
                pairs.append((entry, validate_transaction(_content(statement, entry), now)))
            except ValidationError as exc:
                invalid += 1
                reasons += [FieldError(f"{entry.source} {d.field}", d.message)
                            for d in exc.details]
        if invalid:
            continue
        for (entry, tx), tx_id in zip(pairs, _ids(statement, pairs), strict=True):
            booked.append(Booked(number, entry, replace(tx, id=tx_id)))
    if invalid:
        raise ValidationError(f"{invalid} entries of the file are invalid; nothing was stored",
                              reasons[:MAX_REASONS])
    check_balances(parsed)
    return booked


@dataclass(frozen=True)
class Figures:
    """A statement's balance arithmetic."""

    opening: Decimal
    credits: Decimal
    debits: Decimal
    closing: Decimal

    @property
    def computed(self) -> Decimal:
        return subtract(add(self.opening, self.credits), self.debits)


def figures(statement: Statement) -> Figures | None:
    """Opening, booked credits and debits, closing: None when the statement has no pair of
    booked balances to check (a camt.054 notification, a camt.052 report without them)."""
    if statement.opening is None or statement.closing is None:
        return None
    credits = debits = ZERO
    for entry in statement.booked():
        amount = Decimal(entry.amount)  # validated already: exact and plain
        if entry.type == CREDIT:
            credits = add(credits, amount)
        else:
            debits = add(debits, amount)
    return Figures(statement.opening.amount, credits, debits, statement.closing.amount)


def check_balances(parsed: ParsedFile) -> None:
    """opening + credits - debits = closing for each statement, exactly, else 422."""
    reasons: list[FieldError] = []
    for statement in parsed.statements:
        where = statement.source
        if parsed.format in (MT940, CAMT053) and (statement.opening is None
                                                   or statement.closing is None):
            raise StatementFormatError(
                "a statement needs its opening and closing booked balances",
                [FieldError(f"{where}/Bal", "needs OPBD (or PRCD) and CLBD")])
        other = sorted({e.currency for e in statement.booked()} - {statement.currency})
        if other and statement.opening is not None:
            raise StatementFormatError(
                "an entry's currency differs from its statement's balances",
                [FieldError(where, f"entries in {', '.join(other)}; balances in "
                                   f"{statement.currency}")])
        fig = figures(statement)
        if fig is not None and fig.computed != fig.closing:
            reasons.append(FieldError(where, (
                f"opening {to_text(fig.opening)} + credits {to_text(fig.credits)} - debits "
                f"{to_text(fig.debits)} = {to_text(fig.computed)} {statement.currency}, but the "
                f"closing balance is {to_text(fig.closing)}")))
    if reasons:
        raise StatementBalanceError(
            f"{len(reasons)} statements do not balance; nothing was stored", reasons)

