"""The consumer on the embedded queue and SQLite. The Lambda's (`on_sqs_records`): SQS records
read as delivered messages, the partial batch response, the backoff of a failed message, the
batch failed whole when partial responses are off, its log lines. The local one's (`poll_once`,
`drain`): what it asks the queue for, a skipped message made visible at once, every batch."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters.sqlite import SqliteStore
from chalicelib.bootstrap import Runtime, bootstrap
from chalicelib.config import QueueSettings, Settings
from chalicelib.ports.queue import MAX_RECEIVE_BATCH, QueueError, ReceivedMessage
from chalicelib.usecases import consumer as consumer_module
from chalicelib.usecases import ingest_async
from chalicelib.usecases.consumer import (
    BatchFailedError,
    drain,
    from_sqs_record,
    on_sqs_records,
    poll_once,
)
from tests.conftest import NOW
from tests.support.asyncing import store_down_for
from tests.support.factories import raw_tx

BANK = "demo"


def runtime(tmp_path: Path, partial_batch: bool = True) -> Runtime:
    queue = QueueSettings(path=str(tmp_path / "queue.db"),
                          receipts_path=str(tmp_path / "receipts.db"), max_receives=3,
                          visibility_s=30, local_workers=0, partial_batch=partial_batch)
    return bootstrap(Settings(sqlite_path=str(tmp_path / "ledger.db"), queue=queue),
                     SqliteStore(str(tmp_path / "ledger.db")))


def record(m: ReceivedMessage) -> dict[str, Any]:
    """A delivered message as Lambda hands it over in an SQS event."""
    return {"messageId": m.message_id, "receiptHandle": m.handle, "body": m.body,
            "attributes": {"MessageGroupId": m.group,
                           "ApproximateReceiveCount": str(m.receive_count),
                           **({"SequenceNumber": m.sequence} if m.sequence else {})},
            "eventSource": "aws:sqs"}


def submitted(rt: Runtime, *accounts: str, groups: int) -> None:
    """One transaction per account submitted asynchronously (a message per account, in
    `groups` message groups)."""
    rt = replace(rt, settings=replace(rt.settings, queue=replace(rt.settings.queue,
                                                                 groups=groups)))
    txs = [raw_tx(f"t-{a}", account=a, amount="5.00") for a in accounts]
    ingest_async.submit(rt, BANK, json.dumps({"transactions": txs}).encode(), NOW, "r1")


def delivered(rt: Runtime, *accounts: str) -> list[ReceivedMessage]:
    """`submitted`, then received from the queue as SQS would deliver them."""
    submitted(rt, *accounts, groups=8)
    messages = rt.queue.receive(10, 30)
    assert len(messages) == len(accounts)
    return messages


def logged(out: str, event: str) -> list[dict[str, Any]]:
    """The log records of `event` in what was printed."""
    records = [json.loads(line) for line in out.splitlines() if line.startswith('{"level"')]
    return [r for r in records if r["event"] == event]


def test_an_sqs_record_reads_as_the_message_it_delivers() -> None:
    message = ReceivedMessage("m-1", "g-3", '{"x": 1}', 4, "handle-1", "18776")
    assert from_sqs_record(record(message)) == message  # its sequence: what orders a group
    bare = {"messageId": "m-2", "receiptHandle": "h", "body": "b"}  # no attributes at all
    assert from_sqs_record(bare) == ReceivedMessage("m-2", "", "b", 1, "h")


def test_every_message_applied_answers_no_failures_and_logs_the_batch(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rt = runtime(tmp_path)
    messages = delivered(rt, "A1", "B2")
    capsys.readouterr()
    assert on_sqs_records(rt, [record(m) for m in messages]) == {"batchItemFailures": []}
    printed = capsys.readouterr().out
    assert logged(printed, "ingest_batch_split") == []  # one commit for the whole batch
    (line,) = logged(printed, "ingest_batch")
    assert {k: line[k] for k in ("level", "received", "done", "failed", "skipped")} == {
        "level": "INFO", "received": 2, "done": 2, "failed": 0, "skipped": 0}
    assert rt.store.get_transaction(BANK, "t-A1") is not None
    assert rt.store.get_transaction(BANK, "t-B2") is not None


def test_a_failed_message_is_reported_alone_and_comes_back_after_its_backoff(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    rt = runtime(tmp_path)
    now = [1_000_000.0]
    monkeypatch.setattr(rt.queue, "clock", lambda: now[0])
    messages = delivered(rt, "A1", "B2")
    store_down_for(monkeypatch, "account", {"B2"})
    failing = next(m for m in messages if json.loads(m.body)["items"][0][1]["account"] == "B2")
    capsys.readouterr()
    answer = on_sqs_records(rt, [record(m) for m in messages])
    assert answer == {"batchItemFailures": [{"itemIdentifier": failing.message_id}]}
    printed = capsys.readouterr()
    (split,) = logged(printed.out, "ingest_batch_split")  # one commit failed: one by one
    assert (split["level"], split["messages"]) == ("WARNING", 2)
    assert split["error"].startswith("the store is down"), split
    (line,) = logged(printed.out, "ingest_batch")
    assert (line["received"], line["done"], line["failed"]) == (2, 1, 1)
    assert rt.queue.receive(10, 30) == []  # not at once: after the backoff (a second or more)
    now[0] += 10  # the backoff, not the visibility timeout (30 s)
    assert [m.message_id for m in rt.queue.receive(10, 30)] == [failing.message_id]
    assert rt.store.get_transaction(BANK, "t-A1") is not None
    assert rt.store.get_transaction(BANK, "t-B2") is None


def test_without_partial_batch_responses_a_failure_fails_the_whole_batch(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rt = runtime(tmp_path, partial_batch=False)
    messages = delivered(rt, "A1", "B2")
    store_down_for(monkeypatch, "account", {"B2"})
    with pytest.raises(BatchFailedError, match="1 of 2 messages failed"):
        on_sqs_records(rt, [record(m) for m in messages])
    bucket = rt.store.get_transaction(BANK, "t-A1")
    assert bucket is not None and bucket.amount == Decimal("5.00")  # applied: a no-op again


def test_a_backoff_the_queue_refuses_is_logged_and_the_answer_is_the_same(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    rt = runtime(tmp_path)
    (message,) = delivered(rt, "B2")
    store_down_for(monkeypatch, "account", {"B2"})

    def refuse(handle: str, timeout_s: int) -> None:
        raise QueueError("injected: throttled")

    monkeypatch.setattr(rt.queue, "change_visibility", refuse)
    capsys.readouterr()
    answer = on_sqs_records(rt, [record(message)])
    assert answer == {"batchItemFailures": [{"itemIdentifier": message.message_id}]}
    (warning,) = logged(capsys.readouterr().out, "ingest_backoff_failed")
    assert (warning["level"], warning["message_id"], warning["error"]) == (
        "WARNING", message.message_id, "injected: throttled")


def test_a_poll_asks_for_a_full_batch_under_the_stages_visibility_and_wait(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rt = runtime(tmp_path)
    asked: list[tuple[int, int, float]] = []

    def receive(max_messages: int, visibility_timeout_s: int,
                wait_s: float = 0) -> list[ReceivedMessage]:
        asked.append((max_messages, visibility_timeout_s, wait_s))
        return []

    monkeypatch.setattr(rt.queue, "receive", receive)
    assert poll_once(rt, 0.25) == 0
    assert poll_once(rt) == 0  # `drain`'s: an empty queue ends it at once, not after a wait
    assert asked == [(MAX_RECEIVE_BATCH, rt.settings.queue.visibility_s, 0.25),
                     (MAX_RECEIVE_BATCH, rt.settings.queue.visibility_s, 0)]


def first_fails_with_one_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                ) -> tuple[Runtime, list[float]]:
    """Two requests for one account (one group), "first" then "behind"; the store fails every
    write of "first". The queue's clock is the returned list's one value, for the test to move."""
    rt = runtime(tmp_path)
    now = [1_000_000.0]
    monkeypatch.setattr(rt.queue, "clock", lambda: now[0])
    for request_id, tx_id in (("r1", "first"), ("r2", "behind")):
        body = json.dumps(raw_tx(tx_id, account="A1")).encode()
        ingest_async.submit(rt, BANK, body, NOW, request_id)
    store_down_for(monkeypatch, "id", {"first"})
    return rt, now


def test_a_message_skipped_behind_a_failed_one_is_delivered_again_at_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rt, now = first_fails_with_one_behind(tmp_path, monkeypatch)
    assert poll_once(rt) == 2
    # the failed one backs off a few seconds; the skipped one is visible again at once, not
    # after the visibility timeout (30 s), so both come back together after the backoff
    now[0] += 10
    again = rt.queue.receive(10, 30)
    assert [json.loads(m.body)["items"][0][1]["id"] for m in again] == ["first", "behind"]


@pytest.mark.parametrize("consumer", ["lambda", "local"])
def test_a_message_skipped_behind_a_dead_lettered_one_is_delivered_again_at_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        consumer: str) -> None:
    rt, now = first_fails_with_one_behind(tmp_path, monkeypatch)
    for _ in range(rt.queue.max_receives):  # "first" fails on each receive, then is moved
        if consumer == "local":
            poll_once(rt)
        else:
            on_sqs_records(rt, [record(m) for m in rt.queue.receive(10, 30)])
        now[0] += 100  # past any backoff
    now[0] -= 100
    # nothing ahead of it any more: visible again at once, not after a second or a backoff
    (again,) = rt.queue.receive(10, 30)
    assert json.loads(again.body)["items"][0][1]["id"] == "behind"
    if consumer == "lambda":
        *_, line = logged(capsys.readouterr().out, "ingest_batch")
        assert {k: line[k] for k in ("done", "failed", "skipped", "held", "dead_lettered")} == {
            "done": 0, "failed": 1, "skipped": 1, "held": 0, "dead_lettered": 1}


def test_drain_stops_after_10_000_batches_of_a_queue_that_never_empties(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    polled: list[Runtime] = []

    def poll(rt: Runtime, wait_s: float = 0) -> int:
        polled.append(rt)
        return 1

    monkeypatch.setattr(consumer_module, "poll_once", poll)
    rt = runtime(tmp_path)
    drain(rt)
    assert len(polled) == 10_000 and polled[0] is rt


def test_drain_consumes_batch_after_batch_until_nothing_is_left(tmp_path: Path) -> None:
    rt = runtime(tmp_path)
    accounts = [f"C{i}" for i in range(MAX_RECEIVE_BATCH * 2 + 3)]
    submitted(rt, *accounts, groups=64)
    drain(rt)
    assert all(rt.store.get_transaction(BANK, f"t-{a}") is not None for a in accounts)
    assert rt.queue.depth() == (0, 0)


def test_a_request_is_queued_as_one_message_per_group_of_the_stages_setting(
        tmp_path: Path) -> None:
    rt = runtime(tmp_path)
    submitted(rt, "A1", "B2", "C3", groups=1)  # one group for every account: one message
    (message,) = rt.queue.receive(10, 30)
    assert [item[1]["account"] for item in json.loads(message.body)["items"]] == [
        "A1", "B2", "C3"]
