"""`DynamoTable.batch_get` on DynamoDB Local: any number of keys, 100 a call; what a call leaves
unprocessed is resent with the backoff, and only calls in a row that process nothing end it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chalicelib.adapters.dynamo import dynamo_table as t
from chalicelib.adapters.dynamo.dynamo_table import BATCH_GET, BATCH_STALLS, DynamoTable
from chalicelib.ports.store import StoreError
from chalicelib.support.backoff import Backoff
from tests.support.aws_calls import operations, record_aws_calls
from tests.support.dynamodb_local import dynamodb_local_store

pytestmark = [pytest.mark.emulator]

BASE_S, CAP_S = 0.05, 1.0


@pytest.fixture
def table(dynamodb_local: object) -> Iterator[tuple[DynamoTable, list[float]]]:
    """A table on DynamoDB Local whose backoff records its pauses instead of sleeping (with
    `random` at 1.0 a pause is the whole capped exponential, so it names its attempt)."""
    with dynamodb_local_store() as store:
        slept: list[float] = []
        yield DynamoTable(store.table, store.client,
                          backoff=Backoff(BASE_S, CAP_S, sleep=slept.append,
                                          random=lambda: 1.0)), slept


def pause_of(attempt: int) -> float:
    return min(CAP_S, BASE_S * 2.0 ** attempt)


def key_of(n: int) -> t.Wire:
    return t.key(f"K#{n:05d}", "S")


def item(n: int) -> t.Wire:
    return {**key_of(n), "n": {"N": str(n)}}


def put(db: DynamoTable, numbers: range) -> None:
    db.batch_write([{"PutRequest": {"Item": item(n)}} for n in numbers])


class Unprocessed:
    """Makes DynamoDB's answer to each BatchGetItem leave keys unprocessed, as it does under
    throttling: `processed(requested)` picks the keys the call did process; the others are
    dropped from `Responses` and returned in `UnprocessedKeys` (botocore's after-call hook, on
    the answer DynamoDB Local really gave). Records the keys each call asked for."""

    def __init__(self, db: DynamoTable,
                 processed: Callable[[list[t.ItemKey]], set[t.ItemKey]]) -> None:
        self.db = db
        self.processed = processed
        self.asked: list[list[t.ItemKey]] = []
        events = db.client.meta.events
        events.register("before-parameter-build.dynamodb.BatchGetItem", self.before)
        events.register("after-call.dynamodb.BatchGetItem", self.after)

    def before(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["asked"] = [t.item_key(k) for k in params["RequestItems"][self.db.name]["Keys"]]

    def after(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        asked: list[t.ItemKey] = context["asked"]
        self.asked.append(asked)
        done = self.processed(asked)
        responses = parsed["Responses"][self.db.name]
        responses[:] = [w for w in responses if t.item_key(w) in done]
        left = [t.key(*k) for k in asked if k not in done]
        parsed["UnprocessedKeys"] = ({self.db.name: {"Keys": left, "ConsistentRead": True}}
                                     if left else {})


def test_a_read_of_more_than_800_keys_returns_every_item_in_calls_of_100(
        table: tuple[DynamoTable, list[float]]) -> None:
    db, slept = table
    stored = range(0, 900, 9)  # every ninth of the 900 keys: some in each call, few to write
    put(db, stored)
    calls = record_aws_calls(db.client)
    keys = [key_of(n) for n in range(900)]
    found = db.batch_get(keys + keys[:5])  # a key asked twice is read once
    assert found == {t.item_key(item(n)): item(n) for n in stored}
    assert operations(calls) == ["BatchGetItem"] * 9  # 900 keys, 100 a call
    assert slept == []


def test_unprocessed_keys_are_resent_alone_and_the_result_is_complete(
        table: tuple[DynamoTable, list[float]]) -> None:
    db, slept = table
    put(db, range(250))
    # every call processes only its first 30 keys: 9 calls, more than any fixed number of tries
    unprocessed = Unprocessed(db, lambda asked: set(asked[:30]))
    found = db.batch_get([key_of(n) for n in range(250)])
    assert found == {t.item_key(item(n)): item(n) for n in range(250)}
    assert len(unprocessed.asked) == 9 > BATCH_STALLS
    assert all(len(asked) <= BATCH_GET for asked in unprocessed.asked)
    done: set[t.ItemKey] = set()
    for asked in unprocessed.asked:  # no processed key is ever asked again
        assert not done & set(asked)
        done |= set(asked[:30])
    assert slept == [pause_of(0)] * 8  # progress each time: the shortest pause, not growing


def test_keys_left_unprocessed_by_stalled_calls_are_resent_with_a_growing_pause(
        table: tuple[DynamoTable, list[float]]) -> None:
    db, slept = table
    put(db, range(120))
    stalls = iter([True, True, True, False, False])

    def three_stalls_then_all(asked: list[t.ItemKey]) -> set[t.ItemKey]:
        return set() if next(stalls) else set(asked)

    unprocessed = Unprocessed(db, three_stalls_then_all)
    found = db.batch_get([key_of(n) for n in range(150)])
    assert found == {t.item_key(item(n)): item(n) for n in range(120)}
    assert slept == [pause_of(1), pause_of(2), pause_of(3)]
    assert [len(a) for a in unprocessed.asked] == [100, 100, 100, 100, 50]


def test_calls_that_never_process_a_key_end_in_a_store_error(
        table: tuple[DynamoTable, list[float]]) -> None:
    db, slept = table
    put(db, range(10))
    unprocessed = Unprocessed(db, lambda asked: set())
    with pytest.raises(StoreError, match="unprocessed"):
        db.batch_get([key_of(n) for n in range(10)])
    assert len(unprocessed.asked) == BATCH_STALLS
    assert slept == [pause_of(a) for a in range(1, BATCH_STALLS)]
