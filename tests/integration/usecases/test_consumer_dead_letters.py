"""The consumer decides the dead letters on the embedded queue as on SQS (the sequenced consumer
on DynamoDB, moto, with the local worker's `poll_once`): a message that failed before any write
is settled `failed` and moved on its 5th receive, and a redrive applies it once; a message that
has written is never moved, whatever its receive count, and applies once when the fault goes.
The queue's own move (1000 receives, as the template's SQS redrive policy) is never reached; if
it did move one that has written, `scripts.redrive` leaves it unless told."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from chalicelib.adapters.dynamo.dynamo_store import DynamoStore
from chalicelib.adapters.sqlite.sqlite_queue import SqliteQueue
from chalicelib.bootstrap import Runtime, bootstrap
from chalicelib.config import QueueSettings, Settings
from chalicelib.domain.aggregates import BANK_KEY
from chalicelib.ports.queue import BACKSTOP_RECEIVES
from chalicelib.usecases import ingest_async
from chalicelib.usecases.consumer import PATIENT_BACKOFF_S, poll_once
from chalicelib.usecases.reconcile import find_drift
from scripts.redrive import redrive
from tests.conftest import NOW
from tests.support.aws_calls import moto_dynamo_store
from tests.support.factories import raw_tx
from tests.support.store_faults import StoreFaults, puts_of, reads_of

pytestmark = pytest.mark.emulator  # moto's DynamoDB
BANK = "b1"


class Clock:
    """The embedded queue's clock: a test moves it past any backoff instead of waiting."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def past_the_backoff(self) -> None:
        self.now += PATIENT_BACKOFF_S + 1


@contextmanager
def made(tmp_path: Path, backstop: int = BACKSTOP_RECEIVES) -> Iterator[tuple[Runtime, Clock]]:
    clock = Clock()
    with moto_dynamo_store() as store:
        queue = SqliteQueue(str(tmp_path / "queue.db"), max_receives=5, clock=clock,
                            backstop_receives=backstop)
        settings = Settings(store="dynamodb", table_name=store.table, queue=QueueSettings(
            groups=3, max_receives=5, visibility_s=30, local_workers=0))
        yield bootstrap(settings, store, queue=queue, receipts=store.receipts()), clock


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Runtime, Clock]]:
    with made(tmp_path) as got:  # the queue's own move after 1000 receives, as on AWS
        yield got


def submit(rt: Runtime, request_id: str, *items: dict[str, str]) -> None:
    ingest_async.submit(rt, BANK, json.dumps({"transactions": list(items)}).encode(), NOW,
                        request_id)


def fates(rt: Runtime, request_id: str) -> list[tuple[str | None, str]]:
    receipt = rt.receipts.get(BANK, request_id)
    assert receipt is not None
    return [(i.id, i.status) for i in receipt.items()]


def bank_count(rt: Runtime) -> int:
    bucket = rt.store.get_buckets(BANK, [BANK_KEY]).get(BANK_KEY)
    return 0 if bucket is None else bucket.count


def polls(rt: Runtime, clock: Clock, n: int) -> None:
    """`n` deliveries of what is in the queue by the local worker, each after the backoff."""
    for _ in range(n):
        assert poll_once(rt) == 1
        clock.past_the_backoff()


def test_a_message_failing_before_any_write_is_moved_on_its_5th_receive_and_redriven_once(
        world: tuple[Runtime, Clock]) -> None:
    rt, clock = world
    assert isinstance(rt.store, DynamoStore)
    faults = StoreFaults(rt.store, reads_of(f"AC#{BANK}#"))  # before its first write
    submit(rt, "r1", raw_tx("p1"), raw_tx("p2"))
    polls(rt, clock, 4)
    assert fates(rt, "r1") == [("p1", "queued"), ("p2", "queued")]
    assert rt.queue.depth() == (1, 0)
    polls(rt, clock, 1)  # its 5th: settled failed, then moved by the consumer
    assert rt.queue.depth() == (0, 1)
    receipt = rt.receipts.get(BANK, "r1")
    assert receipt is not None and receipt.done
    assert fates(rt, "r1") == [("p1", "failed"), ("p2", "failed")]
    assert all(i.errors[0]["field"] == "queue" for i in receipt.items())
    faults.on = False
    assert redrive(rt) == 1
    assert fates(rt, "r1") == [("p1", "queued"), ("p2", "queued")]
    polls(rt, clock, 1)
    assert fates(rt, "r1") == [("p1", "created"), ("p2", "created")]
    assert redrive(rt) == 0 and rt.queue.depth() == (0, 0)
    assert bank_count(rt) == 2


def test_a_message_that_has_written_stays_past_5_receives_and_applies_once(
        world: tuple[Runtime, Clock]) -> None:
    rt, clock = world
    assert isinstance(rt.store, DynamoStore)
    faults = StoreFaults(rt.store, puts_of(f"TX#{BANK}#"), after=True)  # writes, then dies
    submit(rt, "r1", raw_tx("h1"), raw_tx("h2"))
    polls(rt, clock, 7)
    assert faults.hits >= 7
    assert rt.queue.depth() == (1, 0)  # never moved, by the consumer nor by the queue
    assert fates(rt, "r1") == [("h1", "queued"), ("h2", "queued")]
    assert bank_count(rt) == 0
    faults.on = False
    (message,) = rt.queue.receive(10, 30)
    assert message.receive_count == 8  # its receives are counted, as SQS counts them
    rt.queue.change_visibility(message.handle, 0)
    polls(rt, clock, 1)
    assert fates(rt, "r1") == [("h1", "created"), ("h2", "created")]
    assert rt.queue.depth() == (0, 0) and bank_count(rt) == 2


def test_a_message_the_queue_moved_after_it_wrote_is_redriven_only_when_asked(
        tmp_path: Path) -> None:
    # a backstop below the consumer's limit: the queue moves a message that has written
    with made(tmp_path, backstop=2) as (rt, clock):
        assert isinstance(rt.store, DynamoStore)
        faults = StoreFaults(rt.store, puts_of(f"TX#{BANK}#"), after=True)
        submit(rt, "r1", raw_tx("h1"), raw_tx("h2"))
        polls(rt, clock, 2)
        assert poll_once(rt) == 0  # its 3rd receive: moved by the queue, not by the consumer
        assert rt.queue.depth() == (0, 1)
        faults.on = False
        assert redrive(rt) == 0  # it wrote: sent again, it would count twice
        assert rt.queue.depth() == (0, 1)
        assert fates(rt, "r1") == [("h1", "queued"), ("h2", "queued")]
        clock.now += 61  # `dead_letters` hid what it looked at for a minute
        assert redrive(rt, written_too=True) == 1
        polls(rt, clock, 1)
        assert fates(rt, "r1") == [("h1", "created"), ("h2", "created")]
        assert bank_count(rt) == 2 and find_drift(rt.store, BANK) == []
