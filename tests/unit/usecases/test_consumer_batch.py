"""`consume_batch`'s own decisions, with the applying parts (`ingest_async.consume_run`,
`consume`, `consume_many`, `replay_jobs.run`) as recording stand-ins. On a SequencedLedger
(QUEUE_GROUPS > 0): each group's messages go together to `consume_run`, one by one under the
FIFO rule when the run fails; the groups run side by side, and their outcomes merge in delivery
order. Replay jobs are taken out of a batch and their outcome joins the rest's. DynamoDB Local's
tests (tests/integration/usecases/test_sequenced_exactly_once.py, test_consumer_dead_letters.py)
run the sequenced consumer for real; these pin what mutmut could not judge without them."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest

from chalicelib.bootstrap import Runtime
from chalicelib.observability import MAX_LOGGED_CHARS
from chalicelib.ports.queue import ReceivedMessage
from chalicelib.ports.store import SequencedLedger, SequencedSession
from chalicelib.usecases import ingest_async, replay_jobs
from chalicelib.usecases.consumer import consume_batch

MAX_RECEIVES = 3
RUN_ERROR = "two messages share an id " * 40  # longer than the log keeps


class Sequenced(SequencedLedger):
    """Only what makes the consumer take the sequenced path: the stand-ins below apply."""

    def sequenced(self, bank: str) -> SequencedSession:
        raise AssertionError("the stand-ins apply, not the store")


@dataclass
class Queue:
    max_receives: int = MAX_RECEIVES
    dead: list[str] = field(default_factory=list)

    def dead_letter(self, message: ReceivedMessage) -> None:
        self.dead.append(message.message_id)


def msg(message_id: str, group: int, receive_count: int = 1) -> ReceivedMessage:
    # a group of QUEUE_GROUPS=8 and a sequence number: what `sequenced` looks for; the body is
    # not an ingest part, so giving one up reads no receipt (it has none to settle)
    return ReceivedMessage(message_id, f"bank0digest-{group}-8", "{}", receive_count,
                           f"handle-{message_id}", str(len(message_id)))


@dataclass
class Store:
    """The stand-in for `ingest_async.consume_run` and `consume`: which runs fail, which
    messages fail (and how), and every call."""

    rt: Any
    failing_runs: set[int] = field(default_factory=set)  # group numbers
    failing: dict[str, Exception] = field(default_factory=dict)
    runs: list[list[str]] = field(default_factory=list)
    singles: list[str] = field(default_factory=list)

    def consume_run(self, rt: Any, run: list[ReceivedMessage], now: datetime) -> None:
        self._check(rt, now)
        self.runs.append([m.message_id for m in run])
        if any(int(m.group.split("-")[1]) in self.failing_runs for m in run):
            raise ValueError(RUN_ERROR)

    def consume(self, rt: Any, message: ReceivedMessage, now: datetime) -> None:
        self._check(rt, now)
        self.singles.append(message.message_id)
        if message.message_id in self.failing:
            raise self.failing[message.message_id]

    def _check(self, rt: Any, now: datetime) -> None:
        assert rt is self.rt
        assert abs(datetime.now(UTC) - now) < timedelta(minutes=1)


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    rt = SimpleNamespace(store=Sequenced(), queue=Queue(), receipts=None)
    made = Store(rt)
    monkeypatch.setattr(ingest_async, "consume_run", made.consume_run)
    monkeypatch.setattr(ingest_async, "consume", made.consume)
    yield made


def ids(messages: list[ReceivedMessage]) -> list[str]:
    return [m.message_id for m in messages]


@pytest.mark.parametrize("batch", [[msg("a1", 1), msg("a2", 1)],
                                   [msg("a1", 1), msg("b1", 2), msg("a2", 1), msg("b2", 2)]])
def test_each_groups_messages_are_applied_together_in_one_run(
        store: Store, batch: list[ReceivedMessage]) -> None:
    outcome = consume_batch(cast(Runtime, store.rt), batch)
    assert sorted(store.runs) == [["a1", "a2"], ["b1", "b2"]][:len(batch) // 2]
    assert store.singles == []
    assert ids(outcome.done) == ids(batch) and outcome.failed_ids() == []


def test_the_groups_of_a_batch_merge_in_delivery_order_whatever_became_of_each(
        store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    batch = [msg("a1", 1), msg("b1", 2), msg("c1", 3), msg("a2", 1), msg("d1", 4, MAX_RECEIVES),
             msg("b2", 2), msg("c2", 3), msg("d2", 4), msg("e1", 5)]
    store.failing_runs = {2, 3, 4}
    store.failing = {"c2": ingest_async.HalfApplied("wrote, then failed"),
                     "d1": RuntimeError("the store is down"), "e1": RuntimeError("down too")}
    capsys.readouterr()
    outcome = consume_batch(cast(Runtime, store.rt), batch)
    # group 1 applied as a run; 2, 3 and 4 failed as runs and went one by one, each stopping
    # at its first failure; group 5's one message went alone, never as a run
    assert sorted(store.runs) == [["a1", "a2"], ["b1", "b2"], ["c1", "c2"], ["d1", "d2"]]
    assert sorted(store.singles) == ["b1", "b2", "c1", "c2", "d1", "e1"]
    assert ids(outcome.done) == ["a1", "b1", "c1", "a2", "b2"]
    assert ids(outcome.failed) == ["d1", "c2", "e1"]
    assert ids(outcome.skipped) == ["d2"]
    assert ids(outcome.held) == ["c2"]  # it has written: kept, never given up
    assert ids(outcome.dead) == ["d1"] and store.rt.queue.dead == ["d1"]  # its last receive
    assert outcome.failed_ids() == ["c2", "e1", "d2"]
    splits = sorted((line for line in map(json.loads, capsys.readouterr().out.splitlines())
                     if line["event"] == "ingest_run_split"), key=str)
    # the reason cut to 300 characters, which the logger then caps saying how many
    assert splits == [{"level": "WARNING", "event": "ingest_run_split", "messages": 2,
                       "timestamp": line["timestamp"],
                       "error": RUN_ERROR[:MAX_LOGGED_CHARS]
                       + f"...(+{300 - MAX_LOGGED_CHARS} chars)"} for line in splits]
    assert len(splits) == 3


def test_every_group_of_a_batch_runs_at_once(store: Store,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    batch = [msg(f"m{g}", g) for g in range(10)]  # a full SQS batch, a group each
    together = threading.Barrier(len(batch), timeout=10)

    def waits_for_every_group(rt: Any, message: ReceivedMessage, now: datetime) -> None:
        together.wait()  # broken (and failing) unless all ten are applied side by side

    monkeypatch.setattr(ingest_async, "consume", waits_for_every_group)
    outcome = consume_batch(cast(Runtime, store.rt), batch)
    assert ids(outcome.done) == ids(batch)


def test_a_batchs_replay_jobs_run_apart_and_their_outcome_joins_the_rest(
        store: Store, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    store.rt.store = None  # not a SequencedLedger: the ledger's transactions apply
    job_body = '{"bank":"b","id":"%s","job":"replay"}'

    def job(message_id: str, receive_count: int = 1) -> ReceivedMessage:
        return ReceivedMessage(message_id, f"job-{message_id}", job_body % message_id,
                               receive_count, f"handle-{message_id}")

    def together(rt: Any, batch: list[ReceivedMessage], now: datetime) -> None:
        raise ValueError(RUN_ERROR)  # one by one, then

    def run(rt: Any, message: ReceivedMessage) -> None:
        if message.message_id == "j1":
            raise RuntimeError("the scan broke")

    monkeypatch.setattr(ingest_async, "consume_many", together)
    monkeypatch.setattr(replay_jobs, "run", run)
    given_up: list[tuple[Any, str, str]] = []
    monkeypatch.setattr(replay_jobs, "give_up", lambda rt, message, why: given_up.append(
        (rt, message.message_id, why)))
    store.failing = {"i1": ingest_async.HalfApplied("wrote, then failed")}
    batch = [job("j1", MAX_RECEIVES), msg("i1", 1), job("j2"), msg("i2", 1), msg("i3", 2)]
    capsys.readouterr()
    outcome = consume_batch(cast(Runtime, store.rt), batch)
    assert (ids(outcome.done), ids(outcome.failed), ids(outcome.skipped), ids(outcome.held),
            ids(outcome.dead)) == (["i3", "j2"], ["i1", "j1"], ["i2"], ["i1"], ["j1"])
    assert store.rt.queue.dead == ["j1"]  # recorded failed first, then moved
    assert given_up == [(store.rt, "j1", "moved to the dead-letter queue after 3 attempts"
                                         " (RuntimeError: the scan broke)")]
    (split,) = [line for line in map(json.loads, capsys.readouterr().out.splitlines())
                if line["event"] == "ingest_batch_split"]
    # the three ingest messages failed as one commit; the reason cut to 300 characters
    assert (split["level"], split["messages"], split["error"]) == (
        "WARNING", 3, RUN_ERROR[:MAX_LOGGED_CHARS] + f"...(+{300 - MAX_LOGGED_CHARS} chars)")
