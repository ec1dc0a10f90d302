"""`handle_batch`: a failed message is logged (which, how often, why, capped) and, at its last
receive, handed to `give_up` with the reason; a failing `give_up` is logged too (pins mutmut's
survivors: the log lines were never read by a test); so are a message kept because it has
written and one moved to the dead letters."""

from __future__ import annotations

import json

import pytest

from chalicelib.observability import MAX_LOGGED_CHARS
from chalicelib.ports.queue import ReceivedMessage
from chalicelib.usecases.consumer import handle_batch
from chalicelib.usecases.ingest_async import HalfApplied


def message(receive_count: int) -> ReceivedMessage:
    return ReceivedMessage("m-1", "g-1", "{}", receive_count, "h-1")


def fail(_: ReceivedMessage) -> None:
    raise KeyError("x" * 1000)


def lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_a_failure_is_logged_with_the_message_its_receive_count_and_a_capped_reason(
        capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    outcome = handle_batch([message(1)], fail, 3, lambda m, why: None)
    assert outcome.failed_ids() == ["m-1"]
    (line,) = lines(capsys)
    assert (line["level"], line["event"], line["message_id"], line["receive_count"]) == (
        "ERROR", "ingest_message_failed", "m-1", 1)
    assert isinstance(line["error"], str) and line["error"].startswith("KeyError: ")
    # the reason is cut to 500 characters, which the logger then caps at 256 saying how many
    assert line["error"].endswith(f"(+{500 - MAX_LOGGED_CHARS} chars)")


def test_the_last_receive_gives_up_with_the_attempts_and_the_reason(
        capsys: pytest.CaptureFixture[str]) -> None:
    given: list[str] = []
    handle_batch([message(3)], fail, 3, lambda m, why: given.append(why))
    (why,) = given
    assert why.startswith("moved to the dead-letter queue after 3 attempts (KeyError: ")
    assert len(why) == len("moved to the dead-letter queue after 3 attempts ()") + 200


def test_a_give_up_that_fails_is_logged_not_raised(capsys: pytest.CaptureFixture[str]) -> None:
    def broken(m: ReceivedMessage, why: str) -> None:
        raise OSError("y" * 1000)

    capsys.readouterr()
    outcome = handle_batch([message(5)], fail, 3, broken)
    assert outcome.failed_ids() == ["m-1"]
    first, second = lines(capsys)
    assert first["event"] == "ingest_message_failed"
    assert (second["level"], second["event"], second["message_id"]) == (
        "ERROR", "ingest_give_up_failed", "m-1")
    assert isinstance(second["error"], str) and second["error"].startswith("yyy")
    assert second["error"].endswith(f"(+{500 - MAX_LOGGED_CHARS} chars)")


def without_time(line: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in line.items() if k != "timestamp"}


def test_a_message_that_has_written_is_logged_as_kept_with_its_receive_count(
        capsys: pytest.CaptureFixture[str]) -> None:
    def half(_: ReceivedMessage) -> None:
        raise HalfApplied("crash after the records")

    capsys.readouterr()
    outcome = handle_batch([message(7)], half, 3, lambda m, why: None)
    assert outcome.failed_ids() == ["m-1"]
    failed, kept = lines(capsys)
    assert failed["event"] == "ingest_message_failed"
    assert without_time(kept) == {"level": "ERROR", "event": "ingest_message_half_applied",
                                  "message_id": "m-1", "receive_count": 7}


def test_a_message_given_up_is_logged_as_dead_lettered_with_the_attempts_and_why(
        capsys: pytest.CaptureFixture[str]) -> None:
    given: list[str] = []
    capsys.readouterr()
    outcome = handle_batch([message(3)], fail, 3, lambda m, why: given.append(why))
    assert outcome.failed_ids() == []  # in the dead letters: not delivered again
    failed, dead = lines(capsys)
    assert failed["event"] == "ingest_message_failed"
    assert without_time(dead) == {"level": "WARNING", "event": "ingest_dead_lettered",
                                  "message_id": "m-1", "receive_count": 3, "error": given[0]}
