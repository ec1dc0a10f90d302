"""Money totals past 64 bits of minor units stay exact on every store, and reconcile sees and
repairs money drift at any size."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from chalicelib.domain.aggregates import BANK_KEY, Bucket, CurrencyTotals, deltas_for
from chalicelib.domain.model import Transaction
from chalicelib.domain.rules import RuleConfig
from chalicelib.ports.store import Store, WritePlan
from chalicelib.usecases.ledger import ingest
from chalicelib.usecases.reconcile import find_drift, recompute, repair
from tests.conftest import NOW
from tests.support.factories import raw_tx, tx

INT64_MAX = 2**63 - 1
HUGE = "999999999999.99"  # the largest amount an item may carry, 10^14 - 1 minor units


def _bucket_with(credit: Decimal, debit: Decimal, count: int = 1,
                 currency: str = "USD") -> Bucket:
    return Bucket(count=count, currencies={currency: CurrencyTotals(count, credit, 0, debit)})


def _commit(store: Store, *txs: Transaction) -> None:
    accepted = list(txs)
    with store.unit_of_work("b1") as uow:
        states = uow.get_account_states(sorted({t.account for t in accepted}))
        uow.commit(WritePlan(accepted, deltas_for(accepted), states, rules=RuleConfig()))


def test_credit_total_past_int64_minor_units_stays_exact(store: Store) -> None:
    start = Decimal(INT64_MAX).scaleb(-2)  # 92233720368547758.07: the last exact int64 total
    store.replace_buckets("b1", {BANK_KEY: _bucket_with(start, start)}, [])
    _commit(store, tx("h1", amount=HUGE), tx("h2", amount=HUGE, kind="debit"))
    _commit(store, tx("h3", amount=HUGE))
    usd = store.get_buckets("b1", [BANK_KEY])[BANK_KEY].currencies["USD"]
    assert str(usd.credit_total) == str(start + 2 * Decimal(HUGE)) == "92235720368547758.05"
    assert str(usd.debit_total) == str(start + Decimal(HUGE)) == "92234720368547758.06"


def test_totals_of_twenty_digits_survive_a_repair_and_read_back_exactly(store: Store) -> None:
    # 10^21 - 0.01: far past 64 bits even in minor units; JPY has no minor digits
    total = Decimal("999999999999999999999.99")
    yen = Decimal("123456789012345678901234")
    expected = _bucket_with(total, Decimal("0.01"))
    expected.currencies["JPY"] = CurrencyTotals(2, yen, 1, Decimal(7))
    store.replace_buckets("b1", {BANK_KEY: expected}, [])
    found = store.get_buckets("b1", [BANK_KEY])[BANK_KEY]
    assert found.currencies["USD"].credit_total == total
    assert str(found.currencies["JPY"].credit_total) == "123456789012345678901234"
    assert found == expected


def test_reconcile_sees_money_drift_names_both_values_and_repairs_it(store: Store) -> None:
    ingest(store, "b1", [raw_tx("t1", amount=HUGE), raw_tx("t2", amount="0.01")], NOW,
           RuleConfig())
    assert find_drift(store, "b1") == []
    good = store.get_buckets("b1", [BANK_KEY])[BANK_KEY]
    bad = replace(good, currencies={"USD": replace(good.currencies["USD"],
                                                   credit_total=Decimal("92233720368547758.08"))})
    store.replace_buckets("b1", {BANK_KEY: bad}, [])
    drift = find_drift(store, "b1")
    assert [d.key for d in drift] == [BANK_KEY]
    text = drift[0].describe()
    assert "USD credit_total" in text, text
    assert "stored 92233720368547758.08" in text and "expected 1000000000000.00" in text, text
    assert "count" not in text  # equal fields are not named
    repair(store, "b1", drift)
    assert find_drift(store, "b1") == []
    assert store.get_buckets("b1", [BANK_KEY])[BANK_KEY] == recompute(
        store.iter_transactions("b1"))[BANK_KEY]
