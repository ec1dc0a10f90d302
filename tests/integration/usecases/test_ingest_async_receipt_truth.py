"""A receipt tells `created` from `duplicate` truthfully on the asynchronous path: repeats in one
request, and a consumer that stalled while another delivery of its message committed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from chalicelib.adapters.sqlite import SqliteStore
from chalicelib.domain.receipts import ReceiptPart
from chalicelib.ports.store import ReceiptStore
from chalicelib.usecases import ingest_async
from tests.conftest import NOW
from tests.integration.usecases.test_ingest_async_exactly_once import (
    fates,
    parts_for,
    submit,
    totals,
)
from tests.support.factories import raw_tx


class StallsAfterReading:
    """Receipts whose first `get_parts` hands back what it read only after `meanwhile` ran:
    a consumer that read its message's part, then stalled past the visibility timeout while
    another consumer delivered the same message."""

    def __init__(self, inner: ReceiptStore, meanwhile: Callable[[], None]) -> None:
        self.inner = inner
        self.meanwhile: Callable[[], None] | None = meanwhile

    def get_parts(self, keys: list[tuple[str, str, int]]
                  ) -> dict[tuple[str, str, int], ReceiptPart]:
        read = self.inner.get_parts(keys)
        if self.meanwhile is not None:
            run, self.meanwhile = self.meanwhile, None
            run()
        return read

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_repeated_id_in_one_request_reads_created_once_then_duplicate(
        tmp_path: Path) -> None:
    rt, parts = parts_for(SqliteStore(str(tmp_path / "ledger.db")), tmp_path)
    request = submit(parts, rt, raw_tx("a", amount="1.10"), raw_tx("a", amount="1.10"),
                     raw_tx("b", amount="2.20"))
    (message,) = parts.queue.receive(10, 30)
    ingest_async.consume(rt, message, NOW)
    assert fates(parts, request) == [("a", "created"), ("a", "duplicate"), ("b", "created")]
    assert totals(rt.store)[0] == 2


def test_a_stalled_consumer_reports_what_the_other_delivery_created_as_created(
        tmp_path: Path) -> None:
    rt, parts = parts_for(SqliteStore(str(tmp_path / "ledger.db")), tmp_path)
    earlier = submit(parts, rt, raw_tx("c", amount="1.00"))
    (first,) = parts.queue.receive(10, 30)
    ingest_async.consume(rt, first, NOW)
    parts.queue.delete(first.handle)
    # the last item conflicts: whether to read the marks again must not hang on it alone
    request = submit(parts, rt, raw_tx("a", amount="1.10"), raw_tx("c", amount="9.99"))
    (message,) = parts.queue.receive(10, 30)
    stalled = replace(rt, receipts=cast(ReceiptStore, StallsAfterReading(
        rt.receipts, lambda: ingest_async.consume(rt, message, NOW))))
    ingest_async.consume(stalled, message, NOW)
    assert fates(parts, request) == [("a", "created"), ("c", "conflict")]
    assert fates(parts, earlier) == [("c", "created")]
    assert totals(rt.store) == (2, Decimal("2.10"))  # c once, at its first amount


class CountsPartReads:
    """Receipts that count the reads of parts."""

    def __init__(self, inner: ReceiptStore) -> None:
        self.inner, self.reads = inner, 0

    def get_parts(self, keys: list[tuple[str, str, int]]
                  ) -> dict[tuple[str, str, int], ReceiptPart]:
        self.reads += 1
        return self.inner.get_parts(keys)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_the_marks_are_read_again_only_for_a_duplicate_this_delivery_did_not_expect(
        tmp_path: Path) -> None:
    rt, parts = parts_for(SqliteStore(str(tmp_path / "ledger.db")), tmp_path)
    stored = submit(parts, rt, raw_tx("old", amount="1.00"))
    (first,) = parts.queue.receive(10, 30)
    ingest_async.consume(rt, first, NOW)
    parts.queue.delete(first.handle)
    counted = CountsPartReads(rt.receipts)
    counting = replace(rt, receipts=cast(ReceiptStore, counted))
    fresh = submit(parts, rt, raw_tx("new", amount="2.00"), raw_tx("new2", amount="3.00"))
    (message,) = parts.queue.receive(10, 30)
    ingest_async.consume(counting, message, NOW)
    assert counted.reads == 1  # new ids only: the part as read at the start is enough
    parts.queue.delete(message.handle)
    again = submit(parts, rt, raw_tx("old", amount="1.00"))  # a repeat of a stored id
    (message,) = parts.queue.receive(10, 30)
    ingest_async.consume(counting, message, NOW)
    assert counted.reads == 3  # a duplicate no mark explains: the marks are read again
    assert fates(parts, fresh) == [("new", "created"), ("new2", "created")]
    assert fates(parts, again) == [("old", "duplicate")] and fates(parts, stored)[0][1] == (
        "created")
