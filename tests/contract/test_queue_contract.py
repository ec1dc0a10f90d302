"""The queue contract: the embedded SQLite queue and the SQS adapter (on moto) behave alike, the
consumer's own dead-letter move (`dead_letter`) and the queue's backstop included."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.adapters.sqs_queue import _batches
from chalicelib.ports.queue import OutgoingMessage, Queue, QueueError, ReceivedMessage
from tests.support.queues import MAX_RECEIVES, QUEUES


# SQS runs on moto, an AWS stand-in: emulator, so `make check` leaves it to `make test`
@pytest.fixture(params=[pytest.param(name, marks=pytest.mark.emulator) if name != "sqlite"
                        else name for name in sorted(QUEUES)])
def queue(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Queue]:
    with QUEUES[request.param](tmp_path) as made:
        yield made


def msg(group: str, body: str) -> OutgoingMessage:
    return OutgoingMessage(group, f"{group}-{body}", body)


def bodies(queue: Queue, n: int = 10, vt: int = 30) -> list[str]:
    return [m.body for m in queue.receive(n, vt)]


def test_sent_messages_arrive_in_order_and_a_delete_is_for_good(queue: Queue) -> None:
    queue.send([msg("g", "1"), msg("g", "2")])
    got = queue.receive(10, 30)
    assert [(m.body, m.group, m.receive_count) for m in got] == [("1", "g", 1), ("2", "g", 1)]
    for m in got:
        queue.delete(m.handle)
    assert queue.receive(10, 0) == []
    assert queue.depth() == (0, 0)


def test_a_group_with_a_message_in_flight_delivers_nothing_else(queue: Queue) -> None:
    queue.send([msg("g", "g1"), msg("g", "g2"), msg("h", "h1")])
    (first,) = queue.receive(1, 30)
    assert first.body == "g1"
    assert bodies(queue) == ["h1"]  # g2 waits for g1; the other group goes on
    assert bodies(queue) == []
    queue.delete(first.handle)
    assert bodies(queue) == ["g2"]


def test_a_message_back_from_flight_is_delivered_again_before_later_ones(queue: Queue) -> None:
    queue.send([msg("g", "1"), msg("g", "2")])
    (first,) = queue.receive(1, 30)
    queue.change_visibility(first.handle, 0)
    again = queue.receive(10, 30)
    assert [(m.body, m.receive_count) for m in again] == [("1", 2), ("2", 1)]


def test_delete_many_removes_each_delivered_message(queue: Queue) -> None:
    queue.send([msg(f"g{i}", str(i)) for i in range(12)])
    got = queue.receive(10, 30)
    got += queue.receive(10, 30)
    assert len(got) == 12
    queue.delete_many([m.handle for m in got])
    assert queue.depth() == (0, 0)


def test_visibility_timeout_expires_and_the_message_comes_back(queue: Queue) -> None:
    queue.send([msg("g", "1")])
    assert bodies(queue, vt=1) == ["1"]
    assert bodies(queue, vt=1) == []
    time.sleep(2.2)  # generous: SQS (and moto) count whole seconds
    (again,) = queue.receive(10, 30)
    assert (again.body, again.receive_count) == ("1", 2)


def test_the_consumer_moves_a_delivered_message_to_the_dead_letters_and_its_group_goes_on(
        queue: Queue) -> None:
    queue.send([msg("g", "poison"), msg("g", "next"), msg("h", "other")])
    first = queue.receive(10, 30)
    assert [m.body for m in first] == ["poison", "next", "other"]
    poison = first[0]
    queue.dead_letter(poison)  # its first receive: the consumer decides, not the count
    for m in first[1:]:
        queue.change_visibility(m.handle, 0)
    assert queue.depth() == (2, 1)
    again = queue.receive(10, 30)
    assert sorted((m.body, m.receive_count) for m in again) == [("next", 2), ("other", 2)]
    queue.delete_many([m.handle for m in again])
    (dead,) = queue.dead_letters(10)
    assert (dead.body, dead.group) == ("poison", "g")  # what a redrive needs
    assert queue.redrive([dead]) == 1
    (back,) = queue.receive(10, 30)
    assert (back.body, back.group, back.receive_count) == ("poison", "g", 1)
    assert queue.depth() == (1, 0)


def test_moving_the_same_delivery_twice_leaves_one_dead_letter(
        queue: Queue) -> None:
    queue.send([msg("g", "1")])
    (m,) = queue.receive(1, 30)
    queue.dead_letter(m)
    try:
        queue.dead_letter(m)  # SQS: sent again, dropped as a repeat; embedded: refused
    except QueueError:
        pass
    assert queue.depth() == (0, 1)
    assert [d.body for d in queue.dead_letters(10)] == ["1"]


def test_after_its_backstop_receives_the_queue_moves_the_message_itself_and_can_redrive_it(
        queue: Queue) -> None:
    queue.send([msg("g", "poison"), msg("g", "next")])
    for attempt in range(1, MAX_RECEIVES + 1):
        (m,) = queue.receive(1, 30)
        assert (m.body, m.receive_count) == ("poison", attempt)
        queue.change_visibility(m.handle, 0)
    (after,) = queue.receive(1, 30)
    assert after.body == "next"  # the poison message moved aside, the group goes on
    queue.delete(after.handle)
    assert queue.depth()[1] == 1
    dead = queue.dead_letters(10)
    assert [(d.body, d.group) for d in dead] == [("poison", "g")]
    assert queue.redrive(dead) == 1
    assert queue.depth()[1] == 0
    (back,) = queue.receive(10, 30)
    assert (back.body, back.receive_count) == ("poison", 1)


def test_the_same_dedup_id_is_dropped_but_other_content_is_not(queue: Queue) -> None:
    queue.send([OutgoingMessage("g", "d1", "a")])
    queue.send([OutgoingMessage("g", "d1", "a")])  # a resend of the same message
    queue.send([OutgoingMessage("g", "d2", "a-other")])  # same group, other content
    got = queue.receive(10, 30)
    assert [m.body for m in got] == ["a", "a-other"]


def test_many_groups_are_served_in_parallel_in_send_order(queue: Queue) -> None:
    queue.send([msg(f"g{i % 3}", str(i)) for i in range(9)])
    first = queue.receive(3, 30)
    # each receive may return several messages of a group, but never out of its order
    seen: dict[str, list[int]] = {}
    for m in first:
        seen.setdefault(m.group, []).append(int(m.body))
    assert all(v == sorted(v) for v in seen.values())
    for m in first:
        queue.delete(m.handle)
    rest: list[ReceivedMessage] = []
    while got := queue.receive(10, 30):
        rest += got
        for m in got:
            queue.delete(m.handle)
    assert sorted(int(m.body) for m in [*first, *rest]) == list(range(9))


def test_sqs_batches_hold_at_most_ten_messages_and_256_kib_in_order() -> None:
    big = "x" * 100_000
    messages = [OutgoingMessage("g", str(i), big if i < 4 else str(i)) for i in range(16)]
    batches = list(_batches(messages))
    assert [m for b in batches for m in b] == messages
    assert all(len(b) <= 10 and sum(len(m.body) for m in b) <= 256 * 1024 for b in batches)
    assert [len(b) for b in batches] == [2, 10, 4]


def test_sqs_send_failing_on_a_later_batch_names_what_was_not_queued(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from chalicelib.ports.queue import QueueError
    from tests.support.queues import moto_sqs_queue

    with moto_sqs_queue(tmp_path) as queue:
        calls = []

        def second_batch_fails(**_: object) -> object:
            calls.append(1)
            if len(calls) >= 2:  # the second SendMessageBatch, and botocore's retries of it
                return (SimpleNamespace(status_code=500, headers={}),
                        {"Error": {"Code": "InternalError", "Message": "injected"},
                         "ResponseMetadata": {}})
            return None

        client = queue.client  # type: ignore[attr-defined]
        client.meta.events.register("before-call.sqs.SendMessageBatch", second_batch_fails)
        messages = [msg(f"g{i}", str(i)) for i in range(15)]
        with pytest.raises(QueueError) as raised:
            queue.send(messages)
        assert raised.value.unsent == messages[10:]
        assert sorted(int(m.body) for m in queue.receive(10, 30)) == list(range(10))


def test_sqlite_send_failing_queues_nothing_and_says_so(tmp_path: Path) -> None:
    from chalicelib.adapters.sqlite.sqlite_queue import SqliteQueue
    from chalicelib.ports.queue import QueueError

    blocker = tmp_path / "file"
    blocker.write_text("")
    queue = SqliteQueue(str(blocker / "queue.db"))  # a path under a file: cannot be opened
    messages = [msg("g", "1")]
    with pytest.raises(QueueError) as raised:
        queue.send(messages)
    assert raised.value.unsent == messages
