"""Statement entries to transactions: deterministic ids, all-or-nothing validation, balances."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from chalicelib.domain.statements.mapping import (
    check_balances,
    detect_format,
    figures,
    prepare,
    read_statements,
)
from chalicelib.domain.statements.parsed import (
    CAMT053,
    CREDIT,
    Balance,
    Entry,
    ParsedFile,
    Statement,
)
from chalicelib.errors import StatementBalanceError, StatementFormatError, ValidationError

SAMPLES = Path(__file__).parent / "statements_samples"
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def ids(raw: bytes) -> list[str]:
    return [b.transaction.id for b in prepare(read_statements(raw), NOW)]


def mt940(*lines: str) -> bytes:
    return "\n".join([":20:S", ":25:ACC1", ":28C:1", *lines, "-"]).encode()


@pytest.mark.parametrize("name", ["mt940_envelope.sta", "mt940_bare.sta", "camt053_v02.xml",
                                  "camt053_v08.xml", "camt052_v08.xml", "camt054_v02.xml"])
def test_every_sample_maps_to_valid_transactions_with_stable_unique_ids(name: str) -> None:
    first, again = ids(sample(name)), ids(sample(name))
    assert first == again and len(set(first)) == len(first)
    assert all(i.startswith("st-") and len(i) == 35 for i in first)


def test_format_is_detected_and_a_wrong_declared_format_is_refused() -> None:
    assert read_statements(sample("camt054_v02.xml")).format == "camt.054"
    assert read_statements(sample("mt940_bare.sta"), "mt940").format == "mt940"
    with pytest.raises(StatementFormatError, match=r"is camt\.053, not camt\.052"):
        read_statements(sample("camt053_v08.xml"), "camt.052")
    with pytest.raises(StatementFormatError, match="neither MT940 nor camt"):
        read_statements(b"id,amount\n1,2\n")


def test_camt052_entry_repeated_by_camt053_keeps_its_id_and_content() -> None:
    intraday = prepare(read_statements(sample("camt052_v08.xml")), NOW)
    day = prepare(read_statements(sample("camt053_v08.xml")), NOW)
    assert intraday[0].transaction.content() == day[0].transaction.content()


def test_only_booked_entries_become_transactions() -> None:
    booked = prepare(read_statements(sample("camt053_v02.xml")), NOW)
    assert [str(b.transaction.amount) for b in booked] == ["1000.00", "400.00", "12.34"]


def test_identical_entries_without_reference_differ_by_ordinal() -> None:
    booked = prepare(read_statements(sample("mt940_envelope.sta")), NOW)
    salaries = [b.transaction for b in booked if b.transaction.account.startswith("3704")]
    assert salaries[0].content() | {"id": ""} == salaries[1].content() | {"id": ""}
    assert salaries[0].id != salaries[1].id


def test_repeated_bank_reference_in_one_statement_does_not_merge_entries() -> None:
    raw = mt940(":60F:C261101EUR0,", ":61:261101C1,00NTRFX//SAME", ":61:261101C2,00NTRFX//SAME",
                ":62F:C261101EUR3,")
    assert len(set(ids(raw))) == 2


def test_id_depends_on_the_bank_reference_not_on_the_amount_so_a_change_is_a_conflict() -> None:
    one = mt940(":60F:C261101EUR0,", ":61:261101C1,00NTRFX//R1", ":62F:C261101EUR1,")
    two = mt940(":60F:C261101EUR0,", ":61:261101C2,00NTRFX//R1", ":62F:C261101EUR2,")
    assert ids(one) == ids(two)


def test_balance_mismatch_is_422_with_the_figures() -> None:
    raw = mt940(":60F:C261101EUR100,00", ":61:261101C10,00NTRFX", ":61:261101D2,50NTRFX",
                ":62F:C261101EUR107,49")
    with pytest.raises(StatementBalanceError) as caught:
        prepare(read_statements(raw), NOW)
    assert caught.value.status == 422
    assert caught.value.details[0].message == (
        "opening 100.00 + credits 10.00 - debits 2.50 = 107.50 EUR, "
        "but the closing balance is 107.49")


def test_jpy_amount_with_decimals_refuses_the_file_with_every_reason() -> None:
    raw = (b":20:S\n:25:A\n:28C:1\n:60F:C261101JPY0,\n:61:261101C1,5NTRFX\n"
           b":61:261101C2,25NTRFX\n:62F:C261101JPY3,\n-")
    with pytest.raises(ValidationError) as caught:
        prepare(read_statements(raw), NOW)
    assert [d.to_json() for d in caught.value.details] == [
        {"field": "line 5 amount", "message": "has more than 0 decimal places for JPY"},
        {"field": "line 6 amount", "message": "has more than 0 decimal places for JPY"}]


def test_huge_amount_and_future_booking_are_refused_by_the_money_and_time_rules() -> None:
    raw = mt940(":60F:C261101EUR0,", ":61:261101C9999999999999,NTRFX",
                ":61:271201C1,00NTRFX", ":62F:C261101EUR0,")
    with pytest.raises(ValidationError) as caught:
        prepare(read_statements(raw), NOW)
    assert [d.field for d in caught.value.details] == ["line 5 amount", "line 6 timestamp"]


def test_camt053_without_closing_balance_is_refused() -> None:
    raw = sample("camt053_v08.xml").replace(b"CLBD", b"XXXX")
    with pytest.raises(StatementFormatError, match="opening and closing booked balances"):
        prepare(read_statements(raw), NOW)


def test_entry_in_another_currency_than_the_balances_is_refused() -> None:
    raw = sample("camt053_v08.xml").replace(b'<Amt Ccy="GBP">30.00', b'<Amt Ccy="EUR">30.00')
    with pytest.raises(StatementFormatError, match="currency differs"):
        prepare(read_statements(raw), NOW)


def test_the_documented_id_examples_hold() -> None:
    """docs/statements.md derives these by hand: the scheme must not drift from it."""
    camt = ids(sample("camt053_v08.xml"))
    assert camt[0] == "st-38738879e9eede56c2e08968fdad2c9f"  # account + AcctSvcrRef GB-1
    mt = ids(sample("mt940_envelope.sta"))
    assert mt[-1] == "st-a7fc936b724485df32eb6486f63f4df0"  # the 2nd identical salary entry


def refusal(raw: bytes, declared: str | None = None) -> tuple[str, list[tuple[str, str]]]:
    with pytest.raises(StatementFormatError) as caught:
        read_statements(raw, declared)
    return caught.value.message, [(d.field, d.message) for d in caught.value.details]


@pytest.mark.parametrize(("head", "found"), [
    pytest.param(b"<Document/>", "camt", id="XML"),
    pytest.param(b" \r\n\t<?xml version='1.0'?>", "camt", id="XML after blank lines"),
    pytest.param(b"\xff\xfe<\x00?\x00", "camt", id="UTF-16 LE XML"),
    pytest.param(b"\xfe\xff\x00<\x00?", "camt", id="UTF-16 BE XML"),
    pytest.param(b"\xef\xbb\xbf:20:S\n", "mt940", id="MT940 after a UTF-8 BOM"),
    pytest.param(b"{1:F01X}{4:\n:25:A\n", "mt940", id="an envelope even without :20:"),
    pytest.param(b"ABNANL2A\n940\nABNANL2A\n:20:S\n", "mt940", id="a bank's header lines first"),
    pytest.param(b":25:A\r:20:S\r", "mt940", id="fields with CR-only line ends"),
    pytest.param(b":" + b"x" * 2042 + b"\n:20:S", "mt940", id=":20: inside the first 2048 bytes"),
])
def test_the_format_is_detected_from_the_head_of_the_file(head: bytes, found: str) -> None:
    assert detect_format(head) == found


NEITHER = ("the file is neither MT940 nor camt XML; send ?format=mt940|camt.052|camt.053|camt.054",
           [("line 1", "starts with neither `<`, `{1:` nor a `:NN:` field")])


@pytest.mark.parametrize("head", [
    pytest.param(b"id,amount\n1,2\n", id="CSV"),
    pytest.param(b":-) hello", id="a colon but no :20:"),
    pytest.param(b"X:20:S\n", id=":20: not at a line start"),
    pytest.param(b":" + b"x" * 2043 + b"\n:20:S", id=":20: past the first 2048 bytes"),
])
def test_a_file_neither_mt940_nor_camt_is_refused_saying_so(head: bytes) -> None:
    assert refusal(head) == NEITHER


@pytest.mark.parametrize(("raw", "declared", "message", "details"), [
    pytest.param(b"", None, "the body is empty; send the statement file",
                 [("body", "is empty")], id="empty"),
    pytest.param(b" \n", "mt940", "the body is empty; send the statement file",
                 [("body", "is empty")], id="blank"),
    pytest.param(b"x", "csv", "format must be one of mt940, camt.052, camt.053, camt.054",
                 [("format", "'csv' is not known")], id="unknown format"),
    pytest.param(b"x", "y" * 40, "format must be one of mt940, camt.052, camt.053, camt.054",
                 [("format", repr("y" * 32) + " is not known")], id="unknown format cut at 32"),
    pytest.param(mt940(":60F:C261101EUR0,", ":62F:C261101EUR0,"), "camt.053",
                 "the file is mt940, not camt.053", [("format", "the content is mt940")],
                 id="declared otherwise"),
])
def test_a_file_that_cannot_be_read_is_refused_with_its_reason(
        raw: bytes, declared: str | None, message: str, details: list[tuple[str, str]]) -> None:
    assert refusal(raw, declared) == (message, details)


def test_an_mt940_file_with_a_utf8_bom_is_read() -> None:
    raw = b"\xef\xbb\xbf" + mt940(":60F:C261101EUR0,", ":62F:C261101EUR0,")
    assert read_statements(raw).statements[0].statement_id == "S"


def test_an_mt940_file_that_is_not_utf8_is_read_as_latin1() -> None:
    text = "\n".join([":20:S", ":25:ACC1", ":60F:C261101EUR0,", ":61:261101C1,00NTRFX",
                      ":86:Caf\xe9 M\xfcller", ":62F:C261101EUR1,", "-"])
    (statement,) = read_statements(text.encode("latin-1")).statements  # é, ü: no UTF-8
    assert statement.entries[0].description == "Caf\xe9 M\xfcller"


def test_a_stray_first_line_of_an_mt940_file_is_named() -> None:
    raw = b"X\n" + mt940(":60F:C261101EUR0,", ":62F:C261101EUR0,")
    assert refusal(raw)[1] == [("line 1", "is not a `:NN:` field or its continuation")]


def test_counterparty_and_description_reach_the_transaction() -> None:
    raw = mt940(":60F:C261101EUR0,", ":61:261101C1,00NTRFX", ":86:/NAME/ACME/REMI/Rent",
                ":62F:C261101EUR1,")
    (booked,) = prepare(read_statements(raw), NOW)
    assert (booked.transaction.counterparty, booked.transaction.description) == ("ACME", "Rent")
    assert booked.entry.source == "line 5" and booked.statement == 0


def test_three_identical_entries_get_three_ids() -> None:
    raw = mt940(":60F:C261101EUR0,", *[":61:261101C1,00NTRFX"] * 3, ":62F:C261101EUR3,")
    assert len(set(ids(raw))) == 3


def test_the_count_of_invalid_entries_is_the_refusals_message() -> None:
    raw = mt940(":60F:C261101EUR0,", ":61:261101C1,555NTRFX", ":61:261101C1,00NTRFX",
                ":61:261101C2,555NTRFX", ":62F:C261101EUR0,")
    with pytest.raises(ValidationError) as caught:
        prepare(read_statements(raw), NOW)
    assert caught.value.message == "2 entries of the file are invalid; nothing was stored"


BALANCE = Balance(Decimal("0.00"), "EUR", "2026-11-01")


@pytest.mark.parametrize(("opening", "closing"), [(BALANCE, None), (None, BALANCE)])
def test_a_statement_without_both_balances_has_no_figures(
        opening: Balance | None, closing: Balance | None) -> None:
    assert figures(Statement("Stmt[1]", "A", "EUR", opening=opening, closing=closing)) is None


def entry(currency: str) -> Entry:
    return Entry("Ntry[1]", "1.00", currency, CREDIT, "2026-11-01T00:00:00Z")


@pytest.mark.parametrize(("statement", "message", "details"), [
    pytest.param(Statement("Stmt[1]", "A", "EUR", opening=BALANCE),
                 "a statement needs its opening and closing booked balances",
                 [("Stmt[1]/Bal", "needs OPBD (or PRCD) and CLBD")], id="no closing balance"),
    pytest.param(Statement("Stmt[1]", "A", "EUR", opening=BALANCE, closing=BALANCE,
                           entries=[entry("EUR"), entry("USD"), entry("CHF")]),
                 "an entry's currency differs from its statement's balances",
                 [("Stmt[1]", "entries in CHF, USD; balances in EUR")],
                 id="entries in other currencies"),
])
def test_a_statement_whose_balances_cannot_be_checked_is_refused_saying_why(
        statement: Statement, message: str, details: list[tuple[str, str]]) -> None:
    with pytest.raises(StatementFormatError) as caught:
        check_balances(ParsedFile(CAMT053, [statement]))
    assert (caught.value.message, [(d.field, d.message) for d in caught.value.details]) == (
        message, details)
