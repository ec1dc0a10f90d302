"""A plan's alerts and events ride in the TransactWriteItems chunk of their transaction, and no
chunk passes DynamoDB's 100 actions, however many alerts a plan opens (pure: no calls)."""

from __future__ import annotations

import pytest

from chalicelib.adapters.dynamo import dynamo_writes as writes
from chalicelib.domain.aggregates import deltas_for
from chalicelib.domain.alerts import open_alerts, opened_event
from chalicelib.domain.rules import AccountState, RuleConfig
from chalicelib.domain.validation import validate_transaction
from chalicelib.ports.store import WritePlan
from tests.conftest import NOW
from tests.support.factories import raw_tx


def plan(n: int, accounts: int, flag_every: int) -> WritePlan:
    txs = []
    for i in range(n):
        tx = validate_transaction(raw_tx(f"t{i:03d}", account=f"A{i % accounts}",
                                         timestamp=f"2026-01-10T{i % 17:02d}:{i % 60:02d}:00Z"),
                                  NOW)
        txs.append(tx.with_flags(("large_amount",)) if i % flag_every == 0 else tx)
    alerts = open_alerts("b1", txs, "2026-01-10T18:00:00Z")
    states = {f"A{a}": AccountState() for a in range(accounts)}
    return WritePlan(txs, deltas_for(txs, list(states)), states, rules=RuleConfig(),
                     alerts=alerts, events=[opened_event(a) for a in alerts])


@pytest.mark.parametrize(("n", "accounts", "flag_every"),
                         [(10, 3, 1), (100, 50, 7), (100, 1, 1), (240, 4, 2), (33, 33, 1)])
def test_every_alert_rides_with_its_transaction_and_no_chunk_passes_100_actions(
        n: int, accounts: int, flag_every: int) -> None:
    made = plan(n, accounts, flag_every)
    chunks = writes.split(made, {})
    assert sorted(t.id for c in chunks for t in c.transactions) == sorted(
        t.id for t in made.transactions)
    for chunk in chunks:
        ids = {t.id for t in chunk.transactions}
        assert {a.transaction_id for a in chunk.alerts} == {
            t.id for t in chunk.transactions if t.flags}
        assert {e.data["alert"]["transaction_id"] for e in chunk.events} <= ids
        actions, keys, _ = writes.actions("table", "b1", 0, chunk, {}, {}, {})
        assert len(actions) == len(keys) <= writes.MAX_ACTIONS
    assert sum(len(c.alerts) for c in chunks) == len(made.alerts)
