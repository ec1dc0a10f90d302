"""MT940 reading: envelopes, several statements, :61: variants, reversals, :86: details."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from chalicelib.domain.statements.mt940 import parse_mt940
from chalicelib.domain.statements.parsed import CREDIT, DEBIT, Entry
from chalicelib.errors import StatementFormatError

SAMPLES = Path(__file__).parent / "statements_samples"


def sample(name: str) -> str:
    return (SAMPLES / name).read_text()


def minimal(*entries: str, opening: str = ":60F:C261101EUR100,00",
            closing: str = ":62F:C261101EUR100,00") -> str:
    return "\n".join([":20:S1", ":25:ACC1", ":28C:1", opening, *entries, closing, "-"])


def problems(text: str) -> list[dict[str, str]]:
    with pytest.raises(StatementFormatError) as caught:
        parse_mt940(text)
    return [d.to_json() for d in caught.value.details]


def test_envelope_file_with_two_statements_is_read_with_crlf_lines() -> None:
    first, second = parse_mt940(sample("mt940_envelope.sta"))
    assert (first.account, first.currency, first.statement_id) == (
        "NL91ABNA0417164300", "EUR", "STMT-2026-0107")
    assert (first.opening and first.opening.amount, first.closing and first.closing.amount) == (
        Decimal("1000.00"), Decimal("1184.50"))
    assert [e.amount for e in first.entries] == ["250.00", "75.50", "20.00", "10.00"]
    assert second.account == "37040044:0532013000"  # bank code/account: `/` read as `:`
    assert second.opening is not None and second.opening.amount == Decimal("-50.00")


def test_reversals_take_the_opposite_type_and_funds_code_is_skipped() -> None:
    entries = parse_mt940(sample("mt940_envelope.sta"))[0].entries
    assert [(e.type, e.reversal) for e in entries] == [
        (CREDIT, False), (DEBIT, False), (CREDIT, True), (DEBIT, True)]  # C, D, RD, RCR


def test_entry_date_is_the_booking_date_and_value_date_is_used_without_it() -> None:
    entries = parse_mt940(minimal(":61:2611011102C1,00NTRFX", ":61:261103D1,00NTRFX"))[0].entries
    assert [e.booking for e in entries] == ["2026-11-02T00:00:00Z", "2026-11-03T00:00:00Z"]


def test_entry_date_across_the_year_end_takes_the_next_year() -> None:
    (entry,) = parse_mt940(minimal(":61:2612310102C1,00NTRFX"))[0].entries
    assert entry.booking == "2027-01-02T00:00:00Z"


def test_details_86_give_counterparty_and_remittance() -> None:
    entries = parse_mt940(sample("mt940_envelope.sta"))[0].entries
    assert (entries[0].counterparty, entries[0].description) == ("ACME BV", "Invoice 42")
    assert (entries[1].counterparty, entries[1].description) == (
        "CAFE CENTRAL", "Card payment Coffee and cake")  # ?-subfields over two lines
    assert (entries[2].counterparty, entries[2].description) == (None, "Returned direct debit")


def test_bank_reference_after_double_slash_and_nonref_is_no_reference() -> None:
    entries = parse_mt940(sample("mt940_envelope.sta"))[0].entries
    assert [e.bank_reference for e in entries] == ["BK100001", "BK100002", "BK100003", "BK100004"]
    assert [e.reference for e in entries] == ["REF-A1", None, None, None]


def test_bare_file_with_intermediate_balances_and_jpy_amounts() -> None:
    first, second = parse_mt940(sample("mt940_bare.sta"))
    assert first.entries[0].amount == "1200" and first.currency == "JPY"
    assert second.opening is not None and second.opening.amount == Decimal("498800")


def test_over_long_86_text_is_cut_not_refused() -> None:
    (entry,) = parse_mt940(minimal(":61:261101C1,00NTRFX", ":86:" + "x" * 60,
                                   *["y" * 60] * 6))[0].entries
    assert entry.description is not None and len(entry.description) == 256


def test_malformed_61_names_its_line() -> None:
    found = problems(minimal(":61:261101X1,00NTRFX"))
    assert found == [{"field": "line 5 (:61:)", "message": found[0]["message"]}]
    assert "mark C/D/RC/RD" in found[0]["message"]


def test_every_problem_is_named_with_its_line() -> None:
    found = problems(minimal(":61:261340C1,00NTRFX", ":99:odd", ":61:261101C1,2,3NTRFX"))
    assert [f["field"] for f in found] == ["line 6", "line 5 (:61:)", "line 7 (:61:)"]


def test_missing_closing_balance_is_refused() -> None:
    found = problems(":20:S1\n:25:A\n:28C:1\n:60F:C261101EUR1,00\n:61:261101C1,00NTRFX\n-")
    assert found == [{"field": "line 1", "message": "the statement lacks :62:"}]


def test_balance_with_too_many_decimals_for_its_currency_is_refused() -> None:
    found = problems(minimal(opening=":60F:C261101JPY100,5", closing=":62F:C261101JPY100,"))
    assert found[0] == {"field": "line 4 (:60F:)",
                        "message": "100,5 has more than 0 decimal places for JPY"}


def test_text_without_any_statement_is_refused() -> None:
    assert problems("hello\n")[0]["field"] == "line 1"


def test_unsupported_currency_is_refused() -> None:
    found = problems(minimal(opening=":60F:C261101XXX1,00", closing=":62F:C261101XXX1,00"))
    assert "XXX is not a supported currency" in found[0]["message"]


def entry_of(*lines: str) -> Entry:
    """The one entry of a minimal statement holding `lines` (a :61: and what follows it)."""
    (entry,) = parse_mt940(minimal(*lines))[0].entries
    return entry


HEADER_MESSAGE = "is not a SWIFT block header `{1:...}{2:...}{4:`"
NOT_A_FIELD = "is not a `:NN:` field or its continuation"
ENTRY_FORMAT = ("must be value date YYMMDD, [entry date MMDD], mark C/D/RC/RD, [funds code], "
                "amount (1234,56), type (NTRF), reference[//bank ref]")
BALANCE_FORMAT = "must be a balance: C or D, YYMMDD, currency, amount (1234,56)"
NOT_NEAR = "the entry date {} is not a date (MMDD) near the value date"
ACCOUNT_CHARS = "the account must be 1-34 of A-Za-z0-9._:-/ once spaces are dropped"


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("{bad\n:99:x\n", [("line 1", HEADER_MESSAGE),
                                   ("line 2", "the field :99: is not an MT940 field")],
                 id="a bad block header, and reading goes on after it"),
    pytest.param(minimal(":99:x"), [("line 5", "the field :99: is not an MT940 field")],
                 id="an unknown tag"),
    pytest.param(minimal().replace("\n-", "\n-x"),
                 [("line 6", "a line starting with `-` must end the statement")],
                 id="a dash line with more on it"),
    pytest.param(minimal(":61:261101C1,00NTRFX", ":86:abc", ":6:x"),
                 [("line 7", NOT_A_FIELD)], id="a colon line after :86: is no continuation"),
    pytest.param("hello\n", [("line 1", NOT_A_FIELD)], id="text that holds no field"),
    pytest.param("\n  \n", [("line 1", "the file holds no MT940 statement (no :20: field)")],
                 id="a blank file"),
    pytest.param(minimal(":61:261101X1,00NTRFX"), [("line 5 (:61:)", ENTRY_FORMAT)],
                 id="a malformed :61:"),
    pytest.param(minimal(":61:2613401102C1,00NTRFX"),
                 [("line 5 (:61:)", "261340 is not a date (YYMMDD)")],
                 id="a bad value date with an entry date"),
    pytest.param(minimal(":61:2611010230C1,00NTRFX"),
                 [("line 5 (:61:)", NOT_NEAR.format("0230"))],
                 id="an entry date that is no date"),
    pytest.param(minimal(":61:2601010701C1,00NTRFX"),
                 [("line 5 (:61:)", NOT_NEAR.format("0701"))],
                 id="an entry date 181 days from the value date"),
    pytest.param(minimal(":61:261101C1,2,3NTRFX"),
                 [("line 5 (:61:)", "1,2,3 is not an amount (one decimal comma)")],
                 id="an amount with two commas"),
    pytest.param(minimal(opening=":60F:C26110EUR1,00"), [("line 4 (:60F:)", BALANCE_FORMAT)],
                 id="a malformed balance"),
    pytest.param(minimal(opening=":60F:C261301EUR100,00"),
                 [("line 4 (:60F:)", "261301 is not a date (YYMMDD)")],
                 id="a balance whose date is no date"),
    pytest.param(minimal(closing=":62F:C261101USD100,00"),
                 [("line 5 (:62F:)", "the closing balance is in USD, the opening balance in EUR")],
                 id="balances in two currencies"),
    pytest.param(minimal().replace(":25:ACC1", ":25:AC#1"), [("line 2 (:25:)", ACCOUNT_CHARS)],
                 id="an account with a character ids do not take"),
    pytest.param(minimal(":25:B", ":28C:2", ":60M:C261101EUR100,00", ":62M:C261101EUR100,00"),
                 [("line 5 (:25:)", "the statement repeats :25:"),
                  ("line 6 (:28C:)", "the statement repeats :28C:"),
                  ("line 7 (:60M:)", "the statement repeats :60M:"),
                  ("line 9 (:62F:)", "the statement repeats :62F:")],
                 id="repeated account, number and balances"),
    pytest.param(":20:S\n:25:A\n-", [("line 1", "the statement lacks :60:, :62:")],
                 id="no balances"),
    pytest.param(":20:S\n:60F:C261101EUR1,00\n:62F:C261101EUR1,00\n-",
                 [("line 1", "the statement lacks :25:")], id="no account"),
    pytest.param(":25:A\n:60F:C261101EUR1,00\n:62F:C261101EUR1,00\n-",
                 [("line 1", "the statement lacks :20:")], id="fields before any :20:"),
    pytest.param(":20:S\n:25:AC#1\n:60F:C261101EUR1,00\n-",
                 [("line 1", "the statement lacks :62:"), ("line 2 (:25:)", ACCOUNT_CHARS)],
                 id="a statement refused for a missing field still names its bad account"),
])
def test_each_problem_is_named_by_its_line_with_its_exact_text(
        text: str, expected: list[tuple[str, str]]) -> None:
    with pytest.raises(StatementFormatError) as caught:
        parse_mt940(text)
    assert caught.value.message == "the MT940 file is malformed; nothing was stored"
    assert [(d.field, d.message) for d in caught.value.details] == expected


def test_cr_cr_lf_line_ends_read_as_lf() -> None:
    """A file converted to CR LF twice: every CR before a line end is dropped, none kept
    inside a :86: subfield cut at the line end."""
    text = minimal(":61:261101C0,00NTRFX", ":86:?20Card pay", "ment?32ACME")
    (lf,) = parse_mt940(text)
    (crcrlf,) = parse_mt940(text.replace("\n", "\r\r\n"))
    assert crcrlf == lf
    assert (lf.entries[0].counterparty, lf.entries[0].description) == ("ACME", "Card payment")


def test_blank_lines_between_fields_are_skipped() -> None:
    (statement,) = parse_mt940(minimal(":61:261101C0,00NTRFX", "", "  ", ":86:x"))
    assert statement.closing is not None and statement.entries[0].description == "x"


@pytest.mark.parametrize("end", ["- ", "-}  ", "-}{1:F01ABNANL2AXXXX0000000000}{4:"])
def test_a_dash_line_ends_the_statement_with_trailing_blanks_or_the_next_envelope(
        end: str) -> None:
    text = minimal().replace("\n-", "\n" + end) + "\n" + minimal().replace(":20:S1", ":20:S2")
    assert [s.statement_id for s in parse_mt940(text)] == ["S1", "S2"]


def test_a_new_20_starts_the_next_statement_without_a_dash() -> None:
    text = minimal().removesuffix("\n-") + "\n" + minimal().replace(":20:S1", ":20:S2")
    assert [s.statement_id for s in parse_mt940(text)] == ["S1", "S2"]


def test_lines_after_a_61_are_its_description_when_no_86_follows() -> None:
    assert entry_of(":61:261101C0,00NTRFX", "CARD 1234", "SHOP 5").description == (
        "CARD 1234 SHOP 5")
    long = entry_of(":61:261101C0,00NTRFX", "d" * 300).description
    assert long == "d" * 256


def test_an_86_right_after_a_61_is_its_details_even_as_the_last_field() -> None:
    text = minimal().removesuffix("\n-") + "\n:61:261101C0,00NTRFX\n:86:Late entry\n-"
    assert parse_mt940(text)[0].entries[0].description == "Late entry"


def test_entry_date_before_the_year_start_takes_the_last_year() -> None:
    assert entry_of(":61:2701021231C0,00NTRFX").booking == "2026-12-31T00:00:00Z"


def test_entry_date_180_days_from_the_value_date_is_still_taken() -> None:
    assert entry_of(":61:2601010630C0,00NTRFX").booking == "2026-06-30T00:00:00Z"


def test_balances_carry_their_dates() -> None:
    (statement,) = parse_mt940(minimal(opening=":60F:C261031EUR100,00"))
    assert statement.opening is not None and statement.opening.date == "2026-10-31"
    assert statement.closing is not None and statement.closing.date == "2026-11-01"


@pytest.mark.parametrize(("line", "reference"), [
    (":61:261101C0,00NTRFREFX", "REFX"),
    (":61:261101C0,00NTRF1234567890ABCDEF   ", "1234567890ABCDEF"),  # 16x, trailing blanks
])
def test_the_customer_reference_is_read_whole(line: str, reference: str) -> None:
    assert entry_of(line).reference == reference


@pytest.mark.parametrize(("details", "counterparty", "description"), [
    pytest.param([":86:?2025 Euro?21fee?29end"], None, "25 Euro fee end",
                 id="?20-?29 joined, a value starting with digits is no subfield code"),
    pytest.param([":86:?20Invoice 7"], None, "Invoice 7", id="no ?32/?33: no counterparty"),
    pytest.param([":86:?32ACME?20x"], "ACME", "x", id="?32 alone"),
    pytest.param([":86:?32" + "N" * 100, "?33" + "M" * 100 + "?20" + "r" * 200, "?21" + "s" * 100],
                 "N" * 100 + "M" * 28, "r" * 200 + " " + "s" * 55,
                 id="subfields cut at 128 and 256"),
    pytest.param([":86:/NAME/ACME", "BV/REMI/Invoice", "42"], "ACME BV", "Invoice 42",
                 id="keywords over lines"),
    pytest.param([":86:/REMI/Rent"], None, "Rent", id="no /NAME/: no counterparty"),
    pytest.param([":86:/EREF/NAME/REMI/x"], None, "x",
                 id="a keyword's value is never read as a keyword"),
    pytest.param([":86:/NAME/" + "N" * 130 + "/REMI/" + "r" * 60, *["r" * 60] * 4],
                 "N" * 128, " ".join(["r" * 60] * 5)[:256], id="keywords cut at 128 and 256"),
])
def test_86_details_give_counterparty_and_description(
        details: list[str], counterparty: str | None, description: str) -> None:
    entry = entry_of(":61:261101C0,00NTRFX", *details)
    assert (entry.counterparty, entry.description) == (counterparty, description)


def test_spaces_in_the_account_are_dropped() -> None:
    text = minimal().replace(":25:ACC1", ":25:NL91 ABNA 0417/164300")
    assert parse_mt940(text)[0].account == "NL91ABNA0417:164300"


def test_forward_available_balances_65_may_repeat() -> None:
    text = minimal().removesuffix("\n-") + "\n:65:C261102EUR100,00\n:65:C261103EUR100,00\n-"
    assert len(parse_mt940(text)) == 1
