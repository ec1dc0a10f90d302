"""The local consumer threads: how many start, what they are, and that a failed poll is logged,
waited out and followed by the next poll (the thread never dies of it)."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from chalicelib.adapters.sqlite import SqliteStore
from chalicelib.bootstrap import Runtime, bootstrap
from chalicelib.observability import MAX_LOGGED_CHARS
from chalicelib.ports.queue import OutgoingMessage, Queue, QueueError, ReceivedMessage
from chalicelib.usecases import consumer
from chalicelib.usecases.consumer import start_local_workers
from tests.support.settings import dev_settings

WAIT_S = 0.01


class FailsFirstReceive(Queue):
    """An empty queue whose first receive fails; it records each receive's long-poll wait and
    tells the workers to stop after `polls` receives."""

    def __init__(self, stop: threading.Event, polls: int = 2) -> None:
        self.name, self.max_receives = "fake", 3
        self.stop, self.polls = stop, polls
        self.waits: list[float] = []

    def receive(self, max_messages: int, visibility_timeout_s: int,
                wait_s: float = 0) -> list[ReceivedMessage]:
        self.waits.append(wait_s)
        if len(self.waits) >= self.polls:
            self.stop.set()
        if len(self.waits) == 1:
            raise QueueError("injected: the queue is away " + "x" * 600)
        return []

    def send(self, messages: list[OutgoingMessage]) -> None:
        raise AssertionError("not used")

    def delete(self, handle: str) -> None:
        raise AssertionError("not used")

    def change_visibility(self, handle: str, timeout_s: int) -> None:
        raise AssertionError("not used")

    def dead_letter(self, message: ReceivedMessage) -> None:
        raise AssertionError("not used")

    def dead_letters(self, max_messages: int) -> list[ReceivedMessage]:
        return []

    def redrive(self, messages: list[ReceivedMessage]) -> int:
        return 0

    def depth(self) -> tuple[int, int]:
        return (0, 0)


@pytest.fixture
def rt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    monkeypatch.setattr(consumer, "IDLE_WAIT_S", WAIT_S)
    made = bootstrap(dev_settings(), SqliteStore(str(tmp_path / "ledger.db")))
    return replace(made, queue=FailsFirstReceive(made.stop))


def test_a_failed_poll_is_logged_waited_out_and_followed_by_the_next_long_poll(
        rt: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    (worker,) = start_local_workers(rt, 1)
    worker.join(10)
    assert not worker.is_alive(), "the worker never polled again after the failure"
    queue = rt.queue
    assert isinstance(queue, FailsFirstReceive)
    assert queue.waits == [WAIT_S, WAIT_S]  # each poll a long poll, the failed one too
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()
               if line.startswith("{")]
    (error,) = [r for r in records if r.get("event") == "local_consumer_error"]
    assert error["level"] == "ERROR"
    assert error["error"].startswith("injected: the queue is away xxx")
    # the reason cut to 500 characters, which the logger then caps saying how many
    assert error["error"].endswith(f"...(+{500 - MAX_LOGGED_CHARS} chars)")


def test_the_workers_are_daemon_threads_named_by_number(rt: Runtime) -> None:
    rt.stop.set()  # they stop at once: only what they are is looked at
    workers = start_local_workers(rt, 2)
    for worker in workers:
        worker.join(10)
    assert [(w.name, w.daemon) for w in workers] == [("ingest-consumer-0", True),
                                                     ("ingest-consumer-1", True)]
    assert not any(w.is_alive() for w in workers)  # the stop ends them


def test_without_a_count_the_settings_say_how_many_workers_start(rt: Runtime) -> None:
    rt.stop.set()
    settings = replace(rt.settings, queue=replace(rt.settings.queue, local_workers=3))
    workers = start_local_workers(replace(rt, settings=settings))
    for worker in workers:
        worker.join(10)
    assert len(workers) == 3
