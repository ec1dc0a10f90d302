"""The consumer's rules: the redelivery pause (full jitter on a doubling from 2 s, capped at 60 s,
in whole seconds and never under 1 s: a visibility timeout of 0 would redeliver at once), and the
FIFO rule of a delivered batch (a failed message stops its group; on its last allowed delivery a
message that failed before writing is given up, never the siblings skipped behind it nor one that
has written); past 100 receives a message comes back every 15 minutes, so a message that has
written reaches the queue's backstop after days, before the queue's retention forgets it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from chalicelib.ports.queue import BACKSTOP_RECEIVES, ReceivedMessage
from chalicelib.support.backoff import Backoff
from chalicelib.usecases.consumer import (
    BACKOFF_BASE_S,
    BACKOFF_CAP_S,
    PATIENT_BACKOFF_S,
    backoff_s,
    handle_batch,
)
from chalicelib.usecases.ingest_async import HalfApplied

TEMPLATE = Path(__file__).resolve().parents[3] / "infra" / "resources.json"
DAY_S = 86400


@pytest.mark.parametrize(("receive_count", "most"),
                         [(1, 2), (2, 4), (3, 8), (5, 32), (6, 60), (40, 60),
                          (100, 60)])  # the 100th receive is not yet patient
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


def test_on_the_last_delivery_the_failed_message_is_given_up_and_not_its_skipped_siblings(
        ) -> None:
    batch = [message(1, "g", 3), message(2, "g", 3), message(3, "h", 3)]
    given_up: list[str] = []
    outcome = handle_batch(batch, fail_on({"1"}), 3,
                           lambda m, why: given_up.append(m.message_id))
    assert [m.message_id for m in outcome.failed] == ["1"]
    assert [m.message_id for m in outcome.skipped] == ["2"]
    assert [m.message_id for m in outcome.done] == ["3"]
    assert given_up == ["1"]  # the sibling did not fail: it goes on once "1" has gone
    assert [m.message_id for m in outcome.dead] == ["1"]
    assert outcome.failed_ids() == ["2"]  # "1" is in the dead letters: not delivered again


def test_before_the_last_delivery_nothing_is_given_up() -> None:
    batch = [message(1, "g", 2), message(2, "g", 2)]
    given_up: list[str] = []
    outcome = handle_batch(batch, fail_on({"1"}), 3,
                           lambda m, why: given_up.append(m.message_id))
    assert given_up == [] and outcome.dead == []
    assert outcome.failed_ids() == ["1", "2"]


def test_a_message_that_has_written_is_never_given_up_whatever_its_receive_count() -> None:
    def half(m: ReceivedMessage) -> None:
        raise HalfApplied("crash after the records")

    given_up: list[str] = []
    outcome = handle_batch([message(1, "g", 999)], half, 3,
                           lambda m, why: given_up.append(m.message_id))
    assert given_up == [] and outcome.dead == []
    assert [m.message_id for m in outcome.held] == ["1"]
    assert outcome.failed_ids() == ["1"]


def test_a_give_up_that_finds_the_message_has_written_keeps_it() -> None:
    def finds_writes(m: ReceivedMessage, why: str) -> None:
        raise HalfApplied("a record carries its token")  # an earlier delivery wrote

    outcome = handle_batch([message(1, "g", 5)], fail_on({"1"}), 3, finds_writes)
    assert outcome.dead == [] and [m.message_id for m in outcome.held] == ["1"]
    assert outcome.failed_ids() == ["1"]


@pytest.mark.parametrize("receive_count", [101, 500, BACKSTOP_RECEIVES])
def test_a_message_failing_past_100_receives_comes_back_every_15_minutes(
        receive_count: int) -> None:
    assert backoff_s(receive_count) == PATIENT_BACKOFF_S == 900


def test_a_held_message_reaches_the_backstop_after_days_and_before_the_queue_forgets_it(
        ) -> None:
    resources = json.loads(TEMPLATE.read_text())["Resources"]
    queue = resources["IngestQueue"]["Properties"]
    backstop = queue["RedrivePolicy"]["maxReceiveCount"]
    assert backstop == BACKSTOP_RECEIVES == 1000  # SQS's highest
    timeout_s = resources["ConsumeIngest"]["Properties"]["Timeout"]
    # the pauses between its receives, the jitter at both ends
    soonest = sum(backoff_s(n, Backoff(BACKOFF_BASE_S, BACKOFF_CAP_S, random=lambda: 0.0))
                  for n in range(1, backstop + 1))
    latest = sum(backoff_s(n, Backoff(BACKOFF_BASE_S, BACKOFF_CAP_S, random=lambda: 0.999999))
                 for n in range(1, backstop + 1))
    assert 9.3 * DAY_S < soonest < latest < 9.5 * DAY_S  # days to mend the cause (docs)
    # every delivery running the consumer's whole timeout still leaves it inside retention
    assert latest + backstop * timeout_s < queue["MessageRetentionPeriod"]
