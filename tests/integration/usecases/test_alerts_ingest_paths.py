"""Every ingest path records alerts through the ledger, on every store: POST /transactions
synchronously, the queue's consumer, and a statement import (sync and through the queue)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.bootstrap import Runtime, bootstrap, set_runtime
from chalicelib.config import QueueSettings, Settings
from chalicelib.domain.alerts import event_id
from chalicelib.domain.timeutil import now_utc
from chalicelib.ports.store import RuleSetRecord, Store
from chalicelib.usecases import ingest_async, ingest_sync, statements
from chalicelib.usecases.consumer import drain
from tests.conftest import NOW
from tests.support.factories import raw_tx
from tests.support.stores import CONSUMER_STORES

BANK = "b1"
SAMPLES = Path(__file__).resolve().parents[2] / "unit" / "domain" / "statements_samples"


@pytest.fixture
def rt(store: Store, tmp_path: Path) -> Iterator[Runtime]:
    queue = QueueSettings(path=str(tmp_path / "queue.db"),
                          receipts_path=str(tmp_path / "receipts.db"), local_workers=0)
    made = bootstrap(Settings(sqlite_path=str(tmp_path / "ledger.db"), queue=queue), store)
    yield made
    set_runtime(None)


def body(*ids: str) -> bytes:
    return json.dumps({"transactions": [raw_tx(i, amount="12345.67") for i in ids]}).encode()


def alerted(store: Store) -> list[str]:
    return sorted(a.transaction_id for a in store.list_alerts(BANK, None, None, None, 50, None))


def test_the_synchronous_path_opens_alerts_with_the_commit(rt: Runtime) -> None:
    status, answer = ingest_sync.post_transactions(rt, BANK, "application/json", body("s1", "s2"),
                                                   NOW, "req-1")
    assert status == 200 and answer["summary"]["created"] == 2
    assert alerted(rt.store) == ["s1", "s2"]
    assert {e.id for e in rt.store.pending_events(10)} == {event_id(BANK, "s1"),
                                                          event_id(BANK, "s2")}


@pytest.mark.parametrize("store", CONSUMER_STORES, indirect=True)
def test_the_queue_consumer_opens_alerts_once_across_redelivery(rt: Runtime) -> None:
    ingest_async.submit(rt, BANK, body("q1", "q2"), NOW, "r1")
    (message,) = rt.queue.receive(10, 30)
    ingest_async.consume(rt, message, NOW)
    ingest_async.consume(rt, message, NOW)  # delivered again: nothing opens twice
    assert alerted(rt.store) == ["q1", "q2"]
    assert len(rt.store.pending_events(10)) == 2
    assert rt.store.alert_counts(BANK).open == 2


@pytest.mark.parametrize("store", CONSUMER_STORES, indirect=True)
@pytest.mark.parametrize("prefer", [None, "respond-async"])
def test_a_statement_import_opens_alerts(rt: Runtime, prefer: str | None) -> None:
    rt.store.put_rule_set(RuleSetRecord(BANK, 1, "2026-01-10T10:00:00Z", "key:ab12", [
        {"name": "any_credit", "when": "type == \"credit\""}]))
    answer = statements.post_statement(rt, BANK, "application/xml", None, prefer,
                                       (SAMPLES / "camt053_v02.xml").read_bytes(), now_utc(),
                                       "req-2")
    drain(rt)
    assert answer.status == (202 if prefer else 200)
    opened = rt.store.list_alerts(BANK, None, "any_credit", None, 50, None)
    assert opened and all(a.transaction.type == "credit" for a in opened)
    assert rt.store.alert_counts(BANK).open == len(opened)
