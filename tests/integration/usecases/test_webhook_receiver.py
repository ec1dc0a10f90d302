"""Deliveries to a real local HTTP receiver (tests/support/receiver.py) that verifies every
signature: a 500 then a 200 is retried with the same event id; a receiver that never answers
ends dead-lettered while ingest goes on; many events arrive with none lost."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from chalice.test import Client

from app import app
from chalicelib.bootstrap import Runtime
from chalicelib.domain.timeutil import now_utc
from chalicelib.usecases import webhook_delivery, webhooks
from tests.conftest import TEST_KEY
from tests.support.factories import raw_tx
from tests.support.outbox import MemoryOutbox, alert_event, webhook_runtime
from tests.support.receiver import receiver

pytestmark = pytest.mark.e2e


def wait_until(check: object, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_a_500_then_a_200_is_retried_with_the_same_event_id_and_valid_signatures(
        runtime: Runtime, tmp_path: Path) -> None:
    rt = webhook_runtime(runtime, tmp_path, retry_base_s=1)
    with receiver(answers=[500]) as got:
        hook = webhooks.register(rt, "demo", {"url": got.url}, now_utc())
        got.secret = hook["secret"]
        outbox = MemoryOutbox()
        outbox.record([alert_event("demo", "t1")])
        webhook_delivery.drain(rt, outbox=outbox)  # dispatched; the first attempt gets a 500
        assert got.wait_for(1, 2)
        started = time.monotonic()
        assert wait_until(lambda: webhook_delivery.poll_once(rt, 0.2) and len(got.seen) >= 2, 5)
        assert time.monotonic() - started < 3  # the retry base is 1 s here (30 s by default)
    first, second = got.seen
    assert first.verified and second.verified
    assert first.event_id == second.event_id == alert_event("demo", "t1").id
    assert first.body == second.body  # the same event, signed again at its own time
    assert json.loads(second.body)["id"] == first.event_id
    (line,) = rt.webhooks.list_deliveries("demo", hook["id"], 10)
    assert (line.status, line.attempts, line.last_status) == ("delivered", 2, 200)


def test_the_ping_route_goes_through_the_same_signed_delivery(runtime: Runtime,
                                                             tmp_path: Path) -> None:
    rt = webhook_runtime(runtime, tmp_path)
    headers = {"x-api-key": TEST_KEY, "content-type": "application/json"}
    with receiver() as got, Client(app) as client:
        made = json.loads(client.http.post("/webhooks", body=json.dumps({"url": got.url}),
                                           headers=headers).body)
        got.secret = made["secret"]
        ping = json.loads(client.http.post(f"/webhooks/{made['id']}/test", headers=headers).body)
        webhook_delivery.drain(rt)
        assert got.wait_for(1, 2)
        log = json.loads(client.http.get(f"/webhooks/{made['id']}/deliveries",
                                         headers=headers).body)
    assert got.seen[0].verified and got.seen[0].event_id == ping["event_id"]
    assert json.loads(got.seen[0].body)["type"] == "ping"
    assert [(d["event_id"], d["status"], d["attempts"]) for d in log["deliveries"]] == [
        (ping["event_id"], "delivered", 1)]


def test_a_receiver_that_never_answers_is_dead_lettered_without_holding_up_ingest(
        runtime: Runtime, tmp_path: Path) -> None:
    rt = webhook_runtime(runtime, tmp_path, timeout_s=1, retry_base_s=1, max_age_s=2)
    headers = {"x-api-key": TEST_KEY, "content-type": "application/json"}
    outbox = MemoryOutbox()
    with receiver(then="hang") as got, Client(app) as client:
        hook = webhooks.register(rt, "demo", {"url": got.url}, now_utc())
        got.secret = hook["secret"]
        outbox.record([alert_event("demo", f"t{i}") for i in range(3)])
        threads = webhook_delivery.start_local_workers(rt, outbox, workers=1)
        try:
            assert got.wait_for(1, 3)  # a delivery is now hanging on the receiver
            started = time.monotonic()
            answer = client.http.post("/transactions", headers=headers,
                                      body=json.dumps(raw_tx("i1", amount="25000.00")))
            assert answer.status_code == 201 and time.monotonic() - started < 0.5
            assert wait_until(lambda: [d.status for d in rt.webhooks.list_deliveries(
                "demo", hook["id"], 10)] == ["failed"] * 3, 15)
        finally:
            rt.stop.set()
            for t in threads:
                t.join(5)
    lines = rt.webhooks.list_deliveries("demo", hook["id"], 10)
    assert all(d.attempts >= 2 and d.last_status is None and "no answer" in d.last_error
               for d in lines)
    assert all(r.verified for r in got.seen)


def test_many_events_all_arrive_once_through_failures_and_a_repeated_dispatch(
        runtime: Runtime, tmp_path: Path) -> None:
    rt = webhook_runtime(runtime, tmp_path, retry_base_s=1)
    events = [alert_event("demo", f"t{i}") for i in range(60)]
    with receiver(answers=[500, 503, 500, 502] * 3) as got:
        hook = webhooks.register(rt, "demo", {"url": got.url}, now_utc())
        got.secret = hook["secret"]
        for _ in range(2):  # the second pass: a dispatcher that crashed before marking
            outbox = MemoryOutbox()
            outbox.record(events)
            webhook_delivery.dispatch_once(rt, outbox)
        assert wait_until(lambda: not webhook_delivery.poll_once(rt, 0.2) and all(
            d.status == "delivered" for d in rt.webhooks.list_deliveries("demo", hook["id"], 100))
            and len(rt.webhooks.list_deliveries("demo", hook["id"], 100)) == 60, 20)
    ids = got.ids()
    assert set(ids) == {e.id for e in events}  # none lost
    assert sum(ids.values()) - len(ids) == 12  # the twelve 5xx answers were retried
    assert all(r.verified for r in got.seen)


def test_a_flagged_transaction_reaches_the_receiver_from_the_stores_own_outbox(
        runtime: Runtime, tmp_path: Path) -> None:
    """The real commit side: ingest records the alert.opened event with the commit (SQLite's
    outbox), the dispatcher hands it over, the receiver gets it signed, under its stable id."""
    from chalicelib.domain.alerts import event_id

    rt = webhook_runtime(runtime, tmp_path)
    assert rt.outbox is rt.store  # the ledger store keeps the outbox
    headers = {"x-api-key": TEST_KEY, "content-type": "application/json"}
    with receiver() as got, Client(app) as client:
        got.secret = webhooks.register(rt, "demo", {"url": got.url}, now_utc())["secret"]
        for tx in (raw_tx("big1", amount="25000.00"), raw_tx("small1", amount="12.00")):
            assert client.http.post("/transactions", headers=headers,
                                    body=json.dumps(tx)).status_code == 201
        webhook_delivery.drain(rt)
        assert got.wait_for(1, 3)
    (only,) = got.seen
    body = json.loads(only.body)
    assert only.verified and only.event_id == body["id"] == event_id("demo", "big1")
    assert body["type"] == "alert.opened" and body["data"]["alert"]["transaction_id"] == "big1"
    assert body["data"]["alert"]["transaction"]["amount"] == "25000.00"  # exact, a string
    assert rt.outbox.pending_events(10) == []
