"""Statement entries to transactions: deterministic ids, all-or-nothing validation, balances."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from chalicelib.domain.statements.mapping import prepare, read_statements
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
