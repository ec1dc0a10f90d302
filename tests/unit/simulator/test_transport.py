"""The simulator's client pauses between retries: full jitter from its own seeded generator,
raised to the server's Retry-After (capped) when one is given."""

from __future__ import annotations

import random

import pytest

from simulator.transport import (
    BACKOFF_BASE_S,
    BACKOFF_CAP_S,
    RETRY_AFTER_CAP_S,
    Client,
    parse_url,
)

ENDPOINT = parse_url("http://127.0.0.1:9")  # never connected: backoff needs no server


def test_the_pause_is_a_fraction_from_the_seeded_generator_of_the_capped_exponential() -> None:
    client = Client(ENDPOINT, "key", seed=7)
    draws = random.Random(7)
    for attempt in range(8):
        expected = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** attempt) * draws.random()
        assert client.backoff(attempt, None) == pytest.approx(expected, abs=1e-12)


def test_the_same_seed_gives_the_same_pauses_and_every_pause_is_within_the_cap() -> None:
    first, second = Client(ENDPOINT, "key", seed=3), Client(ENDPOINT, "key", seed=3)
    pauses = [first.backoff(a, None) for a in range(12)]
    assert pauses == [second.backoff(a, None) for a in range(12)]
    assert all(0 <= p <= BACKOFF_CAP_S for p in pauses)


@pytest.mark.parametrize(("retry_after", "least"),
                         [("3", 3.0), (" 4 ", 4.0), ("600", RETRY_AFTER_CAP_S)])
def test_a_retry_after_raises_the_pause_up_to_its_cap(retry_after: str, least: float) -> None:
    assert Client(ENDPOINT, "key", seed=1).backoff(0, retry_after) == least


@pytest.mark.parametrize("retry_after", ["", "soon", "-1", "1.5",
                                         "Wed, 21 Oct 2026 07:28:00 GMT"])
def test_a_retry_after_that_is_not_whole_seconds_is_ignored(retry_after: str) -> None:
    assert Client(ENDPOINT, "key", seed=1).backoff(0, retry_after) <= BACKOFF_BASE_S
