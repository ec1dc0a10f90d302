"""ISO 20022 camt.052 / camt.053 / camt.054 (message versions .02 to .08) read over defusedxml.

A DTD, an entity declaration or an external reference refuses the file before anything is
resolved or fetched. Problems are named by element path (`Document/BkToCstmrStmt/Stmt[1]/
Ntry[3]/Amt`). The versions differ in small ways handled here: `Sts` as a code (.02) or as
`Sts/Cd` (.08), a related party's name at `Dbtr/Nm` (.02) or `Dbtr/Pty/Nm` (.08).
"""

from __future__ import annotations

import re
from typing import Any

from chalicelib.domain.statements.parsed import (
    BOOKED,
    CAMT052,
    CAMT053,
    CAMT054,
    CREDIT,
    DEBIT,
    INFO,
    PENDING,
    Balance,
    Entry,
    Statement,
)
from chalicelib.domain.statements.problems import Problems, balance_amount, clean_text
from chalicelib.errors import FieldError, StatementFormatError

NAMESPACE = re.compile(r"urn:iso:std:iso:20022:tech:xsd:camt\.(05[234])\.001\.(\d{2})")
VERSIONS = range(2, 9)  # .02 to .08: the versions read and tested here
MESSAGES = {"052": (CAMT052, "BkToCstmrAcctRpt", "Rpt"),
            "053": (CAMT053, "BkToCstmrStmt", "Stmt"),
            "054": (CAMT054, "BkToCstmrDbtCdtNtfctn", "Ntfctn")}
STATUSES = {"BOOK": BOOKED, "PDNG": PENDING, "INFO": INFO, "FUTR": PENDING}
OPENING, CLOSING, INTERIM = ("OPBD", "PRCD"), ("CLBD",), ("ITBD",)
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
DATE_TIME = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)(Z|[+-]\d{2}:\d{2})?")
NOT_PROVIDED = "NOTPROVIDED"
AMOUNT = re.compile(r"\d{1,18}(?:\.\d{1,18})?")  # ISO's 18 digits; the money rules judge more


class _Reader:
    """Namespaced look-ups under one document's namespace."""

    def __init__(self, ns: str, problems: Problems) -> None:
        self.ns, self.problems = ns, problems

    def q(self, path: str) -> str:
        return "/".join(f"{{{self.ns}}}{part}" for part in path.split("/"))

    def find(self, el: Any, path: str) -> Any:
        return el.find(self.q(path))

    def all(self, el: Any, path: str) -> list[Any]:
        return list(el.findall(self.q(path)))

    def text(self, el: Any, *paths: str) -> str | None:
        """The first of `paths` with text, stripped."""
        for path in paths:
            node = el.find(self.q(path))
            if node is not None and node.text and node.text.strip():
                return str(node.text.strip())
        return None

    def required(self, el: Any, where: str, *paths: str) -> str | None:
        value = self.text(el, *paths)
        if value is None:
            self.problems.add(f"{where}/{paths[0]}", "is required")
        return value


def _root(raw: bytes) -> Any:
    """The document's root element; hostile or malformed XML is a StatementFormatError."""
    from xml.etree.ElementTree import ParseError

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    try:
        return fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise StatementFormatError(
            "XML with a DTD, entity declarations or external references is refused; "
            "nothing was fetched or stored",
            [FieldError("Document", type(exc).__name__)]) from exc
    except ParseError as exc:
        line, column = exc.position
        raise StatementFormatError("the XML is not well-formed; nothing was stored",
                                   [FieldError(f"line {line} column {column}", str(exc)[:200])]
                                   ) from exc
    except LookupError as exc:  # an encoding Python does not know, named in the declaration
        raise StatementFormatError("the XML declares an unknown encoding; send UTF-8",
                                   [FieldError("line 1", str(exc)[:200])]) from exc


def parse_camt(raw: bytes) -> tuple[str, list[Statement]]:
    """The camt message kind and every statement / report / notification of the file."""
    root = _root(raw)
    tag = str(root.tag)
    ns, _, local = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
    match = NAMESPACE.fullmatch(ns)
    if local != "Document" or match is None:
        raise StatementFormatError(
            "not an ISO 20022 camt.052/053/054 document",
            # an element's local name is never empty, so it names the wrong root itself
            [FieldError(local[:64], "the root must be Document in a namespace "
                        "urn:iso:std:iso:20022:tech:xsd:camt.05N.001.NN")])
    kind, message, item = MESSAGES[match[1]]
    if int(match[2]) not in VERSIONS:
        raise StatementFormatError(
            f"{kind} version .{match[2]} is not read here; send .02 to .08",
            [FieldError("Document", f"namespace {ns}")])
    problems = Problems()
    read = _Reader(ns, problems)
    body = read.find(root, message)
    if body is None:
        raise StatementFormatError(f"a {kind} document holds {message}",
                                   [FieldError(f"Document/{message}", "is required")])
    statements = []
    for number, el in enumerate(read.all(body, item), start=1):
        statement = _statement(read, el, f"Document/{message}/{item}[{number}]")
        if statement is not None:
            statements.append(statement)
    if not statements and not problems:
        problems.add(f"Document/{message}/{item}", "the file holds none")
    problems.raise_any(f"the {kind} file is malformed")
    return kind, statements


def _balances(read: _Reader, el: Any, where: str) -> dict[str, list[Balance]]:
    found: dict[str, list[Balance]] = {}
    for i, bal in enumerate(read.all(el, "Bal"), start=1):
        path = f"{where}/Bal[{i}]"
        code = read.required(bal, path, "Tp/CdOrPrtry/Cd", "Tp/CdOrPrtry/Prtry")
        amount_el = read.find(bal, "Amt")
        mark = read.required(bal, path, "CdtDbtInd")
        day = read.required(bal, path, "Dt/Dt", "Dt/DtTm")
        if amount_el is None:
            read.problems.add(f"{path}/Amt", "is required")
            continue
        currency = str(amount_el.get("Ccy", ""))
        amount = balance_amount((amount_el.text or "").strip(), currency, f"{path}/Amt",
                                read.problems)
        if mark not in ("CRDT", "DBIT"):
            if mark is not None:
                read.problems.add(f"{path}/CdtDbtInd", "must be CRDT or DBIT")
            continue
        if code is None or amount is None or day is None:
            continue
        found.setdefault(code, []).append(
            Balance(-amount if mark == "DBIT" else amount, currency, day[:10]))
    return found


def _pick(balances: dict[str, list[Balance]]) -> tuple[Balance | None, Balance | None]:
    """Opening (OPBD, else PRCD) and closing (CLBD) booked balances; an intraday report's
    interim booked balance (ITBD) closes it, or opens and closes it when there are two."""
    opening = next((balances[c][0] for c in OPENING if c in balances), None)
    closing = next((balances[c][-1] for c in CLOSING if c in balances), None)
    interim = sorted(balances.get(INTERIM[0], []), key=lambda b: b.date)
    if closing is None and interim:
        if opening is None and len(interim) >= 2:
            opening = interim[0]
        if opening is not None:
            closing = interim[-1]
    return opening, closing


def _statement(read: _Reader, el: Any, where: str) -> Statement | None:
    account = read.required(el, where, "Acct/Id/IBAN", "Acct/Id/Othr/Id")
    opening, closing = _pick(_balances(read, el, where))
    currency = read.text(el, "Acct/Ccy") or (opening or closing or _NoBalance).currency
    statement = Statement(source=where, account="".join((account or "").split()),
                          currency=currency or "", statement_id=read.text(el, "Id"),
                          opening=opening, closing=closing)
    for i, ntry in enumerate(read.all(el, "Ntry"), start=1):
        entry = _entry(read, ntry, f"{where}/Ntry[{i}]", statement.currency)
        if entry is not None:
            statement.entries.append(entry)
    if not statement.currency:
        statement.currency = next((e.currency for e in statement.entries), "")
    return statement if account else None


class _NoBalance:
    currency = ""


def _booking(read: _Reader, ntry: Any, where: str, status: str) -> str | None:
    """The booking as RFC 3339: `BookgDt/DtTm` (UTC when it has no offset), else `BookgDt/Dt`
    at 00:00Z; a booked entry must have one."""
    stamp = read.text(ntry, "BookgDt/DtTm")
    if stamp is not None:
        match = DATE_TIME.fullmatch(stamp)
        if match is None:
            read.problems.add(f"{where}/BookgDt/DtTm", f"{stamp[:40]} is not an ISO date-time")
            return None
        return match[1] + (match[2] or "Z")
    day = read.text(ntry, "BookgDt/Dt")
    if day is not None:
        if not DATE.fullmatch(day):
            read.problems.add(f"{where}/BookgDt/Dt", f"{day[:40]} is not an ISO date")
            return None
        return f"{day}T00:00:00Z"
    if status == BOOKED:
        read.problems.add(f"{where}/BookgDt", "is required for a booked entry")
    return None


def _entry(read: _Reader, ntry: Any, where: str, currency: str) -> Entry | None:
    amount_el = read.find(ntry, "Amt")
    mark = read.required(ntry, where, "CdtDbtInd")
    code = read.required(ntry, where, "Sts/Cd", "Sts", "Sts/Prtry")
    status = STATUSES.get(code or "")
    if code is not None and status is None:
        read.problems.add(f"{where}/Sts", f"{code[:16]} is not BOOK, PDNG, INFO or FUTR")
    if mark is not None and mark not in ("CRDT", "DBIT"):
        read.problems.add(f"{where}/CdtDbtInd", "must be CRDT or DBIT")
    amount = (amount_el.text or "").strip() if amount_el is not None else ""
    if amount_el is None:
        read.problems.add(f"{where}/Amt", "is required")
    elif not AMOUNT.fullmatch(amount):
        read.problems.add(f"{where}/Amt", f"{amount[:40]!r} is not an amount such as 12.50")
    booking = _booking(read, ntry, where, status or BOOKED)
    if not AMOUNT.fullmatch(amount) or status is None or mark not in ("CRDT", "DBIT"):
        return None
    if booking is None and status == BOOKED:
        return None
    kind = CREDIT if mark == "CRDT" else DEBIT
    counterparty, description, reference = _details(read, ntry, kind)
    return Entry(
        source=where, amount=amount,
        currency=str(amount_el.get("Ccy") or currency), type=kind,
        booking=booking or "", status=status,
        reversal=(read.text(ntry, "RvslInd") or "").lower() in ("true", "1"),
        bank_reference=read.text(ntry, "AcctSvcrRef") or read.text(ntry, "NtryRef"),
        reference=reference, counterparty=counterparty,
        description=description or clean_text(read.text(ntry, "AddtlNtryInf") or "", 256))


def _details(read: _Reader, ntry: Any, kind: str) -> tuple[str | None, str | None, str | None]:
    """Counterparty, remittance text and end-to-end reference of the entry's transaction
    details; a batch of several keeps their count and first texts, no single counterparty."""
    details = [tx for nd in read.all(ntry, "NtryDtls") for tx in read.all(nd, "TxDtls")]
    if not details:
        return None, None, None
    party = "Dbtr" if kind == CREDIT else "Cdtr"  # who paid us, or whom we paid
    names, texts, refs = [], [], []
    for tx in details:
        names.append(read.text(tx, f"RltdPties/{party}/Nm", f"RltdPties/{party}/Pty/Nm"))
        lines = [n.text.strip() for n in read.all(tx, "RmtInf/Ustrd") if n.text and n.text.strip()]
        texts.append(" ".join(lines) or read.text(tx, "RmtInf/Strd/CdtrRefInf/Ref",
                                                  "AddtlTxInf") or "")
        refs.append(read.text(tx, "Refs/EndToEndId"))
    if len(details) == 1:
        ref = refs[0] if refs[0] != NOT_PROVIDED else None
        return clean_text(names[0] or "", 128), clean_text(texts[0], 256), ref
    text = f"batch of {len(details)}: " + "; ".join(t for t in texts if t)
    return None, clean_text(text, 256), None
