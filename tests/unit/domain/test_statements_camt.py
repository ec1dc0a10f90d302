"""camt.052/053/054 reading over defusedxml: versions .02 and .08, batches, statuses, refusals."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from chalicelib.domain.statements.camt import parse_camt
from chalicelib.domain.statements.parsed import BOOKED, CREDIT, DEBIT, INFO, PENDING
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
