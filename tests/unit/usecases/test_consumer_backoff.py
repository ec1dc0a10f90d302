"""The consumer's redelivery backoff: full jitter under an exponential ceiling, at least 1 s
(pins mutmut's survivors of `backoff_s`)."""

from __future__ import annotations

import random

import pytest

from chalicelib.usecases.consumer import BACKOFF_BASE_S, BACKOFF_CAP_S, backoff_s


def test_the_first_retries_wait_one_second_at_least_and_at_most_the_ceiling(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(random, "uniform", lambda low, high: low)  # the jitter's low end
    assert [backoff_s(n) for n in (0, 1, 5, 30)] == [1, 1, 1, 1]
    monkeypatch.setattr(random, "uniform", lambda low, high: high)  # and its high end
    assert [backoff_s(n) for n in (0, 1, 2, 3, 5, 6, 30)] == [
        1, BACKOFF_BASE_S, BACKOFF_BASE_S**2, BACKOFF_BASE_S**3, BACKOFF_BASE_S**5,
        BACKOFF_CAP_S, BACKOFF_CAP_S]


def test_the_jitter_spans_zero_to_the_ceiling(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        asked.append((low, high))
        return 0.0

    monkeypatch.setattr(random, "uniform", uniform)
    backoff_s(4)
    assert asked == [(0, BACKOFF_BASE_S**4)]
