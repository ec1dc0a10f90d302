"""Exactly once across redelivery, on both stores: a message delivered twice, a consumer killed
after its commit, a DynamoDB commit failing between chunks, a poison message sent to the dead
letters and redriven. The aggregates are checked to the cent every time."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from chalicelib.adapters.sqlite import SqliteStore
from chalicelib.bootstrap import Runtime, bootstrap, set_runtime
from chalicelib.config import QueueSettings, Settings
from chalicelib.domain.aggregates import BANK_KEY
from chalicelib.domain.receipts import ItemFate
from chalicelib.domain.rules import RuleConfig
from chalicelib.ports.queue import ReceivedMessage
from chalicelib.ports.store import ReceiptStore, Store, StoreError
from chalicelib.usecases import ingest_async
from chalicelib.usecases.consumer import consume_batch, drain, poll_once
from chalicelib.usecases.ledger import ingest
from chalicelib.usecases.reconcile import find_drift
from tests.conftest import NOW
from tests.integration.usecases.test_ledger import streams
from tests.support.asyncing import store_down_for
from tests.support.factories import raw_tx

BANK = "b1"
RUNS = itertools.count()


def parts_for(store: Store, tmp_path: Path, max_receives: int = 3) -> tuple[Runtime, Runtime]:
    """The runtime twice (the tests read the ledger from one, the queue from the other)."""
    queue = QueueSettings(path=str(tmp_path / "queue.db"),
                          receipts_path=str(tmp_path / "receipts.db"),
                          max_receives=max_receives, visibility_s=30, local_workers=0)
    rt = bootstrap(Settings(sqlite_path=str(tmp_path / "ledger.db"), queue=queue), store)
    return rt, rt


@pytest.fixture
def env(store: Store, tmp_path: Path) -> Iterator[tuple[Runtime, Runtime]]:
    rt, parts = parts_for(store, tmp_path)
    yield rt, parts
    set_runtime(None)


def submit(parts: Runtime, rt: Runtime, *items: dict[str, Any], groups: int = 0) -> str:
    request_id = f"r{next(RUNS)}"
    grouped = replace(parts.settings, queue=replace(parts.settings.queue, groups=groups))
    ingest_async.submit(replace(parts, settings=grouped), BANK,
                        json.dumps({"transactions": list(items)}).encode(), NOW, request_id)
    return request_id


def fates(parts: Runtime, request_id: str) -> list[tuple[str | None, str]]:
    receipt = parts.receipts.get(BANK, request_id)
    assert receipt is not None
    return [(i.id, i.status) for i in receipt.items()]


def totals(store: Store) -> tuple[int, Decimal]:
    bank = store.get_buckets(BANK, [BANK_KEY])[BANK_KEY]
    return bank.count, bank.currencies["USD"].credit_total


class SettleFailsOnce(ReceiptStore):
    """Receipts whose first `settle` raises: a consumer that dies right after its commit."""

    def __init__(self, inner: ReceiptStore) -> None:
        self.inner = inner
        self.failures = 1

    def create(self, *args: Any) -> None:
        self.inner.create(*args)

    def get(self, bank: str, request_id: str) -> Any:
        return self.inner.get(bank, request_id)

    def get_part(self, bank: str, request_id: str, part: int) -> Any:
        return self.inner.get_part(bank, request_id, part)

    def mark_writing(self, bank: str, request_id: str, part: int, ids: list[str]) -> None:
        self.inner.mark_writing(bank, request_id, part, ids)

    def settle(self, bank: str, request_id: str, part: int, items: list[ItemFate]) -> None:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("killed after the commit")
        self.inner.settle(bank, request_id, part, items)


def test_a_message_delivered_twice_counts_once(env: tuple[Runtime, Runtime]) -> None:
    rt, parts = env
    request = submit(parts, rt, raw_tx("a", amount="1.10"), raw_tx("b", amount="2.20"))
    (message,) = parts.queue.receive(10, 30)
    ingest_async.consume(rt, message, NOW)
    ingest_async.consume(rt, message, NOW)  # at-least-once: again
    # and a delivery that finds the part not yet settled (its first consumer died before that)
    parts.receipts.settle(BANK, request, 0, [ItemFate(0, "a", "queued"),
                                              ItemFate(1, "b", "queued")])
    ingest_async.consume(rt, message, NOW)
    assert fates(parts, request) == [("a", "created"), ("b", "created")]
    assert totals(rt.store) == (2, Decimal("3.30"))


def test_a_consumer_killed_after_its_commit_is_finished_by_the_next_delivery(
        env: tuple[Runtime, Runtime]) -> None:
    rt, parts = env
    earlier = submit(parts, rt, raw_tx("old", amount="5.00"))
    drain(parts)
    request = submit(parts, rt, raw_tx("n1", amount="1.00"), raw_tx("old", amount="5.00"),
                     raw_tx("n2", amount="2.00"))
    dying = replace(parts, receipts=SettleFailsOnce(parts.receipts))
    assert poll_once(dying) == 1  # the commit happened, recording the fates did not
    assert totals(rt.store) == (3, Decimal("8.00"))
    assert fates(parts, request) == [("n1", "queued"), ("old", "queued"), ("n2", "queued")]
    (again,) = parts.queue.receive(10, 30, wait_s=5)  # back after its (short) backoff
    assert again.receive_count == 2
    ingest_async.consume(rt, again, NOW)
    parts.queue.delete(again.handle)
    # created by the first delivery, not duplicates of themselves; the real replay stays one
    assert fates(parts, request) == [("n1", "created"), ("old", "duplicate"), ("n2", "created")]
    assert fates(parts, earlier) == [("old", "created")]
    assert totals(rt.store) == (3, Decimal("8.00"))
    assert find_drift(rt.store, BANK) == []


def test_a_batch_that_fails_after_its_commit_is_settled_message_by_message(
        env: tuple[Runtime, Runtime]) -> None:
    rt, parts = env
    first = submit(parts, rt, raw_tx("x1", amount="1.00"), raw_tx("y1", account="B2"))
    second = submit(parts, rt, raw_tx("x2", amount="2.00"), raw_tx("x1", amount="1.00"))
    dying = replace(parts, receipts=SettleFailsOnce(parts.receipts))
    assert poll_once(dying) == 3  # one commit for three messages, then the split
    assert fates(parts, first) == [("x1", "created"), ("y1", "created")]
    assert fates(parts, second) == [("x2", "created"), ("x1", "duplicate")]
    assert totals(rt.store) == (3, Decimal("13.00"))
    assert parts.queue.depth() == (0, 0)


@pytest.mark.parametrize("tool", ["scripts.redrive", "the queue's own move"])
def test_a_poison_message_ends_failed_and_a_redrive_applies_it(
        env: tuple[Runtime, Runtime], monkeypatch: pytest.MonkeyPatch, tool: str) -> None:
    rt, parts = env
    request = submit(parts, rt, raw_tx("p1", amount="7.00"), raw_tx("p2", account="B2"))
    broken = store_down_for(monkeypatch, "account", {"A123"})
    for _ in range(parts.queue.max_receives + 1):
        for message in parts.queue.receive(10, 30):
            outcome = ingest_async_batch(rt, parts, [message])
            if outcome:
                parts.queue.change_visibility(message.handle, 0)
            else:
                parts.queue.delete(message.handle)
    assert parts.queue.receive(10, 30) == []
    assert parts.queue.depth() == (0, 1)
    receipt = parts.receipts.get(BANK, request)
    assert receipt is not None and receipt.done
    assert fates(parts, request) == [("p1", "failed"), ("p2", "created")]
    receipt = parts.receipts.get(BANK, request)
    assert receipt is not None
    (why,) = receipt.items()[0].errors  # a dead letter says so, and why
    assert why["field"] == "queue" and isinstance(why["message"], str) and why["message"]
    assert totals(rt.store) == (1, Decimal("10.00"))
    broken.clear()  # the store is back: redrive
    if tool == "scripts.redrive":  # receipts back to `queued` first, then the messages
        from scripts.redrive import redrive

        assert redrive(rt) == 1
        assert fates(parts, request) == [("p1", "queued"), ("p2", "created")]
    else:  # SQS's start-message-move-task: the messages only, receipts untouched
        assert parts.queue.redrive(parts.queue.dead_letters(10)) == 1
    drain(parts)
    assert fates(parts, request) == [("p1", "created"), ("p2", "created")]
    assert totals(rt.store) == (2, Decimal("17.00"))
    assert parts.queue.depth() == (0, 0)


def ingest_async_batch(rt: Runtime, parts: Runtime, batch: list[ReceivedMessage]) -> bool:
    """True when the batch failed (the message stays for another delivery)."""
    return bool(consume_batch(parts, batch).failed)


@pytest.mark.slow  # 20 generated streams per grouping through both paths: seconds of CPU
@pytest.mark.parametrize("groups", [0, 2])  # a group per account; accounts hashed into 2
@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=streams)
def test_async_decisions_and_flags_equal_the_sync_paths(tmp_path: Path, groups: int,
                                                        batches: list[list[dict[str, Any]]]
                                                        ) -> None:
    run = tmp_path / f"eq{next(RUNS)}"
    sync_store = SqliteStore(str(run / "sync.db"))
    rt, parts = parts_for(SqliteStore(str(run / "async.db")), run)
    rules = RuleConfig()
    want = [[(r.id, r.status, r.transaction.flags if r.transaction else ())
             for r in ingest(sync_store, BANK, items, NOW, rules)] for items in batches]
    requests = [submit(parts, rt, *items, groups=groups) for items in batches]
    drain(parts)
    got = []
    for request in requests:
        receipt = parts.receipts.get(BANK, request)
        assert receipt is not None and receipt.done
        got.append([(i.id, i.status, i.flags) for i in receipt.items()])
    assert got == want
    assert (rt.store.get_buckets(BANK, [BANK_KEY]) == sync_store.get_buckets(BANK, [BANK_KEY]))


@pytest.mark.emulator  # moto's DynamoDB
def test_a_dynamodb_commit_failing_between_chunks_is_finished_by_the_next_delivery(
        tmp_path: Path) -> None:
    from tests.integration.adapters.dynamo.test_dynamo_faults import Faults
    from tests.support.aws_calls import moto_dynamo_store

    with moto_dynamo_store() as store:
        rt, parts = parts_for(store, tmp_path)
        items = [raw_tx(f"c{i:02d}", amount=f"{i}.01") for i in range(99)]  # 2 chunks
        request = submit(parts, rt, *items)
        faults = Faults(store, "TransactWriteItems")
        faults.code = "InternalServerError"
        faults.fail = {2, 3, 4}  # the second chunk and both its retries
        (message,) = parts.queue.receive(10, 30)
        with pytest.raises(StoreError):
            ingest_async.consume(rt, message, NOW)
        half = totals(store)
        assert 0 < half[0] < 99  # the first chunk is in, with its aggregates
        assert find_drift(store, BANK) == []
        ingest_async.consume(rt, message, NOW)  # the next delivery
        assert {status for _, status in fates(parts, request)} == {"created"}
        assert totals(store) == (99, sum((Decimal(f"{i}.01") for i in range(99)), Decimal(0)))
        assert find_drift(store, BANK) == []
