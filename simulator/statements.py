"""Statement files of the simulated bank: MT940 and camt.052 / .053 / .054, balances that add up.

`python -m simulator --format camt053 --count 200 --statement-file day.xml` writes a file;
without `--statement-file` it is sent to `POST /statements`. `--unbalanced` makes each
statement's closing balance one minor unit off (the API must refuse it with a 422).
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from xml.sax.saxutils import escape

from simulator.bank import Cast
from simulator.money import MINOR_DIGITS, from_minor, text

FORMATS = {"mt940": "mt940", "camt053": "camt.053", "camt052": "camt.052",
           "camt054": "camt.054"}
CAMT = {"camt.052": ("BkToCstmrAcctRpt", "Rpt"), "camt.053": ("BkToCstmrStmt", "Stmt"),
        "camt.054": ("BkToCstmrDbtCdtNtfctn", "Ntfctn")}
CAMT_VERSION = "08"  # the version this writer emits (.02 uses a bare `Sts`; the API reads both)


@dataclass(frozen=True)
class Line:
    """One entry: signed by `credit`, with the bank's reference and texts."""

    amount: Decimal
    credit: bool
    reference: str
    counterparty: str
    remittance: str
    booked: bool = True


@dataclass
class Spec:
    """One statement before it is written."""

    account: str
    currency: str
    day: date
    number: int
    opening: Decimal
    lines: list[Line] = field(default_factory=list)
    closing_offset: Decimal = Decimal(0)  # non-zero: a statement that does not balance

    @property
    def closing(self) -> Decimal:
        total = self.opening
        for line in self.lines:
            if line.booked:
                total += line.amount if line.credit else -line.amount
        return total + self.closing_offset


def make_specs(cast: Cast, seed: int, statements: int, entries: int, day: date,
               unbalanced: bool = False, pending_every: int = 0) -> list[Spec]:
    """`statements` statements of `entries` entries each, on accounts of the cast; amounts in
    minor units, so every balance is exact. `pending_every` > 0 adds a pending entry after
    every that many (camt only: MT940 has none)."""
    rng = random.Random(seed)
    specs = []
    for n in range(statements):
        account = cast.accounts[n % len(cast.accounts)]
        currency = account.currency if account.currency in MINOR_DIGITS else "EUR"
        scale = 10 ** MINOR_DIGITS[currency] * (150 if currency == "JPY" else 1)
        spec = Spec(account.iban, currency, day, n + 1,
                    from_minor(rng.randrange(0, 5_000_000) * (scale // 100 or 1), currency))
        for i in range(entries):
            credit = rng.random() < 0.4
            amount = from_minor(rng.randrange(100, 200_000) * (scale // 100 or 1), currency)
            who = rng.choice(cast.employers if credit else
                             [m.name for m in cast.merchants[:50]])
            spec.lines.append(Line(amount, credit, f"SIM{seed % 10_000:04d}{n:03d}{i:07d}",
                                   who, rng.choice(cast.people) if credit else "Card payment",
                                   booked=not (pending_every and (i + 1) % pending_every == 0)))
        if unbalanced:
            spec.closing_offset = from_minor(1, currency)
        specs.append(spec)
    return specs


def _mt_amount(amount: Decimal) -> str:
    return text(amount).replace(".", ",") if "." in text(amount) else text(amount) + ","


def _mt_balance(tag: str, amount: Decimal, currency: str, day: date) -> str:
    mark = "D" if amount < 0 else "C"
    return f":{tag}:{mark}{day:%y%m%d}{currency}{_mt_amount(abs(amount))}"


def write_mt940(specs: list[Spec]) -> bytes:
    """One MT940 message per statement, in the SWIFT envelope."""
    out: list[str] = []
    for s in specs:
        out += ["{1:F01SIMBANKXAXXX0000000000}{2:O940SIMBANKXAXXXN}{4:",
                f":20:SIM{s.day:%y%m%d}{s.number:04d}", f":25:{s.account}", f":28C:{s.number}/1",
                _mt_balance("60F", s.opening, s.currency, s.day)]
        for line in s.lines:
            if not line.booked:
                continue
            mark = "C" if line.credit else "D"
            out.append(f":61:{s.day:%y%m%d%m%d}{mark}{_mt_amount(line.amount)}NTRFNONREF"
                       f"//{line.reference[-16:]}")
            out.append(f":86:/NAME/{line.counterparty[:60]}/REMI/{line.remittance[:60]}")
        out += [_mt_balance("62F", s.closing, s.currency, s.day), "-}"]
    return ("\r\n".join(out) + "\r\n").encode("utf-8")


def _camt_balance(code: str, amount: Decimal, currency: str, day: date) -> str:
    mark = "DBIT" if amount < 0 else "CRDT"
    return (f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>"
            f'<Amt Ccy="{currency}">{text(abs(amount))}</Amt><CdtDbtInd>{mark}</CdtDbtInd>'
            f"<Dt><Dt>{day.isoformat()}</Dt></Dt></Bal>")


def _camt_entry(line: Line, currency: str, day: date) -> str:
    party = "Dbtr" if line.credit else "Cdtr"
    status = "BOOK" if line.booked else "PDNG"
    booking = f"<BookgDt><Dt>{day.isoformat()}</Dt></BookgDt>" if line.booked else ""
    return (f'<Ntry><Amt Ccy="{currency}">{text(line.amount)}</Amt>'
            f"<CdtDbtInd>{'CRDT' if line.credit else 'DBIT'}</CdtDbtInd>"
            f"<Sts><Cd>{status}</Cd></Sts>{booking}<ValDt><Dt>{day.isoformat()}</Dt></ValDt>"
            f"<AcctSvcrRef>{escape(line.reference)}</AcctSvcrRef><NtryDtls><TxDtls>"
            f"<RltdPties><{party}><Pty><Nm>{escape(line.counterparty[:140])}</Nm></Pty>"
            f"</{party}></RltdPties><RmtInf><Ustrd>{escape(line.remittance[:140])}</Ustrd>"
            f"</RmtInf></TxDtls></NtryDtls></Ntry>")


def write_camt(kind: str, specs: list[Spec], created: datetime | None = None) -> bytes:
    """A camt.052 / .053 / .054 document (version .08) holding every statement."""
    message, item = CAMT[kind]
    stamp = (created or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="urn:iso:std:iso:20022:'
             f'tech:xsd:{kind}.001.{CAMT_VERSION}"><{message}><GrpHdr><MsgId>SIM-{stamp}'
             f"</MsgId><CreDtTm>{stamp}</CreDtTm></GrpHdr>"]
    for s in specs:
        parts.append(f"<{item}><Id>SIM-{s.day:%Y%m%d}-{s.number}</Id><Acct><Id><IBAN>"
                     f"{s.account}</IBAN></Id><Ccy>{s.currency}</Ccy></Acct>")
        if kind == "camt.053":
            parts += [_camt_balance("OPBD", s.opening, s.currency, s.day),
                      _camt_balance("CLBD", s.closing, s.currency, s.day)]
        elif kind == "camt.052":
            parts += [_camt_balance("OPBD", s.opening, s.currency, s.day),
                      _camt_balance("ITBD", s.closing, s.currency, s.day)]
        parts += [_camt_entry(line, s.currency, s.day) for line in s.lines]
        parts.append(f"</{item}>")
    parts.append(f"</{message}></Document>\n")
    return "".join(parts).encode("utf-8")


def write(fmt: str, specs: list[Spec]) -> bytes:
    """The file in `fmt` (a key or a value of FORMATS)."""
    kind = FORMATS.get(fmt, fmt)
    return write_mt940(specs) if kind == "mt940" else write_camt(kind, specs)


def statement_day(start: datetime | None) -> date:
    """The statements' booking day: the start's, or yesterday (a closed day)."""
    return (start or datetime.now(UTC) - timedelta(days=1)).date()


def emit(raw: bytes, path: str) -> None:
    """Write the file to `path` (`-`: standard output)."""
    if path == "-":
        sys.stdout.buffer.write(raw)
        sys.stdout.flush()
    else:
        with open(path, "wb") as out:
            out.write(raw)
