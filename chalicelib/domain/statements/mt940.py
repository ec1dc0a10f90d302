"""SWIFT MT940 customer statements read line by line, every problem named by its line.

Takes the `{1:}{2:}{4:` envelope or bare fields, several statements per file (a new `:20:`,
a `-` line or a new envelope starts the next), `:61:` with or without its entry date, the
reversal marks RC / RD and the funds code, and `:86:` details (free text, the German `?NN`
subfields or the `/NAME/.../REMI/...` keywords).
"""

from __future__ import annotations

import re
from datetime import date

from chalicelib.domain.statements.parsed import (
    CREDIT,
    DEBIT,
    Balance,
    Entry,
    Statement,
)
from chalicelib.domain.statements.problems import Problems, balance_amount, clean_text

TAG = re.compile(r":(?P<tag>[0-9]{2}[A-Z]?):(?P<value>.*)")
KNOWN_TAGS = frozenset({"13", "13D", "20", "21", "25", "25P", "28", "28C", "34F", "60F", "60M",
                        "61", "62F", "62M", "64", "65", "86", "90C", "90D"})
BALANCE = re.compile(r"(?P<mark>[CD])(?P<date>\d{6})(?P<ccy>[A-Z]{3})(?P<amount>\d[\d,]{0,14})")
# 6!n value date, [4!n] entry date, 2a mark, [1!a] funds code, 15d amount, 1!a3!c type,
# 16x customer reference, [//16x] bank reference; the supplementary details are the next line.
ENTRY = re.compile(r"(?P<value>\d{6})(?P<entry>\d{4})?(?P<mark>RC|RD|C|D)(?P<funds>[A-Z])?"
                   r"(?P<amount>\d[\d,]{0,14})(?P<kind>[A-Z][A-Z0-9]{3})"
                   r"(?P<ref>(?:(?!//).){0,16})(?://(?P<bank_ref>.{1,16}))?")
ENVELOPE = re.compile(r"(\{[1-3]:(?:[^{}]|\{[^{}]*\})*\})*\{4:")
ACCOUNT_CHARS = re.compile(r"[A-Za-z0-9._:-]{1,34}")
NO_REFERENCE = "NONREF"
YEAR_TURN_DAYS = 180  # an entry date this far from its value date lies in the next/last year


class _Field:
    """One tag with its lines (continuation lines appended)."""

    def __init__(self, tag: str, line: int, value: str) -> None:
        self.tag, self.line, self.lines = tag, line, [value]

    @property
    def where(self) -> str:
        return f"line {self.line} (:{self.tag}:)"


def _fields(text: str, problems: Problems) -> list[list[_Field]]:
    """The file's fields grouped per statement, envelopes and separators removed."""
    statements: list[list[_Field]] = []
    current: list[_Field] = []

    def close() -> None:
        nonlocal current
        if current:
            statements.append(current)
        current = []

    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        if line.startswith("{"):
            envelope = ENVELOPE.match(line)
            if envelope is None:
                problems.add(f"line {number}", "is not a SWIFT block header `{1:...}{2:...}{4:`")
                continue
            close()
            line = line[envelope.end():]
            if not line.strip():
                continue
        if line.startswith("-"):  # `-` ends a statement, `-}` also the envelope's block 4
            if line.rstrip() not in ("-", "-}") and not line.startswith("-}{"):
                problems.add(f"line {number}", "a line starting with `-` must end the statement")
            close()
            continue
        match = TAG.match(line)
        if match is None:
            if current and current[-1].tag in ("86", "61") and not line.startswith(":"):
                current[-1].lines.append(line)  # :86: spans lines; :61: has a details line
            else:
                problems.add(f"line {number}", "is not a `:NN:` field or its continuation")
            continue
        tag = match["tag"]
        if tag not in KNOWN_TAGS:
            problems.add(f"line {number}", f"the field :{tag}: is not an MT940 field")
            continue
        if tag == "20":
            close()
        current.append(_Field(tag, number, match["value"]))
    close()
    return statements


def _yymmdd(text: str, where: str, problems: Problems) -> date | None:
    try:
        return date(2000 + int(text[:2]), int(text[2:4]), int(text[4:6]))
    except ValueError:
        problems.add(where, f"{text} is not a date (YYMMDD)")
        return None


def _balance(f: _Field, problems: Problems) -> Balance | None:
    match = BALANCE.fullmatch(f.lines[0].strip())
    if match is None:
        problems.add(f.where, "must be a balance: C or D, YYMMDD, currency, amount (1234,56)")
        return None
    day = _yymmdd(match["date"], f.where, problems)
    amount = balance_amount(match["amount"].replace(",", "."), match["ccy"], f.where, problems,
                            comma=True)
    if day is None or amount is None:
        return None
    return Balance(-amount if match["mark"] == "D" else amount, match["ccy"], day.isoformat())


def _booking_day(value: date, entry: str | None, where: str, problems: Problems) -> date | None:
    """The booking (entry) date MMDD in the value date's year, or the next/last one."""
    if not entry:
        return value
    for year in (value.year, value.year + 1, value.year - 1):
        try:
            day = date(year, int(entry[:2]), int(entry[2:]))
        except ValueError:
            break
        if abs((day - value).days) <= YEAR_TURN_DAYS:
            return day
    problems.add(where, f"the entry date {entry} is not a date (MMDD) near the value date")
    return None


def _entry(f: _Field, info: _Field | None, currency: str, problems: Problems) -> Entry | None:
    line = f.lines[0].rstrip()
    match = ENTRY.fullmatch(line)
    if match is None:
        problems.add(f.where, "must be value date YYMMDD, [entry date MMDD], mark C/D/RC/RD, "
                              "[funds code], amount (1234,56), type (NTRF), reference[//bank ref]")
        return None
    value = _yymmdd(match["value"], f.where, problems)
    booked = _booking_day(value, match["entry"], f.where, problems) if value else None
    amount = match["amount"]
    if amount.count(",") > 1:
        problems.add(f.where, f"{amount} is not an amount (one decimal comma)")
        return None
    if booked is None:
        return None
    mark = match["mark"]
    # RC reverses a credit (money leaves, like a debit); RD reverses a debit (money comes back)
    kind = CREDIT if mark in ("C", "RD") else DEBIT
    ref = match["ref"].strip() or None
    counterparty, description = _details(info) if info else (None, None)
    if description is None and len(f.lines) > 1:
        description = clean_text(" ".join(f.lines[1:]), 256)
    return Entry(source=f"line {f.line}", amount=amount.replace(",", ".").rstrip("."),
                 currency=currency, type=kind, booking=f"{booked.isoformat()}T00:00:00Z",
                 reversal=mark.startswith("R"),
                 bank_reference=(match["bank_ref"] or "").strip() or None,
                 reference=None if ref == NO_REFERENCE else ref,
                 counterparty=counterparty, description=description)


SUBFIELD = re.compile(r"\?(\d{2})")
KEYWORD = re.compile(r"/(NAME|REMI|EREF|IBAN|BIC|ORDP|BENM|CNTP|MARF|CSID|ADDR)/")


def _details(info: _Field) -> tuple[str | None, str | None]:
    """Counterparty and description from `:86:`: `?32`/`?33` and `?20`-`?29` (German GVC),
    `/NAME/` and `/REMI/` (Dutch and others), else the whole text as the description."""
    if SUBFIELD.search(info.lines[0]):  # subfields are cut at a fixed width: join as they are
        text = "".join(info.lines)
        parts = SUBFIELD.split(text)
        sub = {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}
        name = "".join(sub.get(k, "") for k in ("32", "33"))
        remittance = " ".join(v for k, v in sorted(sub.items()) if "20" <= k <= "29")
        return clean_text(name, 128), clean_text(remittance or text, 256)
    text = " ".join(s.strip() for s in info.lines)
    if KEYWORD.search(text):
        parts = KEYWORD.split(text)
        words = {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}
        return (clean_text(words.get("NAME") or "", 128),
                clean_text(words.get("REMI") or text, 256))
    return None, clean_text(text, 256)


def _account(f: _Field, problems: Problems) -> str:
    """`:25:` as an account id: spaces dropped, `/` (bank code/account) read as `:`."""
    account = "".join(f.lines[0].split()).replace("/", ":")  # :25: has no continuation lines
    if not ACCOUNT_CHARS.fullmatch(account):
        problems.add(f.where, "the account must be 1-34 of A-Za-z0-9._:-/ once spaces are dropped")
    return account


def _statement(fields: list[_Field], problems: Problems) -> Statement | None:
    first = fields[0]
    where = f"line {first.line}"
    by_tag: dict[str, _Field] = {}
    for f in fields:  # (a :20: starts its group, so it is never repeated within one)
        if f.tag[:2] in by_tag and f.tag[:2] in ("25", "28", "60", "62"):
            problems.add(f.where, f"the statement repeats :{f.tag}:")
        by_tag.setdefault(f.tag[:2], f)
    missing = [t for t in ("20", "25", "60", "62") if t not in by_tag]
    if missing:
        problems.add(where, "the statement lacks " + ", ".join(f":{t}:" for t in missing))
    opening = _balance(by_tag["60"], problems) if "60" in by_tag else None
    closing = _balance(by_tag["62"], problems) if "62" in by_tag else None
    currency = opening.currency if opening else ""
    if opening and closing and opening.currency != closing.currency:
        problems.add(by_tag["62"].where, f"the closing balance is in {closing.currency}, "
                                         f"the opening balance in {opening.currency}")
    entries = []  # read even when the statement is refused: every bad line is named at once
    for i, f in enumerate(fields):
        if f.tag == "61":
            info = fields[i + 1] if i + 1 < len(fields) and fields[i + 1].tag == "86" else None
            entry = _entry(f, info, currency, problems)
            if entry is not None:
                entries.append(entry)
    account = _account(by_tag["25"], problems) if "25" in by_tag else ""
    if missing or opening is None or closing is None:
        return None
    return Statement(source=where, account=account, currency=currency,
                     statement_id=by_tag["20"].lines[0].strip() or None,
                     opening=opening, closing=closing, entries=entries)


def parse_mt940(text: str) -> list[Statement]:
    """Every statement of an MT940 file; StatementFormatError naming each bad line."""
    problems = Problems()
    groups = _fields(text, problems)  # CR LF: _fields strips each line's trailing CRs
    statements = [s for s in (_statement(g, problems) for g in groups) if s is not None]
    if not groups and not problems:
        problems.add("line 1", "the file holds no MT940 statement (no :20: field)")
    problems.raise_any("the MT940 file is malformed")
    return statements
