"""What probing found in the asynchronous path, on every store: a receipt
that outgrew DynamoDB's 400 KB item, a second consumer that called a request's own new
transactions `duplicate`, and dead-lettered siblings that left a receipt `pending` for ever (now
the consumer moves only the failed message, its receipt reading `failed`; its siblings go on)."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from chalicelib.bootstrap import Runtime
from chalicelib.domain.receipts import MAX_ERRORS, ReceiptPart
from chalicelib.ports.store import ReceiptStore
from chalicelib.usecases import ingest_async
from chalicelib.usecases.consumer import consume_batch, drain
from tests.conftest import NOW
from tests.integration.usecases.test_ingest_async_exactly_once import (
    BANK,
    env,  # noqa: F401 (the fixture)
    fates,
    submit,
    totals,
)
from tests.support.asyncing import store_down_for
from tests.support.factories import raw_tx
from tests.support.stores import CONSUMER_STORES


@pytest.mark.parametrize("store", CONSUMER_STORES, indirect=True)
def test_a_request_whose_rejected_items_carry_many_errors_is_202_and_its_valid_items_apply(
        env: tuple[Runtime, Runtime]) -> None:  # noqa: F811
    rt, parts = env
    # 300 items with 100 unknown fields each: ~1.3 MB of errors from a ~300 KB body
    noisy = [{**raw_tx(f"bad{i}"), **{f"x{k:03d}": 1 for k in range(100)}} for i in range(300)]
    body = {"transactions": [raw_tx("ok1", amount="1.00"), *noisy, raw_tx("ok2", amount="2.00")]}
    answer = ingest_async.submit(parts, BANK, json.dumps(body).encode(), NOW, "noisy")
    assert answer["summary"] == {"queued": 2, "rejected": 300}
    drain(parts)
    got = dict(fates(parts, "noisy"))
    assert got["ok1"] == got["ok2"] == "created"
    assert totals(rt.store) == (2, Decimal("3.00"))
    receipt = parts.receipts.get(BANK, "noisy")
    assert receipt is not None and receipt.done
    bad = [i for i in receipt.items() if i.status == "rejected"]
    assert len(bad) == 300
    for item in bad:  # a bounded list of errors, and how many were left out
        assert len(item.errors) == MAX_ERRORS + 1
        assert item.errors[-1]["message"] == f"{100 - MAX_ERRORS} more errors not shown"
    assert answer["results"][1]["errors"] == list(bad[0].errors)  # the 202 says the same


class SecondConsumer(ReceiptStore):
    """Receipts as a second consumer sees them when the first one, stalled past the visibility
    timeout, works the same message at the same time: the first reads the part, then the
    other consumer marks, commits and settles it before the first goes on."""

    def __init__(self, inner: ReceiptStore, other: Any) -> None:
        self.inner = inner
        self.other = other

    def create(self, *args: Any) -> None:
        self.inner.create(*args)

    def get(self, bank: str, request_id: str) -> Any:
        return self.inner.get(bank, request_id)

    def get_part(self, bank: str, request_id: str, part: int) -> Any:
        return self.inner.get_part(bank, request_id, part)

    def get_parts(self, keys: list[tuple[str, str, int]]
                  ) -> dict[tuple[str, str, int], ReceiptPart]:
        seen = self.inner.get_parts(keys)
        if self.other is not None:
            other, self.other = self.other, None
            other()
        return seen

    def mark_writing(self, bank: str, request_id: str, part: int, ids: list[str]) -> None:
        self.inner.mark_writing(bank, request_id, part, ids)

    def settle(self, bank: str, request_id: str, part: int, items: list[Any]) -> None:
        self.inner.settle(bank, request_id, part, items)


def test_two_consumers_on_one_message_report_its_new_transactions_created(
        env: tuple[Runtime, Runtime]) -> None:  # noqa: F811
    rt, parts = env
    submit(parts, rt, raw_tx("old", amount="5.00"))
    drain(parts)
    request = submit(parts, rt, raw_tx("n1", amount="1.00"), raw_tx("old", amount="5.00"),
                     raw_tx("n2", amount="2.00"))
    (message,) = parts.queue.receive(10, 30)
    first = SecondConsumer(parts.receipts, lambda: ingest_async.consume(rt, message, NOW))
    ingest_async.consume(replace(rt, receipts=first), message, NOW)  # the late one settles last
    assert fates(parts, request) == [("n1", "created"), ("old", "duplicate"), ("n2", "created")]
    assert totals(rt.store) == (3, Decimal("8.00"))


def test_a_dead_lettered_message_reads_failed_its_siblings_go_on_and_a_redrive_applies_it_once(
        env: tuple[Runtime, Runtime], monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    rt, parts = env
    head = submit(parts, rt, raw_tx("p1", amount="7.00"))  # the same account: one group
    behind = submit(parts, rt, raw_tx("q1", amount="3.00"), raw_tx("q2", amount="4.00"))
    broken = store_down_for(monkeypatch, "id", {"p1"})
    for _ in range(parts.queue.max_receives):
        batch = parts.queue.receive(10, 30)
        assert len(batch) == 2  # the group's two messages, in order
        outcome = consume_batch(parts, batch)
        assert not outcome.done
        for m in (*outcome.retried(), *outcome.skipped):
            parts.queue.change_visibility(m.handle, 0)
    # the consumer moved the head on its last allowed receive; the sibling skipped behind it
    # never failed: it stays, though received as often (the queue's own move is far off)
    assert parts.queue.depth() == (1, 1)
    receipt = parts.receipts.get(BANK, head)
    assert receipt is not None and receipt.done and fates(parts, head) == [("p1", "failed")]
    (why,) = receipt.items()[0].errors
    assert why["field"] == "queue" and "moved to the dead-letter queue after 3 attempts" in why[
        "message"], why
    assert fates(parts, behind) == [("q1", "queued"), ("q2", "queued")]
    drain(parts)  # the group goes on
    assert fates(parts, behind) == [("q1", "created"), ("q2", "created")]
    broken.clear()
    from scripts.redrive import redrive

    assert redrive(rt) == 1
    assert fates(parts, head) == [("p1", "queued")]  # failed, then queued, then applied
    drain(parts)
    assert redrive(rt) == 0
    assert fates(parts, head) == [("p1", "created")]
    for request in (head, behind):
        receipt = parts.receipts.get(BANK, request)
        assert receipt is not None and receipt.done
    assert totals(rt.store) == (3, Decimal("14.00"))
    assert parts.queue.depth() == (0, 0)
