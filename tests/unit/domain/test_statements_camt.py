"""camt.052/053/054 reading over defusedxml: versions .02 and .08, batches, statuses, refusals."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from chalicelib.domain.statements.camt import parse_camt
from chalicelib.domain.statements.parsed import (
    BOOKED,
    CREDIT,
    DEBIT,
    INFO,
    PENDING,
    Balance,
    Entry,
    Statement,
)
from chalicelib.errors import StatementFormatError

SAMPLES = Path(__file__).parent / "statements_samples"
NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def refused(raw: bytes) -> StatementFormatError:
    with pytest.raises(StatementFormatError) as caught:
        parse_camt(raw)
    return caught.value


def stmt(entry: str, balances: str = "") -> bytes:
    return (f'<Document xmlns="{NS}"><BkToCstmrStmt><Stmt><Acct><Id><IBAN>DE1</IBAN></Id>'
            f"<Ccy>EUR</Ccy></Acct>{balances}{entry}</Stmt></BkToCstmrStmt></Document>").encode()


def test_camt053_v02_two_statements_with_statuses_and_balances() -> None:
    kind, (first, second) = parse_camt(sample("camt053_v02.xml"))
    assert kind == "camt.053"
    assert first.account == "CH9300762011623852957"  # the IBAN's print spaces dropped
    assert (first.opening and first.opening.amount, first.closing and first.closing.amount) == (
        Decimal("5000.00"), Decimal("5600.00"))
    assert [e.status for e in first.entries] == [BOOKED, BOOKED, PENDING, INFO]
    assert second.account == "ACC-42" and second.opening is not None
    assert second.closing is not None and second.closing.amount == Decimal("-12.34")


def test_batched_entry_is_one_movement_with_the_batch_described() -> None:
    entry = parse_camt(sample("camt053_v02.xml"))[1][0].entries[0]
    assert (entry.amount, entry.type, entry.bank_reference) == ("1000.00", CREDIT, "AS-0001")
    assert entry.counterparty is None
    assert entry.description == "batch of 2: Membership 2027; Donation"


def test_booking_time_with_offset_and_entry_reference_fallback() -> None:
    entry = parse_camt(sample("camt053_v02.xml"))[1][0].entries[1]
    assert entry.booking == "2026-11-20T14:30:00+01:00"
    assert (entry.bank_reference, entry.reference) == ("NR-9", "E2E-1")
    assert (entry.counterparty, entry.description, entry.type) == (
        "Swisscom AG", "Invoice 2026-11", DEBIT)


def test_version_08_status_code_and_party_name() -> None:
    kind, (statement,) = parse_camt(sample("camt053_v08.xml"))
    first = statement.entries[0]
    assert (kind, first.status, first.counterparty, first.description) == (
        "camt.053", BOOKED, "Jane Roe", "Rent November")


def test_camt052_interim_balance_closes_the_report() -> None:
    kind, (report,) = parse_camt(sample("camt052_v08.xml"))
    assert kind == "camt.052"
    assert report.closing is not None and report.closing.amount == Decimal("150.00")
    assert [e.status for e in report.entries] == [BOOKED, PENDING]


def test_camt054_notifications_have_no_balances() -> None:
    kind, notes = parse_camt(sample("camt054_v02.xml"))
    assert kind == "camt.054" and len(notes) == 2
    assert all(n.opening is None and n.closing is None for n in notes)
    assert notes[0].currency == "EUR"  # from the entries when the account has no Ccy


@pytest.mark.parametrize("doctype", [
    b'<!DOCTYPE Document [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
    b'<!DOCTYPE Document SYSTEM "http://127.0.0.1:9/evil.dtd">',
    b'<!DOCTYPE Document [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>',
])
def test_dtds_entities_and_external_references_are_refused(doctype: bytes) -> None:
    raw = b'<?xml version="1.0"?>' + doctype + stmt("")[0:]
    error = refused(raw)
    assert error.status == 400 and "DTD" in error.message


def test_malformed_xml_names_line_and_column() -> None:
    error = refused(b"<Document>\n<a></b></Document>")
    assert error.details[0].field == "line 2 column 5"


def test_unknown_namespace_or_version_is_refused() -> None:
    assert "root must be Document" in refused(b"<Document/>").details[0].message
    raw = stmt("").replace(b"001.02", b"001.13")
    assert ".13 is not read here" in refused(raw).message


def test_problems_are_named_by_element_path() -> None:
    entry = ("<Ntry><Amt Ccy='EUR'>1.00</Amt><CdtDbtInd>UP</CdtDbtInd><Sts>BOOK</Sts></Ntry>"
             "<Ntry><Amt Ccy='EUR'>1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>DONE</Sts>"
             "<BookgDt><Dt>26-11-01</Dt></BookgDt></Ntry>")
    fields = [d.field for d in refused(stmt(entry)).details]
    assert fields == ["Document/BkToCstmrStmt/Stmt[1]/Ntry[1]/CdtDbtInd",
                      "Document/BkToCstmrStmt/Stmt[1]/Ntry[1]/BookgDt",
                      "Document/BkToCstmrStmt/Stmt[1]/Ntry[2]/Sts",
                      "Document/BkToCstmrStmt/Stmt[1]/Ntry[2]/BookgDt/Dt"]


def test_deeply_nested_xml_is_read_without_recursion() -> None:
    raw = stmt("<AddtlStmtInf>" + "<x>" * 5000 + "</x>" * 5000 + "</AddtlStmtInf>")
    _kind, (statement,) = parse_camt(raw)
    assert statement.entries == []


def test_unknown_encoding_in_the_declaration_is_refused() -> None:
    error = refused(b'<?xml version="1.0" encoding="x-nope"?><Document/>')
    assert error.details[0].field == "line 1" and "UTF-8" in error.message


def test_utf16_document_is_read() -> None:
    text = stmt("").decode().replace("<Document", '<?xml version="1.0" encoding="UTF-16"?>'
                                     "<Document", 1)
    _, (statement,) = parse_camt(text.encode("utf-16"))
    assert statement.account == "DE1"


# What each refusal says, and what each part of a statement reads, pinned exactly: the error's
# message and every problem's `field` and text are what the bank's analyst reads (issue 23's
# mutation triage, docs/mutation/statements-camt.md).

P = "Document/BkToCstmrStmt/Stmt[1]"
ACCT = "<Acct><Id><IBAN>DE1</IBAN></Id><Ccy>EUR</Ccy></Acct>"
MALFORMED = "the camt.053 file is malformed; nothing was stored"
ROOT_RULE = ("the root must be Document in a namespace "
             "urn:iso:std:iso:20022:tech:xsd:camt.05N.001.NN")


def document(statements: str) -> bytes:
    return f'<Document xmlns="{NS}"><BkToCstmrStmt>{statements}</BkToCstmrStmt></Document>'.encode()


def bal(code: str = "<Cd>OPBD</Cd>", amount: str = '<Amt Ccy="EUR">1.00</Amt>',
        mark: str = "<CdtDbtInd>CRDT</CdtDbtInd>",
        day: str = "<Dt><Dt>2026-11-01</Dt></Dt>") -> str:
    kind = f"<Tp><CdOrPrtry>{code}</CdOrPrtry></Tp>" if code else ""
    return f"<Bal>{kind}{amount}{mark}{day}</Bal>"


def ntry(amount: str = '<Amt Ccy="EUR">1.00</Amt>', mark: str = "<CdtDbtInd>CRDT</CdtDbtInd>",
         status: str = "<Sts>BOOK</Sts>", booking: str = "<BookgDt><Dt>2026-11-01</Dt></BookgDt>",
         more: str = "") -> str:
    return f"<Ntry>{amount}{mark}{status}{booking}{more}</Ntry>"


def only_statement(inner: str) -> Statement:
    _kind, (statement,) = parse_camt(document(f"<Stmt>{inner}</Stmt>"))
    return statement


def only_entry(entry: str) -> Entry:
    (found,) = only_statement(ACCT + entry).entries
    return found


@pytest.mark.parametrize(("raw", "message", "problems"), [
    pytest.param(b'<!DOCTYPE Document [<!ENTITY a "b">]><Document>&a;</Document>',
                 "XML with a DTD, entity declarations or external references is refused; "
                 "nothing was fetched or stored", [("Document", "DTDForbidden")], id="dtd"),
    pytest.param(b"<Document>\n<a></b></Document>",
                 "the XML is not well-formed; nothing was stored",
                 [("line 2 column 5", "mismatched tag: line 2, column 5")], id="not-well-formed"),
    pytest.param(b'<?xml version="1.0" encoding="' + b"x" * 300 + b'"?><Document/>',
                 "the XML declares an unknown encoding; send UTF-8",
                 [("line 1", ("unknown encoding: " + "x" * 300)[:200])], id="unknown-encoding"),
    pytest.param(b"<Foo/>", "not an ISO 20022 camt.052/053/054 document", [("Foo", ROOT_RULE)],
                 id="root-without-namespace"),
    pytest.param(b"<" + b"R" * 100 + b"/>", "not an ISO 20022 camt.052/053/054 document",
                 [("R" * 64, ROOT_RULE)], id="long-root-name-cut"),
    pytest.param(document("").replace(b"001.02", b"001.13"),
                 "camt.053 version .13 is not read here; send .02 to .08",
                 [("Document", "namespace urn:iso:std:iso:20022:tech:xsd:camt.053.001.13")],
                 id="unread-version"),
    pytest.param(f'<Document xmlns="{NS}"/>'.encode(), "a camt.053 document holds BkToCstmrStmt",
                 [("Document/BkToCstmrStmt", "is required")], id="no-message"),
    pytest.param(document(""), MALFORMED, [("Document/BkToCstmrStmt/Stmt", "the file holds none")],
                 id="no-statement"),
])
def test_each_document_refusal_says_exactly_what_is_wrong(
        raw: bytes, message: str, problems: list[tuple[str, str]]) -> None:
    error = refused(raw)
    assert (error.message, [(d.field, d.message) for d in error.details]) == (message, problems)


MISSING_AMOUNT_THEN_EVERY_OTHER_BALANCE_PROBLEM = "".join([
    bal(amount=""),
    bal(mark="<CdtDbtInd>UP</CdtDbtInd>"),
    bal(day=""),
    bal(code=""),
    bal(mark=""),
    bal(amount='<Amt Ccy="EUR"/>'),
    bal(amount="<Amt>1.00</Amt>"),
    bal(amount='<Amt Ccy="EUR">1.5x</Amt>', mark="<CdtDbtInd>DBIT</CdtDbtInd>"),
])


@pytest.mark.parametrize(("inner", "problems"), [
    pytest.param("<Acct><Ccy>EUR</Ccy></Acct>", [("Acct/Id/IBAN", "is required")],
                 id="no-account-names-the-first-path-and-nothing-else"),
    pytest.param(ACCT + MISSING_AMOUNT_THEN_EVERY_OTHER_BALANCE_PROBLEM, [
        ("Bal[1]/Amt", "is required"),
        ("Bal[2]/CdtDbtInd", "must be CRDT or DBIT"),
        ("Bal[3]/Dt/Dt", "is required"),
        ("Bal[4]/Tp/CdOrPrtry/Cd", "is required"),
        ("Bal[5]/CdtDbtInd", "is required"),
        ("Bal[6]/Amt", "is required"),
        ("Bal[7]/Amt", "names no currency"),
        ("Bal[8]/Amt", "1.5x is not a balance amount"),
    ], id="every-balance-problem-in-file-order"),
    pytest.param(ACCT + ntry(amount=""), [("Ntry[1]/Amt", "is required")], id="entry-no-amount"),
    pytest.param(ACCT + ntry(amount='<Amt Ccy="EUR"/>'),
                 [("Ntry[1]/Amt", "'' is not an amount such as 12.50")], id="entry-empty-amount"),
    pytest.param(ACCT + ntry(amount=f'<Amt Ccy="EUR">{"1" * 50}</Amt>'),
                 [("Ntry[1]/Amt", f"{'1' * 40!r} is not an amount such as 12.50")],
                 id="entry-long-amount-cut"),
    pytest.param(ACCT + ntry(mark=""), [("Ntry[1]/CdtDbtInd", "is required")], id="entry-no-mark"),
    pytest.param(ACCT + ntry(mark="<CdtDbtInd>UP</CdtDbtInd>"),
                 [("Ntry[1]/CdtDbtInd", "must be CRDT or DBIT")], id="entry-unknown-mark"),
    pytest.param(ACCT + ntry(status=""), [("Ntry[1]/Sts/Cd", "is required")], id="entry-no-status"),
    pytest.param(ACCT + ntry(status="<Sts>ABCDEFGHIJKLMNOPQRST</Sts>"),
                 [("Ntry[1]/Sts", "ABCDEFGHIJKLMNOP is not BOOK, PDNG, INFO or FUTR")],
                 id="entry-unknown-status-cut"),
    pytest.param(ACCT + ntry(booking=f"<BookgDt><DtTm>{'x' * 50}</DtTm></BookgDt>"),
                 [("Ntry[1]/BookgDt/DtTm", f"{'x' * 40} is not an ISO date-time")],
                 id="entry-bad-date-time-cut"),
    pytest.param(ACCT + ntry(booking=f"<BookgDt><Dt>{'y' * 50}</Dt></BookgDt>"),
                 [("Ntry[1]/BookgDt/Dt", f"{'y' * 40} is not an ISO date")],
                 id="entry-bad-date-cut"),
    pytest.param(ACCT + ntry(booking=""), [("Ntry[1]/BookgDt", "is required for a booked entry")],
                 id="booked-entry-without-booking"),
])
def test_each_statement_problem_is_named_by_its_path_with_its_text(
        inner: str, problems: list[tuple[str, str]]) -> None:
    error = refused(document(f"<Stmt>{inner}</Stmt>"))
    assert error.message == MALFORMED
    assert [(d.field, d.message) for d in error.details] == [
        (f"{P}/{field}", text) for field, text in problems]


def test_balances_read_proprietary_codes_date_times_and_debit_signs() -> None:
    statement = only_statement(ACCT + bal(code="<Prtry>OPBD</Prtry>",
                                          day="<Dt><DtTm>2026-11-01T10:00:00</DtTm></Dt>")
                               + bal(code="<Cd>CLBD</Cd>", amount='<Amt Ccy="EUR">2.00</Amt>',
                                     mark="<CdtDbtInd>DBIT</CdtDbtInd>"))
    assert (statement.opening, statement.closing) == (
        Balance(Decimal("1.00"), "EUR", "2026-11-01"),
        Balance(Decimal("-2.00"), "EUR", "2026-11-01"))


def itbd(amount: str, day: str) -> str:
    return bal(code="<Cd>ITBD</Cd>", amount=f'<Amt Ccy="EUR">{amount}</Amt>',
               day=f"<Dt><Dt>{day}</Dt></Dt>")


@pytest.mark.parametrize(("balances", "opening", "closing"), [
    pytest.param(itbd("3.00", "2026-11-02") + itbd("2.00", "2026-11-01"), "2.00", "3.00",
                 id="two-interims-open-and-close-by-date-not-file-order"),
    pytest.param(bal() + itbd("3.00", "2026-11-02") + itbd("2.00", "2026-11-01"), "1.00", "3.00",
                 id="an-opening-balance-stays-the-opening"),
    pytest.param(itbd("3.00", "2026-11-02"), None, None, id="one-interim-alone-is-no-pair"),
])
def test_interim_balances_close_a_report(balances: str, opening: str | None,
                                         closing: str | None) -> None:
    statement = only_statement(ACCT + balances)
    assert (statement.opening and statement.opening.text(),
            statement.closing and statement.closing.text()) == (opening, closing)


@pytest.mark.parametrize(("inner", "currency", "statement_id"), [
    pytest.param("<Id>S-1</Id>" + ACCT, "EUR", "S-1", id="the-account-currency"),
    pytest.param("<Acct><Id><Othr><Id>A 1</Id></Othr></Id></Acct>"
                 + bal(code="<Cd>CLBD</Cd>", amount='<Amt Ccy="USD">1.00</Amt>'), "USD", None,
                 id="else-a-closing-balance-currency"),
    pytest.param("<Acct><Id><Othr><Id>A 1</Id></Othr></Id></Acct>", "", None,
                 id="else-none-without-entries"),
])
def test_a_statement_takes_its_currency_from_the_account_then_its_balances(
        inner: str, currency: str, statement_id: str | None) -> None:
    statement = only_statement(inner)
    assert (statement.currency, statement.statement_id, statement.entries) == (
        currency, statement_id, [])


BASE = Entry(source=f"{P}/Ntry[1]", amount="1.00", currency="EUR", type=CREDIT,
             booking="2026-11-01T00:00:00Z")
ONE_TX = "<NtryDtls><TxDtls>{}</TxDtls></NtryDtls>"


@pytest.mark.parametrize(("entry", "expected"), [
    pytest.param(ntry(), BASE, id="plain"),
    pytest.param(ntry(amount="<Amt>1.00</Amt>"), BASE,
                 id="amount-without-currency-is-the-accounts"),
    pytest.param(ntry(status="<Sts><Prtry>PDNG</Prtry></Sts>", booking=""),
                 replace(BASE, status=PENDING, booking=""), id="proprietary-status-no-booking"),
    pytest.param(ntry(booking="<BookgDt><DtTm>2026-11-01T10:00:00</DtTm></BookgDt>"),
                 replace(BASE, booking="2026-11-01T10:00:00Z"),
                 id="date-time-without-offset-is-utc"),
    pytest.param(ntry(more="<RvslInd>true</RvslInd>"), replace(BASE, reversal=True),
                 id="reversal-true"),
    pytest.param(ntry(more="<RvslInd>1</RvslInd>"), replace(BASE, reversal=True), id="reversal-1"),
    pytest.param(ntry(more="<RvslInd>false</RvslInd>"), BASE, id="reversal-false"),
    pytest.param(ntry(more="<AddtlNtryInf>Card \n payment</AddtlNtryInf>"),
                 replace(BASE, description="Card payment"), id="entry-information-as-description"),
    pytest.param(ntry(more=f"<AddtlNtryInf>{'i' * 300}</AddtlNtryInf>"),
                 replace(BASE, description="i" * 256), id="entry-information-cut-at-256"),
    pytest.param(ntry(more=ONE_TX.format("<RltdPties><Dbtr><Nm>Ann</Nm></Dbtr></RltdPties>")),
                 replace(BASE, counterparty="Ann"), id="a-name-alone-describes-nothing"),
    pytest.param(ntry(more=ONE_TX.format("<Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs>")),
                 BASE, id="end-to-end-not-provided-is-no-reference"),
    pytest.param(ntry(more=ONE_TX.format(
        "<RmtInf><Strd><CdtrRefInf><Ref>RF18 539</Ref></CdtrRefInf></Strd></RmtInf>")),
        replace(BASE, description="RF18 539"), id="structured-reference-as-description"),
    pytest.param(ntry(more=ONE_TX.format("<AddtlTxInf>Fee</AddtlTxInf>")),
                 replace(BASE, description="Fee"), id="transaction-information-as-description"),
    pytest.param(ntry(more=ONE_TX.format("<RmtInf><Ustrd/><Ustrd> </Ustrd><Ustrd>Rent</Ustrd>"
                                         "</RmtInf>")),
                 replace(BASE, description="Rent"), id="empty-remittance-lines-skipped"),
    pytest.param(ntry(more=ONE_TX.format(f"<RltdPties><Dbtr><Nm>{'n' * 200}</Nm></Dbtr></RltdPties>"
                                         f"<RmtInf><Ustrd>{'t' * 300}</Ustrd></RmtInf>")),
                 replace(BASE, counterparty="n" * 128, description="t" * 256),
                 id="name-cut-at-128-text-at-256"),
    pytest.param(ntry(more="<NtryDtls>"
                      + f"<TxDtls><RmtInf><Ustrd>{'b' * 200}</Ustrd></RmtInf></TxDtls>" * 2
                      + "</NtryDtls>"),
                 replace(BASE, description=("batch of 2: " + "b" * 200 + "; " + "b" * 200)[:256]),
                 id="batch-text-cut-at-256"),
])
def test_an_entry_reads_exactly_what_the_file_states(entry: str, expected: Entry) -> None:
    assert only_entry(entry) == expected
