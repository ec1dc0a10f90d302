"""The FIFO rule of a delivered batch: a failed message stops its group; on the last allowed
delivery the failed message and the siblings skipped behind it are all settled as given up."""

from __future__ import annotations

from collections.abc import Callable

from chalicelib.ports.queue import ReceivedMessage
from chalicelib.usecases.consumer import handle_batch


def message(n: int, group: str, receives: int) -> ReceivedMessage:
    return ReceivedMessage(str(n), group, f"body{n}", receives, f"h{n}")


def fail_on(bad: set[str]) -> Callable[[ReceivedMessage], None]:
    def handle(m: ReceivedMessage) -> None:
        if m.message_id in bad:
            raise RuntimeError("down")
    return handle


def test_on_the_last_delivery_the_skipped_siblings_are_given_up_too() -> None:
    batch = [message(1, "g", 3), message(2, "g", 3), message(3, "h", 3)]
    given_up: list[str] = []
    outcome = handle_batch(batch, fail_on({"1"}), 3,
                           lambda m, why: given_up.append(m.message_id))
    assert [m.message_id for m in outcome.failed] == ["1"]
    assert [m.message_id for m in outcome.skipped] == ["2"]
    assert [m.message_id for m in outcome.done] == ["3"]
    assert given_up == ["1", "2"]


def test_before_the_last_delivery_nothing_is_given_up() -> None:
    batch = [message(1, "g", 2), message(2, "g", 2)]
    given_up: list[str] = []
    handle_batch(batch, fail_on({"1"}), 3,
                 lambda m, why: given_up.append(m.message_id))
    assert given_up == []
