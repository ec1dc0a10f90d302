"""The receipt store contract: SQLite and DynamoDB keep asynchronous receipts alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.domain.receipts import FAILED, QUEUED, REJECTED, ItemFate
from chalicelib.ports.store import ReceiptStore, Store, StoreError


def receipts_for(store: Store, tmp_path: Path) -> ReceiptStore:
    """The receipt store that goes with a ledger store (as the async runtime builds it)."""
    if store.name == "dynamodb":
        from chalicelib.adapters.dynamo import DynamoStore
        from chalicelib.adapters.dynamo.dynamo_receipts import DynamoReceipts

        assert isinstance(store, DynamoStore)
        return DynamoReceipts(store.db)
    from chalicelib.adapters.sqlite.sqlite_receipts import SqliteReceipts

    return SqliteReceipts(str(tmp_path / "receipts.db"))


@pytest.fixture
def receipts(store: Store, tmp_path: Path) -> ReceiptStore:
    return receipts_for(store, tmp_path)


BAD = ({"field": "amount", "message": "is required"},)


def make(receipts: ReceiptStore, bank: str = "b1", request: str = "r1") -> None:
    receipts.create(bank, request, "2026-01-10T18:00:00Z", {
        -1: [ItemFate(1, "t1", REJECTED, errors=BAD)],
        0: [ItemFate(0, "t0", QUEUED), ItemFate(3, "t3", QUEUED)],
        1: [ItemFate(2, "t2", QUEUED)]})


def test_receipt_reads_back_in_request_order_and_pending(receipts: ReceiptStore) -> None:
    make(receipts)
    got = receipts.get("b1", "r1")
    assert got is not None and not got.done and got.created_at == "2026-01-10T18:00:00Z"
    assert [(i.index, i.id, i.status) for i in got.items()] == [
        (0, "t0", QUEUED), (1, "t1", REJECTED), (2, "t2", QUEUED), (3, "t3", QUEUED)]
    assert got.items()[1].errors == BAD


def test_another_bank_or_unknown_request_has_no_receipt(receipts: ReceiptStore) -> None:
    make(receipts)
    assert receipts.get("b2", "r1") is None
    assert receipts.get("b1", "r2") is None
    assert receipts.get_part("b2", "r1", 0) is None


def test_settled_parts_make_the_receipt_done(receipts: ReceiptStore) -> None:
    make(receipts)
    receipts.settle("b1", "r1", 0, [ItemFate(0, "t0", "created", ("large_amount",)),
                                    ItemFate(3, "t3", "duplicate")])
    got = receipts.get("b1", "r1")
    assert got is not None and not got.done
    receipts.settle("b1", "r1", 1, [ItemFate(2, "t2", FAILED)])
    got = receipts.get("b1", "r1")
    assert got is not None and got.done
    assert [(i.status, i.flags) for i in got.items()] == [
        ("created", ("large_amount",)), (REJECTED, ()), (FAILED, ()), ("duplicate", ())]


def test_writing_marks_accumulate_per_part(receipts: ReceiptStore) -> None:
    make(receipts)
    receipts.mark_writing("b1", "r1", 0, ["t0"])
    receipts.mark_writing("b1", "r1", 0, ["t3", "t0"])
    part = receipts.get_part("b1", "r1", 0)
    assert part is not None and part.writing == {"t0", "t3"}
    other = receipts.get_part("b1", "r1", 1)
    assert other is not None and other.writing == set()


def test_a_request_id_is_created_once(receipts: ReceiptStore) -> None:
    make(receipts)
    with pytest.raises(StoreError):
        make(receipts)


def test_a_large_receipt_round_trips(receipts: ReceiptStore) -> None:
    parts = {n: [ItemFate(n * 5 + k, f"t{n}-{k}", QUEUED) for k in range(5)] for n in range(120)}
    receipts.create("b1", "big", "2026-01-10T18:00:00Z", {-1: [], **parts})
    got = receipts.get("b1", "big")
    assert got is not None and [i.index for i in got.items()] == list(range(600))


def test_batches_of_parts_read_mark_and_settle_like_single_ones(receipts: ReceiptStore) -> None:
    make(receipts)
    make(receipts, request="r2")
    keys = [("b1", "r1", 0), ("b1", "r2", 1), ("b1", "r9", 0), ("b2", "r1", 0)]
    assert set(receipts.get_parts(keys)) == {("b1", "r1", 0), ("b1", "r2", 1)}
    receipts.mark_writing_many("b1", [("r1", 0, ["t0"]), ("r2", 1, ["t2"])])
    receipts.settle_many("b1", [("r1", 0, [ItemFate(0, "t0", "created"),
                                           ItemFate(3, "t3", "conflict")]),
                                ("r2", 1, [ItemFate(2, "t2", "duplicate")])])
    parts = receipts.get_parts(keys[:2])
    assert parts[("b1", "r1", 0)].writing == {"t0"} and parts[("b1", "r2", 1)].writing == {"t2"}
    assert [i.status for i in parts[("b1", "r1", 0)].items] == ["created", "conflict"]
    assert [i.status for i in parts[("b1", "r2", 1)].items] == ["duplicate"]
