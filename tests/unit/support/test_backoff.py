"""The one backoff helper: capped exponential, full jitter, no real waiting in tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from chalicelib.adapters.sqlite.sqlite_store import SqliteStore
from chalicelib.domain.rules import RuleConfig
from chalicelib.ports.store import CommitConflict, UnitOfWork, WritePlan
from chalicelib.support.backoff import Backoff
from chalicelib.usecases.ledger import ingest
from tests.conftest import NOW
from tests.support.factories import raw_tx


def test_pause_is_a_random_fraction_of_the_capped_exponential() -> None:
    slept: list[float] = []
    backoff = Backoff(0.01, 0.05, sleep=slept.append, random=lambda: 0.5)
    for attempt in range(5):
        backoff.pause(attempt)
    assert slept == pytest.approx([0.005, 0.01, 0.02, 0.025, 0.025])


@pytest.mark.parametrize("fraction", [0.0, 0.999999])
def test_full_jitter_spans_zero_to_the_cap(fraction: float) -> None:
    backoff = Backoff(1.0, 4.0, sleep=lambda s: None, random=lambda: fraction)
    assert 0 <= backoff.delay(10) <= 4.0
    assert backoff.delay(10) == pytest.approx(4.0 * fraction)


def test_ingest_pauses_with_the_injected_backoff_after_each_lost_race(tmp_path: Path) -> None:
    class Racy(SqliteStore):
        """Loses the first two commits to an imaginary concurrent writer."""

        losses = 2

        @contextmanager
        def unit_of_work(self, bank: str) -> Iterator[UnitOfWork]:
            with super().unit_of_work(bank) as uow:
                if self.losses:
                    self.losses -= 1
                    real = uow.commit

                    def lose(plan: WritePlan) -> None:
                        real(WritePlan(rules=RuleConfig()))  # reads done, nothing written
                        raise CommitConflict("a concurrent writer got there first")
                    uow.commit = lose  # type: ignore[method-assign]
                yield uow

    slept: list[float] = []
    store = Racy(str(tmp_path / "ledger.db"))
    results = ingest(store, "acme", [raw_tx("r1")], NOW, RuleConfig(),
                     Backoff(0.005, 0.64, sleep=slept.append, random=lambda: 1.0))
    assert [r.status for r in results] == ["created"]
    assert slept == pytest.approx([0.005, 0.01])
