"""The consumer's rules: the redelivery pause (full jitter on a doubling from 2 s, capped at 60 s,
in whole seconds and never under 1 s: a visibility timeout of 0 would redeliver at once), and the
FIFO rule of a delivered batch (a failed message stops its group; on the last allowed delivery
the failed message and the siblings skipped behind it are all settled as given up)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from chalicelib.ports.queue import ReceivedMessage
from chalicelib.support.backoff import Backoff
from chalicelib.usecases.consumer import (
    BACKOFF_BASE_S,
    BACKOFF_CAP_S,
    backoff_s,
    handle_batch,
)


@pytest.mark.parametrize(("receive_count", "most"),
                         [(1, 2), (2, 4), (3, 8), (5, 32), (6, 60), (40, 60)])
def test_a_failed_message_comes_back_within_the_capped_doubling_and_after_at_least_1_s(
        receive_count: int, most: int) -> None:
    seen = {backoff_s(receive_count) for _ in range(300)}
    assert seen <= set(range(1, most + 1))
    assert most <= BACKOFF_CAP_S
    if most >= 8:  # jittered: not one fixed pause (300 draws miss a spread of 8 with ~0 odds)
        assert len(seen) > 1


@pytest.mark.parametrize(("fraction", "pauses"), [
    (0.999999, [1, 3, 7, 15, 31, 59, 59]),  # 2, 4, 8 ... 60 s, the top never quite reached
    (0.5, [1, 2, 4, 8, 16, 30, 30]),
    (0.0, [1, 1, 1, 1, 1, 1, 1]),  # never 0: the message would come straight back
])
def test_the_redelivery_pause_is_the_backoff_s_full_jitter_in_whole_seconds(
        fraction: float, pauses: list[int]) -> None:
    jitter = Backoff(BACKOFF_BASE_S, BACKOFF_CAP_S, random=lambda: fraction)
    assert [backoff_s(receives, jitter) for receives in range(1, 8)] == pauses


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
