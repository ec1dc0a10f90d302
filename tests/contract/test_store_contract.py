"""The storage contract: every adapter in tests/support/stores.py must pass every test here."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.aggregates import ACCOUNT, BANK_KEY, HOUR, AggKey, Bucket, deltas_for
from chalicelib.domain.model import Transaction
from chalicelib.domain.rules import AccountState, RuleConfig
from chalicelib.domain.timeutil import sort_key
from chalicelib.ports.store import ApiKeyRecord, CommitConflict, Store, WritePlan
from chalicelib.usecases.ledger import CONFLICT, CREATED, DUPLICATE, ingest
from chalicelib.usecases.reconcile import find_drift, recompute, repair
from tests.conftest import NOW
from tests.support.factories import raw_tx, tx

RULES = RuleConfig()
T0 = datetime(2026, 1, 10, 14, tzinfo=UTC)


def commit(store: Store, bank: str, *txs: Transaction) -> None:
    """Write transactions as given (flags included) through one unit of work."""
    accepted = list(txs)
    with store.unit_of_work(bank) as uow:
        states = uow.get_account_states(sorted({t.account for t in accepted}))
        uow.commit(WritePlan(accepted, deltas_for(accepted), states, rules=RuleConfig()))


def test_unknown_transaction_is_none(store: Store) -> None:
    assert store.get_transaction("b1", "nope") is None


def test_committed_transaction_reads_back_with_flags(store: Store) -> None:
    original = tx("t1", amount="12000.00", flags=("large_amount",))
    commit(store, "b1", original)
    assert store.get_transaction("b1", "t1") == original
    with store.unit_of_work("b1") as uow:
        assert uow.get_transactions(["t1", "t2"]) == {"t1": original}


def test_commit_applies_deltas_to_bank_hour_and_account_buckets(store: Store) -> None:
    commit(store, "b1", tx("t1", amount="1.10"), tx("t2", amount="2.20", kind="debit"))
    commit(store, "b1", tx("t3", amount="3.30", account="B9"))
    hour = AggKey(HOUR, "2026-01-10T14")
    found = store.get_buckets("b1", [BANK_KEY, hour, AggKey(ACCOUNT, "A123"),
                                     AggKey(ACCOUNT, "missing")])
    assert set(found) == {BANK_KEY, hour, AggKey(ACCOUNT, "A123")}
    usd = found[BANK_KEY].currencies["USD"]
    assert found[BANK_KEY].count == 3
    assert (str(usd.credit_total), str(usd.debit_total)) == ("4.40", "2.20")
    assert usd.max is not None and usd.max.id == "t3"
    assert found[AggKey(ACCOUNT, "A123")].count == 2


def test_taken_id_is_a_commit_conflict_and_writes_nothing(store: Store) -> None:
    commit(store, "b1", tx("t1"))
    with pytest.raises(CommitConflict):
        commit(store, "b1", tx("t1", amount="99.00"))
    assert store.get_transaction("b1", "t1") == tx("t1")
    assert store.get_buckets("b1", [BANK_KEY])[BANK_KEY].count == 1


def test_stale_account_state_is_a_commit_conflict(store: Store) -> None:
    commit(store, "b1", tx("t1"))
    stale = {"A123": AccountState((), version=0)}
    with pytest.raises(CommitConflict), store.unit_of_work("b1") as uow:
        uow.commit(WritePlan([tx("t2")], deltas_for([tx("t2")]), stale, rules=RuleConfig()))
    assert store.get_transaction("b1", "t2") is None
    assert store.get_buckets("b1", [BANK_KEY])[BANK_KEY].count == 1


def test_account_state_round_trips_with_a_new_version(store: Store) -> None:
    ingest(store, "b1", [raw_tx("t1"), raw_tx("t2", amount="5")], NOW, RULES)
    with store.unit_of_work("b1") as uow:
        state = uow.get_account_states(["A123", "other"])
    assert state["other"] == AccountState()
    assert state["A123"].version >= 1 and len(state["A123"].seen) == 2


def test_hour_buckets_cover_the_inclusive_range(store: Store) -> None:
    commit(store, "b1", *[tx(f"t{h}", at=T0 + timedelta(hours=h)) for h in range(4)])
    assert len(store.get_hour_buckets("b1", "2026-01-10T15", "2026-01-10T16")) == 2
    assert len(store.get_hour_buckets("b1", "0000", "9999")) == 4


def test_recent_flagged_is_newest_first_within_window_and_limit(store: Store) -> None:
    flagged = [tx(f"f{i}", at=T0 + timedelta(minutes=i), flags=("velocity",)) for i in range(5)]
    commit(store, "b1", tx("plain", at=T0 + timedelta(minutes=9)), *flagged)
    assert [t.id for t in store.recent_flagged("b1", None, None, 3)] == ["f4", "f3", "f2"]
    since = sort_key("2026-01-10T14:01:00Z")
    until = sort_key("2026-01-10T14:03:00Z")
    assert [t.id for t in store.recent_flagged("b1", since, until, 20)] == ["f2", "f1"]


def test_account_history_pages_newest_first_without_gaps(store: Store) -> None:
    commit(store, "b1", *[tx(f"t{i}", at=T0 + timedelta(minutes=i % 3)) for i in range(7)],
           tx("elsewhere", account="B2"))
    seen: list[str] = []
    after = None
    while True:
        page = store.account_transactions("b1", "A123", 3, after)
        seen += [t.id for t in page]
        if len(page) < 3:
            break
        after = (sort_key(page[-1].timestamp_text), page[-1].id)
    assert seen == ["t5", "t2", "t4", "t1", "t6", "t3", "t0"]


def test_a_long_history_with_backdated_transactions_pages_in_time_order(store: Store) -> None:
    # long ids and many commits: on DynamoDB the pointers overflow the account item into
    # history pages; then backdated transactions land inside the pages' ranges
    made = []
    for n in range(12):
        batch = [tx(f"{'x' * 40}-{n:02d}-{k}", at=T0 + timedelta(minutes=10 * n + k))
                 for k in range(5)]
        commit(store, "b1", *batch)
        made += batch
    for n in range(6):
        late = [tx(f"late-{n}-{k}", at=T0 + timedelta(minutes=17 * n + k, seconds=30))
                for k in range(3)]
        commit(store, "b1", *late)
        made += late
    want = [t.id for t in sorted(made, key=lambda t: (sort_key(t.timestamp_text), t.id),
                                 reverse=True)]
    seen: list[str] = []
    after = None
    while True:
        page = store.account_transactions("b1", "A123", 7, after)
        seen += [t.id for t in page]
        if len(page) < 7:
            break
        after = (sort_key(page[-1].timestamp_text), page[-1].id)
    assert seen == want


def test_banks_are_isolated_and_share_ids_independently(store: Store) -> None:
    commit(store, "b1", tx("same", amount="1.00"))
    commit(store, "b2", tx("same", amount="2.00"))
    assert store.get_transaction("b1", "same") == tx("same", amount="1.00")
    assert store.get_transaction("b2", "same") == tx("same", amount="2.00")
    assert store.account_transactions("b2", "A123", 10, None) == [tx("same", amount="2.00")]
    assert [t.id for t in store.iter_transactions("b1")] == ["same"]
    assert store.banks() == ["b1", "b2"]


def test_ingest_stores_each_id_once_and_classifies_replays(store: Store) -> None:
    first = ingest(store, "b1", [raw_tx("a"), raw_tx("b", amount="7.5")], NOW, RULES)
    again = ingest(store, "b1", [raw_tx("a"), raw_tx("b", amount="8"), raw_tx("c")], NOW, RULES)
    assert [r.status for r in first] == [CREATED, CREATED]
    assert [r.status for r in again] == [DUPLICATE, CONFLICT, CREATED]
    bank = store.get_buckets("b1", [BANK_KEY])[BANK_KEY]
    assert bank.count == 3 and bank.accounts == 1
    assert str(bank.currencies["USD"].credit_total) == "27.50"


def test_reconcile_finds_no_drift_after_ingest_and_repairs_tampering(store: Store) -> None:
    ingest(store, "b1", [raw_tx(f"t{i}", account=f"A{i % 3}", amount=f"{i}.25") for i in
                         range(1, 8)], NOW, RULES)
    assert find_drift(store, "b1") == []
    store.replace_buckets("b1", {BANK_KEY: Bucket(count=99)}, [AggKey(ACCOUNT, "A1")])
    drift = find_drift(store, "b1")
    assert {d.key for d in drift} == {BANK_KEY, AggKey(ACCOUNT, "A1")}
    repair(store, "b1", drift)
    assert find_drift(store, "b1") == []
    assert dict(store.iter_buckets("b1")).keys() == recompute(store.iter_transactions("b1")).keys()


def test_api_keys_are_found_by_hash_listed_per_bank_and_revoked(store: Store) -> None:
    store.put_api_key(ApiKeyRecord("h1", "b1", "k1", "2026-01-01T00:00:00Z"))
    store.put_api_key(ApiKeyRecord("h2", "b2", "k2", "2026-01-01T00:00:00Z"))
    assert store.find_api_key("h1") == ApiKeyRecord("h1", "b1", "k1", "2026-01-01T00:00:00Z")
    assert store.find_api_key("nope") is None
    assert [r.key_id for r in store.list_api_keys("b1")] == ["k1"]
    assert store.revoke_api_key("b2", "k1") is False
    assert store.revoke_api_key("b1", "k1") is True
    found = store.find_api_key("h1")
    assert found is not None and found.revoked


def test_ping_answers(store: Store) -> None:
    store.ping()
    assert store.name in ("sqlite", "dynamodb")


@pytest.mark.parametrize(("winner", "loser"), [
    (tx("m1", amount="500.00", at=T0), tx("m2", amount="500.00", at=T0 + timedelta(seconds=1))),
    (tx("m1", amount="500.00", at=T0), tx("m2", amount="500.00", at=T0)),
    (tx("z9", amount="500.00", at=T0 + timedelta(microseconds=1)),  # time beats the id
     tx("a1", amount="500.00", at=T0 + timedelta(microseconds=2))),
], ids=["earlier-time", "smaller-id", "time-before-id"])
@pytest.mark.parametrize("winner_first", [True, False])
def test_largest_transaction_ties_are_settled_alike_in_either_arrival_order(
        store: Store, winner: Transaction, loser: Transaction, winner_first: bool) -> None:
    first, second = (winner, loser) if winner_first else (loser, winner)
    second = replace(second, account="B2")  # another account, in a write of its own
    commit(store, "b1", first)
    commit(store, "b1", second)
    hour = AggKey(HOUR, "2026-01-10T14")
    found = store.get_buckets("b1", [BANK_KEY, hour])
    for key in (BANK_KEY, hour):
        top = found[key].currencies["USD"].max
        assert top is not None and (top.id, top.timestamp) == (winner.id, winner.timestamp_text)
    bucket = Bucket()
    for item in (first, second):
        bucket.add(item)
    assert bucket.currencies["USD"].max == found[BANK_KEY].currencies["USD"].max
