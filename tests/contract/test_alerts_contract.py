"""Alerts, the outbox, the counters and suppressions: every store in tests/support/stores.py
must pass these (the commit side through the ledger, then triage and listing)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from chalicelib.domain.alerts import (
    CONFIRMED,
    DISMISSED,
    OPEN,
    AlertChange,
    Suppression,
    event_id,
)
from chalicelib.domain.rules import RuleConfig
from chalicelib.domain.timeutil import format_timestamp
from chalicelib.ports.store import AlertChanged, AlertCounts, Store
from chalicelib.usecases.ledger import CREATED, DUPLICATE, ingest
from tests.conftest import NOW
from tests.support.factories import raw_tx

CFG = RuleConfig()
BIG = "12345.67"  # flags large_amount (and only it) under the default rules


def big(tx_id: str, account: str = "A1", hour: int = 14) -> dict[str, str]:
    return raw_tx(tx_id, account=account, amount=BIG, timestamp=f"2026-01-10T{hour:02d}:00:00Z")


def suppression(account: str = "A1", rule: str = "large_amount", hours: int = 1,
                sid: str = "sup_1", bank: str = "b1") -> Suppression:
    return Suppression(bank, sid, account, rule, format_timestamp(NOW + timedelta(hours=hours)),
                       "known payroll", format_timestamp(NOW), "key:ab12")


def test_a_flagged_transaction_opens_an_alert_with_its_event(store: Store) -> None:
    results = ingest(store, "b1", [big("t1"), raw_tx("t2")], NOW, CFG)
    assert [r.status for r in results] == [CREATED, CREATED]
    alert = store.get_alert("b1", "t1")
    assert alert is not None and alert.status == OPEN and alert.rules == ("large_amount",)
    assert alert.opened_at == format_timestamp(NOW) and alert.history == ()
    assert alert.transaction == store.get_transaction("b1", "t1")
    assert store.get_alert("b1", "t2") is None  # not flagged
    assert store.get_alert("b2", "t1") is None  # another bank's
    (event,) = store.pending_events(10)
    assert event.id == event_id("b1", "t1") and event.type == "alert.opened"
    assert event.data["alert"]["transaction"]["amount"] == BIG
    assert store.alert_counts("b1") == AlertCounts(open=1) and store.alert_counts("b2") == \
        AlertCounts()


def test_a_repeated_batch_opens_nothing_twice(store: Store) -> None:
    ingest(store, "b1", [big("t1"), big("t2", "A2")], NOW, CFG)
    again = ingest(store, "b1", [big("t1"), big("t2", "A2")], NOW + timedelta(hours=1), CFG)
    assert [r.status for r in again] == [DUPLICATE, DUPLICATE]
    assert len(store.pending_events(10)) == 2
    assert store.alert_counts("b1").open == 2


def test_dispatched_events_leave_the_outbox_oldest_first(store: Store) -> None:
    ingest(store, "b1", [big("t1")], NOW, CFG)
    ingest(store, "b2", [big("t1")], NOW + timedelta(seconds=1), CFG)
    ingest(store, "b1", [big("t2")], NOW + timedelta(seconds=2), CFG)
    pending = store.pending_events(10)
    assert [(e.bank, e.data["alert"]["transaction_id"]) for e in pending] == [
        ("b1", "t1"), ("b2", "t1"), ("b1", "t2")]
    assert store.pending_events(2) == pending[:2]
    store.mark_dispatched(pending[:2])
    assert store.pending_events(10) == pending[2:]
    ingest(store, "b1", [big("t1")], NOW, CFG)  # a redelivery records nothing again
    assert store.pending_events(10) == pending[2:]


def test_a_suppression_in_force_marks_the_flag_and_opens_no_alert(store: Store) -> None:
    store.put_suppression(suppression())
    ingest(store, "b1", [big("t1"), big("t2", "A2")], NOW, CFG)
    stored = store.get_transaction("b1", "t1")
    assert stored is not None and stored.flags == ("large_amount",)  # it still flags
    assert [d.suppressed for d in stored.flag_details] == [True]
    assert stored.flag_details[0].to_json()["suppressed"] is True
    assert store.get_alert("b1", "t1") is None
    assert store.get_alert("b1", "t2") is not None  # another account is not suppressed
    assert [e.data["alert"]["transaction_id"] for e in store.pending_events(10)] == ["t2"]
    assert store.alert_counts("b1") == AlertCounts(open=1, suppressed=1)


def test_an_expired_or_other_banks_suppression_does_not_apply(store: Store) -> None:
    store.put_suppression(suppression(hours=-1, sid="sup_old"))
    store.put_suppression(suppression(bank="b2", sid="sup_b2"))
    ingest(store, "b1", [big("t1")], NOW, CFG)
    assert store.get_alert("b1", "t1") is not None
    stored = store.get_transaction("b1", "t1")
    assert stored is not None and not stored.flag_details[0].suppressed


def test_suppressions_are_listed_and_deleted_per_bank(store: Store) -> None:
    first, second = suppression(sid="sup_1"), suppression(account="A2", sid="sup_2")
    store.put_suppression(first)
    store.put_suppression(second)
    assert store.list_suppressions("b1") == [first, second]
    assert store.list_suppressions("b2") == []
    assert not store.delete_suppression("b2", "sup_1")
    assert store.delete_suppression("b1", "sup_1")
    assert not store.delete_suppression("b1", "sup_1")
    assert store.list_suppressions("b1") == [second]
    ingest(store, "b1", [big("t1")], NOW, CFG)  # deleted: no longer applies
    assert store.get_alert("b1", "t1") is not None


def test_a_plan_over_one_chunk_writes_every_alert(store: Store) -> None:
    items = [raw_tx(f"t{i:03d}", account=f"A{i % 3}", amount=BIG,
                    timestamp=f"2026-01-10T{i % 18:02d}:{i % 60:02d}:00Z") for i in range(70)]
    assert {r.status for r in ingest(store, "b1", items, NOW, CFG)} == {CREATED}
    assert store.alert_counts("b1").open == 70
    assert len(store.pending_events(100)) == 70
    assert len(store.list_alerts("b1", None, None, None, 100, None)) == 70


def test_triage_keeps_the_history_and_moves_the_open_count(store: Store) -> None:
    ingest(store, "b1", [big("t1"), big("t2", "A2")], NOW, CFG)
    alert = store.get_alert("b1", "t1")
    assert alert is not None
    step = AlertChange(CONFIRMED, "called the customer", "key:ab12", "2026-01-10T15:00:00Z")
    confirmed = store.change_alert("b1", alert, step)
    assert store.get_alert("b1", "t1") == confirmed and confirmed.history == (step,)
    assert store.alert_counts("b1").open == 1
    with pytest.raises(AlertChanged):  # a triage from the stale copy is refused
        store.change_alert("b1", alert, replace(step, status=DISMISSED))
    back = store.change_alert("b1", confirmed, AlertChange(OPEN, "", "user:5f0c", "t"))
    assert back.status == OPEN and len(back.history) == 2
    assert store.alert_counts("b1").open == 2
    dismissed = store.change_alert("b1", back, AlertChange(DISMISSED, "", "key:x", "t"))
    store.change_alert("b1", dismissed, AlertChange(CONFIRMED, "", "key:x", "t"))
    assert store.alert_counts("b1").open == 1


def test_alerts_are_listed_newest_first_by_every_filter(store: Store) -> None:
    ingest(store, "b1", [big("t1", "A1", 10), big("t2", "A2", 11), big("t3", "A1", 12),
                         raw_tx("n1", account="A1")], NOW, CFG)
    ingest(store, "b2", [big("x1", "A1", 13)], NOW, CFG)

    def ids(status: str | None = None, rule: str | None = None, account: str | None = None,
            limit: int = 10, after: tuple[str, str] | None = None) -> list[str]:
        return [a.transaction_id for a in store.list_alerts("b1", status, rule, account, limit,
                                                            after)]

    assert ids() == ["t3", "t2", "t1"]
    assert ids(account="A1") == ["t3", "t1"]
    assert ids(rule="large_amount") == ["t3", "t2", "t1"] and ids(rule="round_amount") == []
    t3 = store.get_alert("b1", "t3")
    assert t3 is not None
    store.change_alert("b1", t3, AlertChange(DISMISSED, "", "key:x", "t"))
    assert ids(status=OPEN) == ["t2", "t1"] and ids(status=DISMISSED) == ["t3"]
    assert ids(status=OPEN, account="A1") == ["t1"]
    assert ids(limit=2) == ["t3", "t2"]
    assert ids(after=(_key("t2", store), "t2")) == ["t1"]


def _key(tx_id: str, store: Store) -> str:
    from chalicelib.domain.timeutil import sort_key

    tx = store.get_transaction("b1", tx_id)
    assert tx is not None
    return sort_key(tx.timestamp_text)
