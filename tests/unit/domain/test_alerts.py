"""Alerts and suppressions as values: stable event ids, a store's copy read back, and when a
suppression stops applying."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalicelib.domain.alerts import Alert, AlertChange, Suppression, event_id
from tests.support.factories import tx


def test_an_events_id_is_a_stable_hash_a_receiver_can_deduplicate_on() -> None:
    # receivers keep these: a release must give the same id for the same transaction
    assert event_id("b1", "t1") == "evt_22e7580cfabc19ee7a00ac17"
    assert event_id("b2", "t1") != event_id("b1", "t1")


def test_an_alert_reads_back_from_its_stored_form() -> None:
    change = AlertChange("acknowledged", "seen", "key-1", "2026-01-10T15:00:00Z")
    alert = Alert("b1", tx("t1", flags=("velocity",)), ("velocity",), "2026-01-10T14:00:01Z",
                  "acknowledged", (change,))
    assert Alert.from_json("b1", alert.to_json()) == alert


def test_a_suppression_applies_until_its_end_not_at_it() -> None:
    until = datetime(2026, 1, 10, 18, tzinfo=UTC)
    rule = Suppression("b1", "s1", "A1", "velocity", "2026-01-10T18:00:00Z", "known payroll",
                       "2026-01-10T12:00:00Z", "key-1")
    assert rule.in_force(until - timedelta(microseconds=1))
    assert not rule.in_force(until)
