"""Buckets count what they are given: debits like credits, the largest by a strict order, and
the last activity by time, fractions of a second included."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from chalicelib.domain.aggregates import Bucket, MaxRef
from tests.support.factories import tx


def test_debits_are_counted_and_merged_like_credits() -> None:
    bucket = Bucket()
    for i in range(2):
        bucket.add(tx(f"d{i}", kind="debit"))
    other = Bucket()
    for i in range(3):
        other.add(tx(f"e{i}", kind="debit"))
    bucket.merge(other)
    assert bucket.currencies["USD"].debit_count == 5
    assert bucket.currencies["USD"].debit_total == Decimal("50.00")


def test_a_transaction_equal_on_every_criterion_does_not_beat_the_largest() -> None:
    ref = MaxRef("t1", "A", Decimal("10.00"), "credit", "2026-01-10T14:00:00Z")
    assert not ref.beats(MaxRef("t1", "A", Decimal("10.0"), "credit", "2026-01-10T14:00:00Z"))
    assert ref.beats(None)


def test_last_activity_orders_a_fraction_after_its_whole_second() -> None:
    bucket = Bucket()
    bucket.add(tx("a", at=datetime(2026, 1, 10, 14, tzinfo=UTC)))
    bucket.add(tx("b", at=datetime(2026, 1, 10, 14, 0, 0, 500000, tzinfo=UTC)))
    assert bucket.last_activity == "2026-01-10T14:00:00.500000Z"
    bucket.add(tx("c", at=datetime(2026, 1, 10, 14, tzinfo=UTC)))
    assert bucket.last_activity == "2026-01-10T14:00:00.500000Z"
