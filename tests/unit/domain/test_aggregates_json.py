"""Buckets to JSON and back (DynamoDB's account items store them so): every field survives,
an absent field reads as nothing, a malformed one is refused (pins mutmut's survivors)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from chalicelib.domain.aggregates import (
    Bucket,
    CurrencyTotals,
    MaxRef,
    beats_expression,
    largest_rank,
)


def test_a_bucket_round_trips_through_json_with_every_field() -> None:
    bucket = Bucket(count=5, accounts=3, flagged=2, flags={"velocity": 2},
                    last_activity="2026-01-10T14:00:00Z", currencies={
                        "USD": CurrencyTotals(3, Decimal("30.00"), 2, Decimal("7.50"),
                                              MaxRef("t1", "A1", Decimal("20.00"), "credit",
                                                     "2026-01-10T14:00:00Z")),
                        "JPY": CurrencyTotals(1, Decimal(500), 0, Decimal(0))})
    assert Bucket.from_json(bucket.to_json()) == bucket


def test_absent_fields_read_as_an_empty_bucket() -> None:
    assert Bucket.from_json({}) == Bucket()
    totals = CurrencyTotals.from_json({"credit_count": 1, "credit_total": "1.00",
                                       "debit_count": 0, "debit_total": "0", "max": None})
    assert totals == CurrencyTotals(1, Decimal("1.00"), 0, Decimal(0), None)


@pytest.mark.parametrize("body", [{"currencies": ["USD"], "flags": {}},
                                  {"currencies": {}, "flags": ["velocity"]}])
def test_malformed_currencies_or_flags_are_refused(body: dict[str, object]) -> None:
    with pytest.raises(AssertionError):
        Bucket.from_json(body)


def test_the_largest_rule_as_a_store_condition_reads_amount_then_time_then_id() -> None:
    new = largest_rank("a1", "t1", "i1")
    old = largest_rank("a0", "t0", "i0")
    assert beats_expression(new, old) == (
        "(a1 > a0 OR (a1 = a0 AND (t1 < t0 OR (t1 = t0 AND (i1 < i0)))))")


def test_a_bucket_without_a_maximum_says_so_in_json() -> None:
    assert CurrencyTotals().to_json()["max"] is None
    assert set(Bucket(accounts=2).to_json()) == {"count", "accounts", "flagged", "currencies",
                                                 "flags", "last_activity"}
    assert Bucket(accounts=2).to_json()["accounts"] == 2
