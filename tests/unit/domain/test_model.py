"""A stored transaction reads back as the one written: every text field, its flags and their
evidence (DynamoDB hands numbers back as Decimal)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from chalicelib.domain.model import FlagDetail, Transaction


def _full() -> Transaction:
    return Transaction(
        "t1", "A1", Decimal("250.50"), "EUR", "debit", datetime(2026, 1, 10, 14, 5, tzinfo=UTC),
        description="rent", merchant="Acme", counterparty="DE89", channel="card",
        flags=("velocity", "round_amount"),
        flag_details=(FlagDetail.of("velocity", 3, {"count": 7, "window": "1h"}),
                      FlagDetail.of("round_amount", 1, {"ok": True}, suppressed=True)))


def test_a_transaction_reads_back_from_its_stored_form_field_for_field() -> None:
    stored = _full()
    back = Transaction.from_json(stored.to_json())
    assert back == stored
    assert (back.description, back.merchant, back.counterparty, back.channel) == (
        "rent", "Acme", "DE89", "card")
    bare = Transaction("t2", "A1", Decimal("1.00"), "USD", "credit", stored.timestamp)
    assert Transaction.from_json(bare.to_json()) == bare


def test_flags_and_details_that_are_not_lists_are_read_as_none() -> None:
    body = _full().to_json()
    body["flags"] = "velocity"  # not one flag per character
    body["flag_details"] = tuple(body["flag_details"])  # type: ignore[arg-type]
    back = Transaction.from_json(body)
    assert (back.flags, back.flag_details) == ((), ())


def test_evidence_numbers_from_a_store_come_back_as_ints_or_decimal_text() -> None:
    detail = FlagDetail.from_json({
        "rule": "velocity", "version": Decimal(3),
        "evidence": {"count": Decimal(7), "zscore": Decimal("3.25"), "big": Decimal("1E+2"),
                     "seen": True, "name": "x", "n": 4}})
    assert detail == FlagDetail("velocity", 3, (("big", 100), ("count", 7), ("n", 4),
                                                ("name", "x"), ("seen", True),
                                                ("zscore", "3.25")))
    assert [type(v) for _, v in detail.evidence] == [int, int, int, str, bool, str]


def test_a_detail_stored_without_evidence_has_none() -> None:
    assert FlagDetail.from_json({"rule": "r", "version": 1}) == FlagDetail("r", 1)
    assert FlagDetail.from_json({"rule": "r", "version": 1, "evidence": ["a"]}) == FlagDetail(
        "r", 1)
