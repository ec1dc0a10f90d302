"""kill -9 of the local server between the commit and the delivery: after a restart the event
is still delivered (it was recorded with the commit, in the outbox), signed, under its id."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from chalicelib.domain.alerts import event_id
from scripts.demo import LocalServer
from simulator.options import DEV_KEY
from tests.support.factories import raw_tx
from tests.support.receiver import receiver

pytestmark = [pytest.mark.e2e]


def call(url: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, method=method, headers={
        "x-api-key": DEV_KEY, "content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        raw = answer.read()
        return answer.status, json.loads(raw) if raw else None


def test_a_flag_committed_before_a_kill_9_is_delivered_after_the_restart(tmp_path: Path) -> None:
    ledger = str(tmp_path / "ledger.db")
    # the first server's dispatcher looks at the outbox at start, then sleeps a minute: the
    # flag below is committed and never handed to delivery before the kill
    asleep = {"WEBHOOK_DISPATCH_INTERVAL_S": "60", "WEBHOOK_RETRY_BASE_S": "1"}
    with receiver() as got:
        first = LocalServer(ledger, env=asleep)
        first.start()
        try:
            status, made = call(first.url, "POST", "/webhooks", {"url": got.url})
            assert status == 201
            got.secret = made["secret"]
            status, _ = call(first.url, "POST", "/transactions",
                             raw_tx("crash1", amount="25000.00"))
            assert status == 201  # committed, with its event in the outbox
            assert first.proc is not None
            first.proc.kill()  # SIGKILL: no cleanup, no flush, nothing dispatched
            first.proc.wait(timeout=30)
        finally:
            first.stop()
        assert got.seen == []
        with LocalServer(ledger, env={"WEBHOOK_RETRY_BASE_S": "1"}) as second:
            assert got.wait_for(1, 30), second.output[-20:]
            deadline = time.monotonic() + 10  # the line is written once the answer is in
            while True:
                _, log = call(second.url, "GET", f"/webhooks/{made['id']}/deliveries")
                if log["deliveries"] or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
    (delivery,) = got.seen
    body = json.loads(delivery.body)
    assert delivery.verified  # the secret shown before the crash still signs after it
    assert delivery.event_id == body["id"] == event_id("demo", "crash1")
    assert body["data"]["alert"]["transaction_id"] == "crash1"
    assert [(d["event_id"], d["status"], d["attempts"]) for d in log["deliveries"]] == [
        (delivery.event_id, "delivered", 1)]
