"""Exactly once and exact money: random streams, replays, conflicts and many threads."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.adapters.sqlite.sqlite_store import SqliteStore
from chalicelib.domain.aggregates import BANK_KEY
from chalicelib.domain.model import Transaction
from chalicelib.domain.rules import RuleConfig
from chalicelib.errors import ServiceUnavailableError
from chalicelib.ports.store import CommitConflict, UnitOfWork, WritePlan
from chalicelib.support.backoff import Backoff
from chalicelib.usecases.analytics import Window, bank_analytics
from chalicelib.usecases.ledger import CONFLICT, CREATED, DUPLICATE, MAX_ATTEMPTS, ingest
from chalicelib.usecases.reconcile import find_drift
from tests.conftest import NOW, Api
from tests.support.factories import raw_tx

RULES = RuleConfig()
RUNS = itertools.count()

amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("20000"), places=2)
items = st.fixed_dictionaries({
    "id": st.sampled_from([f"t{i}" for i in range(12)]),
    "account": st.sampled_from(["A1", "A2", "B3"]),
    "amount": amounts.map(str),
    "type": st.sampled_from(["credit", "debit"]),
    "currency": st.sampled_from(["USD", "EUR"]),
    "timestamp": st.integers(0, 72).map(lambda h: f"2026-01-0{1 + h // 24}T{h % 24:02d}:00:00Z"),
})
streams = st.lists(st.lists(items, min_size=1, max_size=8), min_size=1, max_size=6)


@pytest.mark.slow  # 60 generated streams: seconds of CPU (make test runs it, make check not)
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=streams)
def test_aggregates_always_equal_a_recomputation(tmp_path: Path, batches: list[list[dict[str, str]]]
                                                 ) -> None:
    store = SqliteStore(str(tmp_path / f"run{next(RUNS)}.db"))  # a fresh store per example
    winners: dict[str, dict[str, str]] = {}  # the first content each id was sent with
    for batch in batches:
        results = ingest(store, "bank", batch, NOW, RULES)
        for raw, result in zip(batch, results, strict=True):
            expected = winners.setdefault(raw["id"], raw)
            same = (expected is raw or (Decimal(expected["amount"]) == Decimal(raw["amount"]) and
                    {k: v for k, v in expected.items() if k != "amount"}
                    == {k: v for k, v in raw.items() if k != "amount"}))
            assert result.status == (CREATED if expected is raw else
                                     DUPLICATE if same else CONFLICT)
    assert find_drift(store, "bank") == []
    bank = store.get_buckets("bank", [BANK_KEY])[BANK_KEY]
    assert bank.count == len(winners)
    for code, totals in bank.currencies.items():
        credits = [Decimal(w["amount"]) for w in winners.values()
                   if w["currency"] == code and w["type"] == "credit"]
        assert totals.credit_total == sum(credits, Decimal(0))
        assert totals.credit_count == len(credits)


def test_many_tenths_sum_to_the_exact_decimal_string(api: Api) -> None:
    batch = [raw_tx(f"c{i}", amount=0.10, account=f"A{i % 7}") for i in range(500)]
    body = json.dumps({"transactions": batch}, default=str).replace('"0.1"', "0.10")
    assert json.loads(api.post(body).body)["summary"]["created"] == 500
    usd = json.loads(api.get("/analytics").body)["totals"]["USD"]
    assert usd["credits"] == {"count": 500, "total": "50.00"}
    assert usd["net"] == "50.00"


def test_amount_never_passes_through_float(api: Api) -> None:
    # 0.1 + 0.2 in binary floating point is 0.30000000000000004
    api.post('{"transactions": [' + ",".join(
        json.dumps(raw_tx(i, amount="X")).replace('"X"', a)
        for i, a in (("p", "0.1"), ("q", "0.2"))) + "]}")
    assert json.loads(api.get("/analytics").body)["totals"]["USD"]["credits"]["total"] == "0.30"


def test_threads_replaying_the_same_ids_store_each_once(tmp_path: Path) -> None:
    path = str(tmp_path / "race.db")
    batch = [raw_tx(f"r{i}", account=f"A{i % 5}", amount=f"{i}.01") for i in range(40)]
    statuses: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def replay(offset: int) -> None:
        store = SqliteStore(path)  # its own connections, as chalice local's threads have
        barrier.wait()
        for start in range(0, 40, 10):
            chunk = batch[(start + offset * 10) % 40:][:10]
            results = ingest(store, "bank", chunk, NOW, RULES)
            with lock:
                statuses.extend(r.status for r in results)

    threads = [threading.Thread(target=replay, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store = SqliteStore(path)
    assert statuses.count(CREATED) == 40 and statuses.count(DUPLICATE) == 8 * 40 - 40
    bank = store.get_buckets("bank", [BANK_KEY])[BANK_KEY]
    assert bank.count == 40 and bank.accounts == 5
    assert bank.currencies["USD"].credit_total == sum(Decimal(f"{i}.01") for i in range(40))
    assert find_drift(store, "bank") == []
    analytics = bank_analytics(store, "bank", Window(), NOW)
    assert analytics["count"] == 40


def test_a_repeat_in_a_batch_is_judged_against_what_the_id_already_holds(
        tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "ledger.db"))
    ingest(store, "acme", [raw_tx("x", amount="10.00")], NOW, RuleConfig())
    results = ingest(store, "acme", [raw_tx("x", amount="20.00"), raw_tx("x", amount="10.00"),
                                     raw_tx("x", amount="30.00")], NOW, RuleConfig())
    # the leader clashes with the stored 10.00; the repeats are compared with that, not it
    assert [r.status for r in results] == [CONFLICT, DUPLICATE, CONFLICT]
    assert results[1].transaction is not None and results[1].transaction.amount == Decimal(
        "10.00")


class AlwaysLosesTheRace(SqliteStore):
    """Every commit finds another writer got there first."""

    @contextmanager
    def unit_of_work(self, bank: str) -> Iterator[UnitOfWork]:
        with super().unit_of_work(bank) as uow:
            def lose(plan: WritePlan) -> None:
                raise CommitConflict("another writer got there first")

            uow.commit = lose  # type: ignore[method-assign]
            yield uow


def test_a_write_that_keeps_losing_the_race_is_a_503_to_retry_in_a_second(
        tmp_path: Path) -> None:
    store = AlwaysLosesTheRace(str(tmp_path / "ledger.db"))
    pauses: list[float] = []
    backoff = Backoff(0.005, 0.64, sleep=pauses.append, random=lambda: 1.0)
    with pytest.raises(ServiceUnavailableError) as refused:
        ingest(store, "acme", [raw_tx("x")], NOW, RuleConfig(), backoff)
    assert refused.value.message == "too many concurrent writers; retry the request"
    assert refused.value.headers == {"Retry-After": "1"}
    assert len(pauses) == MAX_ATTEMPTS  # it tried that often, pausing after each loss
    assert store.get_transaction("acme", "x") is None


class MaximaKeepMoving(SqliteStore):
    """The first commit writes the whole plan, then reports a conflict listing what it wrote: a
    chunked store's (DynamoDB's) commit whose last step, the maxima, kept losing the race."""

    conflicts = 1

    @contextmanager
    def unit_of_work(self, bank: str) -> Iterator[UnitOfWork]:
        written: list[Transaction] = []
        with super().unit_of_work(bank) as uow:
            commit = uow.commit

            def commit_and_note(plan: WritePlan) -> None:
                commit(plan)
                written.extend(plan.transactions)

            uow.commit = commit_and_note  # type: ignore[method-assign]
            yield uow
        if written and self.conflicts:  # raised once the writes are committed
            self.conflicts -= 1
            raise CommitConflict("maxima kept moving; read again", written)


def test_what_a_conflicting_commit_says_it_wrote_is_created_not_read_back_as_duplicate(
        tmp_path: Path) -> None:
    store = MaximaKeepMoving(str(tmp_path / "ledger.db"))
    results = ingest(store, "acme", [raw_tx("x", amount="10.00"), raw_tx("y", amount="20.00")],
                     NOW, RuleConfig(), Backoff(0.001, 0.001, sleep=lambda _: None))
    assert [(r.id, r.status) for r in results] == [("x", CREATED), ("y", CREATED)]
    assert [r.transaction for r in results] == [store.get_transaction("acme", i) for i in "xy"]
    assert store.conflicts == 0  # the conflict happened, and the retry wrote nothing more


class CountsSuppressionReads(SqliteStore):
    """Counts the accounts each read of suppressions asked for."""

    asked: list[list[str]]

    @contextmanager
    def unit_of_work(self, bank: str) -> Iterator[UnitOfWork]:
        with super().unit_of_work(bank) as uow:
            read = uow.get_suppressions

            def counted(accounts: list[str]) -> Any:
                self.asked.append(sorted(accounts))
                return read(accounts)

            uow.get_suppressions = counted  # type: ignore[method-assign]
            yield uow


def test_suppressions_are_read_only_for_the_accounts_of_flagged_transactions(
        tmp_path: Path) -> None:
    store = CountsSuppressionReads(str(tmp_path / "ledger.db"))
    store.asked = []
    ingest(store, "acme", [raw_tx("small", amount="10.00")], NOW, RULES)
    assert store.asked == []  # nothing flagged: no suppression can apply, none read
    ingest(store, "acme", [raw_tx("big", account="A1", amount="50000.00"),
                           raw_tx("tiny", account="B2", amount="1.00")], NOW, RULES)
    assert store.asked == [["A1"]]
