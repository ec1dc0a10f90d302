"""MT940 reading: envelopes, several statements, :61: variants, reversals, :86: details."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from chalicelib.domain.statements.mt940 import parse_mt940
from chalicelib.domain.statements.parsed import CREDIT, DEBIT
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
