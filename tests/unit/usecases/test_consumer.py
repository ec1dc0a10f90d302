"""The consumer's redelivery pause: full jitter on a doubling from 2 s, capped at 60 s, in
whole seconds and never under 1 s (a visibility timeout of 0 would redeliver at once)."""

from __future__ import annotations

import pytest

from chalicelib.support.backoff import Backoff
from chalicelib.usecases.consumer import BACKOFF_BASE_S, BACKOFF_CAP_S, backoff_s


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
