"""The consumer decides the dead letters, on SQS FIFO (moto, the Lambda's `on_sqs_records`) as on
the embedded queue (the local worker's `poll_once`), with the sequenced consumer on DynamoDB
Local: a message that failed before any write is settled `failed` and moved on its 5th receive,
its sibling goes on, and a redrive applies it once; a message that has written (now, or in an
earlier delivery) is never moved, whatever its receive count, and applies once when the fault
goes. The queues' own move (1000 receives, as the template's redrive policy) is never reached;
if a lower one moves a message that has written, `scripts.redrive` leaves it unless told."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bench.moto_fifo import increasing_sequences
from chalicelib.adapters.dynamo.dynamo_store import DynamoStore
from chalicelib.adapters.sqlite.sqlite_queue import SqliteQueue
from chalicelib.adapters.sqs_queue import SqsQueue
from chalicelib.bootstrap import Runtime, bootstrap
from chalicelib.config import QueueSettings, Settings
from chalicelib.domain.aggregates import BANK_KEY
from chalicelib.domain.messages import group_for
from chalicelib.ports.queue import BACKSTOP_RECEIVES, ReceivedMessage
from chalicelib.usecases import ingest_async
from chalicelib.usecases.consumer import PATIENT_BACKOFF_S, on_sqs_records, poll_once
from chalicelib.usecases.reconcile import find_drift
from scripts.redrive import redrive
from tests.conftest import NOW
from tests.support.dynamodb_local import dynamodb_local_store
from tests.support.factories import raw_tx
from tests.support.queues import create_fifo_queues
from tests.support.store_faults import StoreFaults, puts_of, reads_of

pytestmark = pytest.mark.emulator  # DynamoDB Local, and SQS on moto
BANK = "b1"
GROUPS = 3
MAX_RECEIVES = 5  # the template's QUEUE_MAX_RECEIVES


class Clock:
    """The embedded queue's clock: a test moves it past any backoff instead of waiting."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Watched(SqliteQueue):
    """The embedded queue, remembering what its last receive delivered."""

    def __init__(self, path: str, **kwargs: Any) -> None:
        super().__init__(path, **kwargs)
        self.last: list[ReceivedMessage] = []

    def receive(self, max_messages: int, visibility_timeout_s: int,
                wait_s: float = 0) -> list[ReceivedMessage]:
        self.last = super().receive(max_messages, visibility_timeout_s, wait_s)
        return self.last


class World:
    """A runtime on DynamoDB Local and one queue; `deliver` runs one consumer round on what the
    queue delivers and returns it, each failed message made deliverable again at once."""

    def __init__(self, rt: Runtime, deliver: Callable[[], list[ReceivedMessage]]) -> None:
        self.rt, self.deliver = rt, deliver
        assert isinstance(rt.store, DynamoStore)
        self.store: DynamoStore = rt.store


def lambda_round(rt: Runtime) -> list[ReceivedMessage]:
    """One Lambda invocation, as the event source mapping runs it: the records of one receive,
    the answer's failures left (made visible at once: the test does not wait out the backoff),
    the rest deleted (what the consumer moved is gone already)."""
    queue = rt.queue
    batch = queue.receive(10, 60)
    records: list[Mapping[str, Any]] = [
        {"messageId": m.message_id, "receiptHandle": m.handle, "body": m.body,
         "attributes": {"ApproximateReceiveCount": str(m.receive_count),
                        "MessageGroupId": m.group, "SequenceNumber": m.sequence},
         "eventSource": "aws:sqs"} for m in batch]
    answer = on_sqs_records(rt, records)
    failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
    for m in batch:
        if m.message_id in failed:
            queue.change_visibility(m.handle, 0)
    queue.delete_many([m.handle for m in batch if m.message_id not in failed])
    return batch


def settings(store: DynamoStore) -> Settings:
    return Settings(store="dynamodb", table_name=store.table, queue=QueueSettings(
        groups=GROUPS, max_receives=MAX_RECEIVES, visibility_s=30, local_workers=0,
        partial_batch=True))


@contextmanager
def on_sqs(_: Path) -> Iterator[World]:
    """SQS FIFO on moto with the template's redrive policy (1000 receives), the Lambda's path."""
    with dynamodb_local_store() as store, mock_aws(), increasing_sequences():
        client = boto3.client("sqs", region_name="us-east-1")
        url, dlq = create_fifo_queues(client, max_receives=BACKSTOP_RECEIVES)
        queue = SqsQueue(url, dlq, max_receives=MAX_RECEIVES, client=client)
        rt = bootstrap(settings(store), store, queue=queue, receipts=store.receipts())
        yield World(rt, lambda: lambda_round(rt))


@contextmanager
def on_the_embedded_queue(tmp_path: Path, clock: Clock | None = None,
                          backstop: int = BACKSTOP_RECEIVES) -> Iterator[World]:
    """The embedded queue (its own move after `backstop` receives), the local worker's path."""
    clock = clock or Clock()
    with dynamodb_local_store() as store:
        queue = Watched(str(tmp_path / "queue.db"), max_receives=MAX_RECEIVES, clock=clock,
                        backstop_receives=backstop)
        rt = bootstrap(settings(store), store, queue=queue, receipts=store.receipts())

        def deliver() -> list[ReceivedMessage]:
            queue.last = []
            poll_once(rt)
            clock.now += PATIENT_BACKOFF_S + 1  # past any backoff
            return queue.last

        yield World(rt, deliver)


WORLDS: dict[str, Callable[[Path], AbstractContextManager[World]]] = {
    "sqs": on_sqs, "embedded": on_the_embedded_queue}


@pytest.fixture(params=sorted(WORLDS))
def world(request: pytest.FixtureRequest, tmp_path: Path, dynamodb_local: Any
          ) -> Iterator[World]:
    with WORLDS[request.param](tmp_path) as made:
        yield made


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


def same_group_accounts() -> tuple[str, str]:
    """Two accounts whose items go to one message group."""
    first = group_for(BANK, "X0", GROUPS)
    return "X0", next(f"X{i}" for i in range(1, 200) if group_for(BANK, f"X{i}", GROUPS) == first)


def test_a_message_failing_before_any_write_is_moved_on_its_5th_receive_reading_failed(
        world: World) -> None:
    rt = world.rt
    poisoned, behind = same_group_accounts()
    faults = StoreFaults(world.store, reads_of(f"AC#{BANK}#{poisoned}"))  # before any write
    submit(rt, "head", raw_tx("p1", account=poisoned), raw_tx("p2", account=poisoned))
    submit(rt, "behind", raw_tx("q1", account=behind))
    for receive in range(1, MAX_RECEIVES + 1):
        batch = world.deliver()
        assert [m.receive_count for m in batch] == [receive, receive]  # the group's two
        assert all(m.sequence.isdigit() for m in batch)  # applied in sequence
        if receive < MAX_RECEIVES:
            assert fates(rt, "head") == [("p1", "queued"), ("p2", "queued")]
            assert rt.queue.depth() == (2, 0)
    # settled failed, then moved by the consumer; the sibling skipped behind it never failed
    assert rt.queue.depth() == (1, 1)
    receipt = rt.receipts.get(BANK, "head")
    assert receipt is not None and receipt.done
    assert fates(rt, "head") == [("p1", "failed"), ("p2", "failed")]
    for item in receipt.items():
        (why,) = item.errors
        assert why["field"] == "queue" and "after 5 attempts" in why["message"], why
    (sibling,) = world.deliver()  # it goes on, though received as often
    assert sibling.receive_count == MAX_RECEIVES + 1
    assert fates(rt, "behind") == [("q1", "created")] and bank_count(rt) == 1
    faults.on = False  # mended: the operator redrives
    assert redrive(rt) == 1
    assert fates(rt, "head") == [("p1", "queued"), ("p2", "queued")]
    (back,) = world.deliver()
    assert back.receive_count == 1
    assert fates(rt, "head") == [("p1", "created"), ("p2", "created")]
    assert redrive(rt) == 0 and rt.queue.depth() == (0, 0)
    assert bank_count(rt) == 3 and find_drift(rt.store, BANK) == []  # each counted once


def test_a_message_that_has_written_stays_past_5_receives_and_applies_once(
        world: World) -> None:
    rt = world.rt
    # each delivery writes its records, then dies: half applied (HalfApplied)
    faults = StoreFaults(world.store, puts_of(f"TX#{BANK}#"), after=True)
    submit(rt, "r1", raw_tx("h1"), raw_tx("h2"))
    for receive in range(1, 8):
        (message,) = world.deliver()
        assert message.receive_count == receive  # counted, never reset, never moved
        assert fates(rt, "r1") == [("h1", "queued"), ("h2", "queued")]
    assert faults.hits >= 7
    assert rt.queue.depth() == (1, 0)
    assert bank_count(rt) == 0  # its records are written, its accounts and totals not yet
    faults.on = False
    (message,) = world.deliver()
    assert message.receive_count == 8
    assert fates(rt, "r1") == [("h1", "created"), ("h2", "created")]
    assert rt.queue.depth() == (0, 0)
    assert bank_count(rt) == 2 and find_drift(rt.store, BANK) == []


def test_a_message_whose_earlier_delivery_wrote_is_kept_though_this_one_wrote_nothing(
        world: World) -> None:
    rt = world.rt
    crash = StoreFaults(world.store, puts_of(f"TX#{BANK}#"), after=True)  # writes, dies
    submit(rt, "r1", raw_tx("w1"))
    world.deliver()
    crash.on = False
    down = StoreFaults(world.store, reads_of(f"AC#{BANK}#"))  # now it fails before writing
    for receive in range(2, MAX_RECEIVES + 3):
        (message,) = world.deliver()
        assert message.receive_count == receive
    assert rt.queue.depth() == (1, 0)  # one of its records carries its token: kept
    assert fates(rt, "r1") == [("w1", "queued")]
    down.on = False
    world.deliver()
    assert fates(rt, "r1") == [("w1", "created")] and bank_count(rt) == 1


def test_a_message_the_queue_moved_after_it_wrote_is_redriven_only_when_asked(
        tmp_path: Path, dynamodb_local: Any) -> None:
    # a backstop below the consumer's limit: the queue moves a message that has written (on
    # the embedded queue, whose clock a test can move past the dead letters' hiding)
    clock = Clock()
    with on_the_embedded_queue(tmp_path, clock, backstop=2) as world:
        rt = world.rt
        faults = StoreFaults(world.store, puts_of(f"TX#{BANK}#"), after=True)
        submit(rt, "r1", raw_tx("h1"), raw_tx("h2"))
        world.deliver()
        world.deliver()
        assert world.deliver() == []  # its 3rd receive: moved by the queue, not the consumer
        assert rt.queue.depth() == (0, 1)
        faults.on = False
        assert redrive(rt) == 0  # it wrote: sent again, it would count twice
        assert rt.queue.depth() == (0, 1)
        assert fates(rt, "r1") == [("h1", "queued"), ("h2", "queued")]
        clock.now += 61  # what `dead_letters` looked at stays hidden a minute
        assert redrive(rt, written_too=True) == 1
        world.deliver()
        assert fates(rt, "r1") == [("h1", "created"), ("h2", "created")]
        assert bank_count(rt) == 2 and find_drift(rt.store, BANK) == []
