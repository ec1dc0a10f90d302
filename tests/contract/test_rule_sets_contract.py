"""Rule sets and flag evidence: every store in tests/support/stores.py must pass these."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chalicelib.bootstrap import open_replay_jobs
from chalicelib.config import Settings
from chalicelib.domain.rule_set_input import parse_rule_set
from chalicelib.domain.rule_sets import RuleSet, evaluate_set, remember
from chalicelib.domain.rules import AccountState, RuleConfig
from chalicelib.domain.timeutil import sort_key
from chalicelib.ports.store import ReplayJobStore, RuleSetRecord, Store
from chalicelib.usecases.ledger import ingest
from chalicelib.usecases.rules_admin import MAX_IDS
from tests.conftest import NOW
from tests.support.factories import raw_tx

CFG = RuleConfig()
RULES: list[dict[str, Any]] = [
    {"name": "unusual", "builtin": "unusual_amount", "params": {"z": "2", "min_history": 5}},
    {"name": "night", "when": "hour < 6 and amount >= 100.10"},
    {"name": "big", "builtin": "large_amount", "params": {"amount": "900"}}]


def record(version: int, by: str = "key:ab12") -> RuleSetRecord:
    return RuleSetRecord("b1", version, f"2026-01-10T1{version}:00:00Z", by, RULES)


def test_a_bank_without_a_set_has_none(store: Store) -> None:
    assert store.get_rule_set("b1") is None
    assert store.get_rule_set("b1", 1) is None


def test_every_version_is_kept_with_who_and_when(store: Store) -> None:
    assert store.put_rule_set(record(1, "key:ab12"))
    assert store.put_rule_set(record(2, "user:5f0c"))
    assert store.get_rule_set("b1") == record(2, "user:5f0c")
    assert store.get_rule_set("b1", 1) == record(1, "key:ab12")
    assert store.get_rule_set("b2") is None  # another bank sees nothing


def test_a_version_is_written_once(store: Store) -> None:
    assert store.put_rule_set(record(1, "key:first"))
    assert not store.put_rule_set(record(1, "key:second"))
    assert store.get_rule_set("b1", 1) == record(1, "key:first")


def _rule_set() -> RuleSet:
    return RuleSet(7, parse_rule_set({"rules": RULES}, CFG))


def test_flags_keep_their_evidence_everywhere_a_transaction_is_read(store: Store) -> None:
    items = [raw_tx(f"n{i}", amount="150.00", timestamp=f"2026-01-10T0{i}:00:00Z")
             for i in range(3)]
    ingest(store, "b1", items, NOW, _rule_set())
    stored = store.get_transaction("b1", "n0")
    assert stored is not None and stored.flags == ("night",)
    (detail,) = stored.flag_details
    assert detail.to_json() == {"rule": "night", "version": 7, "evidence": {
        "amount": "150.00", "hour": "0", "when": "hour < 6 and amount >= 100.10"}}
    assert store.account_transactions("b1", "A123", 10, None)[-1] == stored
    assert store.recent_flagged("b1", None, None, 10)[-1] == stored


def test_the_statistical_rule_decides_exactly_as_the_domain_does(store: Store) -> None:
    """Ingest in several batches (state stored and read back between them) and compare with
    the pure evaluation of the same sequence in memory: the same flags, evidence and state."""
    rule_set = _rule_set()
    amounts = ["10.00", "12.50", "9.99", "11.01", "10.00", "10.50", "55.55", "10.25", "97.00"]
    items = [raw_tx(f"s{i}", amount=a, timestamp=f"2026-01-10T1{i}:00:00Z")
             for i, a in enumerate(amounts)]
    for start in range(0, len(items), 3):
        ingest(store, "b1", items[start:start + 3], NOW, rule_set)
    state, expected = AccountState(), []
    for item in items:
        tx = store.get_transaction("b1", item["id"])
        assert tx is not None
        outcome = evaluate_set(tx, state, rule_set)
        expected.append((tx.id, outcome.flags, outcome.details))
        state = remember(state, tx, rule_set)
    got = [(t.id, t.flags, t.flag_details) for t in
           (store.get_transaction("b1", str(i["id"])) for i in items) if t is not None]
    assert got == expected
    assert ("s6", ("unusual",)) in [(i, f) for i, f, _ in got]
    with store.unit_of_work("b1") as uow:
        stored_state = uow.get_account_states(["A123"])["A123"]
    assert stored_state.stats == state.stats and stored_state.first == state.first


def test_transactions_between_reads_a_window_of_the_bank(store: Store) -> None:
    items = [raw_tx(f"w{i}", timestamp=f"2026-01-10T1{i}:00:00Z") for i in range(5)]
    ingest(store, "b1", items, NOW, CFG)
    ingest(store, "b2", [raw_tx("other", timestamp="2026-01-10T12:00:00Z")], NOW, CFG)
    found = store.transactions_between("b1", sort_key("2026-01-10T11:00:00Z"),
                                       sort_key("2026-01-10T13:00:00Z"))
    assert sorted(t.id for t in found) == ["w1", "w2"]


def test_a_window_read_keeps_each_transactions_content_and_flags(store: Store) -> None:
    items = [raw_tx("big", amount="20000.50", currency="USD",
                    description="rent", merchant="M1", counterparty="C1", channel="wire",
                    timestamp="2026-01-10T11:00:00.123456Z"),
             raw_tx("plain", amount="7.00", timestamp="2026-01-10T12:00:00+02:00")]
    ingest(store, "b1", items, NOW, CFG)
    found = {t.id: t for t in store.transactions_between(
        "b1", sort_key("2026-01-10T00:00:00Z"), sort_key("2026-01-11T00:00:00Z"))}
    for tx_id, got in found.items():
        stored = store.get_transaction("b1", tx_id)
        assert stored is not None and got.content() == stored.content()
        assert got.flags == stored.flags
    assert found["big"].flags and str(found["big"].amount) == "20000.50"


def replay_jobs_for(store: Store, tmp_path: Path) -> ReplayJobStore:
    """The job store that goes with a ledger store (as bootstrap builds it)."""
    return open_replay_jobs(Settings(sqlite_path=str(tmp_path / "ledger.db")), store)


def test_a_replay_job_record_is_the_banks_and_a_later_write_replaces_it(
        store: Store, tmp_path: Path) -> None:
    jobs = replay_jobs_for(store, tmp_path)
    pending = {"status": "pending", "submitted_at": "2026-01-10T18:00:00Z",
               "request": {"since": "2026-01-01T00:00:00Z", "limit": 100, "rules": RULES}}
    jobs.put_job("b1", "j1", pending)
    assert jobs.get_job("b1", "j1") == pending
    assert jobs.get_job("b2", "j1") is None and jobs.get_job("b1", "j2") is None
    done = {**pending, "status": "done", "result": {"added": {"count": 1, "ids": ["t1"]}}}
    jobs.put_job("b1", "j1", done)
    assert jobs.get_job("b1", "j1") == done
    assert store.get_transaction("b1", "t1") is None  # nothing of the ledger written


def test_a_replay_job_record_at_its_cap_fits_a_dynamodb_item(
        store: Store, tmp_path: Path) -> None:
    # the largest answer a job keeps: MAX_IDS ids of 64 characters per side, 50 rules
    ids = [f"{i:04d}" + "x" * 60 for i in range(MAX_IDS)]
    result = {"added": {"count": 10**6, "ids": ids}, "removed": {"count": 10**6, "ids": ids},
              "candidate": {"by_rule": {f"rule_{i:02d}" + "r" * 30: 10**6 for i in range(50)}}}
    jobs = replay_jobs_for(store, tmp_path)
    jobs.put_job("b1", "big", {"status": "done", "result": result})
    assert jobs.get_job("b1", "big") == {"status": "done", "result": result}
