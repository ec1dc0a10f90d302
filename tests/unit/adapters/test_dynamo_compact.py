"""The account item's compact forms round-trip exactly, and a busy account's item stays within
1 KB (one write unit) where JSON made it ~4 KB."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from bench import billing
from chalicelib.adapters.dynamo import dynamo_codec as codec
from chalicelib.adapters.dynamo import dynamo_compact as compact
from chalicelib.adapters.dynamo.dynamo_account import (
    ITEM_BUDGET,
    AccountDoc,
    account_item,
    doc_from,
    with_history,
)
from chalicelib.domain.account_stats import Welford
from chalicelib.domain.aggregates import ACCOUNT, AggKey, Bucket, deltas_for
from chalicelib.domain.model import Transaction
from chalicelib.domain.rule_sets import (
    RuleSet,
    builtin_rule,
    default_rule_set,
    evaluate_set,
    remember,
)
from chalicelib.domain.rules import BUILTINS, UNUSUAL_AMOUNT, AccountState, RuleConfig, Seen

NOW = datetime(2026, 1, 10, 12, tzinfo=UTC)
ACCOUNT_ID = "GB33BUKB20201555555555"

amounts = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("99999999"), places=3,
                      allow_nan=False).map(lambda d: d.quantize(Decimal("0.01")) if d > 1 else d)
rows = st.builds(Seen, st.integers(1_600_000_000_000_000, 1_900_000_000_000_000).map(
    lambda us: us / 1_000_000), amounts, st.sampled_from(["EUR", "USD", "JPY"]), st.booleans())


@given(st.lists(rows, max_size=12), st.integers(0, 50), st.booleans(),
       st.lists(st.sampled_from(["0badcafe", "12345678"]), max_size=2))
def test_a_state_round_trips_exactly(seen: list[Seen], n: int, first: bool,
                                     merchants: list[str]) -> None:
    ordered = tuple(sorted(seen, key=lambda s: s.epoch))
    stats = Welford()
    for s in ordered[:n]:
        stats = stats.add(s.amount)
    state = AccountState(ordered, 4, (("EUR", stats),) if n else (),
                         1_700_000_000 if first else None, tuple(merchants))
    assert compact.decode_state(compact.encode_state(state), 4) == state


def _tx(i: int, at: datetime, amount: str, currency: str = "EUR") -> Transaction:
    return Transaction(f"tx-{i:06d}-abcdefabcdef", ACCOUNT_ID, Decimal(amount), currency,
                       "credit" if i % 2 else "debit", at, merchant="Corner Shop Ltd")


def busy(rules: RuleSet, count: int) -> tuple[AccountState, Bucket, list[Transaction]]:
    """An account with a transaction a minute, two currencies, amounts up to ~900."""
    state, bucket, txs = AccountState(), Bucket(), []
    for i in range(count):
        tx = _tx(i, NOW - timedelta(minutes=count - i), f"{(i * 37) % 900 + 1}.{i % 100:02d}",
                 "EUR" if i % 3 else "USD")
        outcome = evaluate_set(tx, state, rules)
        tx = tx.with_flags(outcome.flags, outcome.details)
        state = remember(state, tx, rules)
        bucket.merge(deltas_for([tx])[AggKey(ACCOUNT, ACCOUNT_ID)])
        txs.append(tx)
    return state, bucket, txs


def _rules() -> RuleSet:
    base = default_rule_set(RuleConfig())
    stat = builtin_rule(UNUSUAL_AMOUNT, BUILTINS[UNUSUAL_AMOUNT].defaults(RuleConfig()))
    return RuleSet(1, (*base.rules, stat))


def test_a_busy_accounts_item_with_its_history_stays_one_write_unit() -> None:
    state, bucket, txs = busy(_rules(), 300)
    doc = AccountDoc(state, bucket, "0" * 20 + "1" * 20)
    pages = 0
    for start in range(0, len(txs), 2):  # two transactions a batch, as in the README's mix
        doc, writes = with_history("demo", ACCOUNT_ID, doc, txs[start:start + 2], {})
        pages += len(writes.puts)
        size = billing.item_size(codec.to_wire(account_item("demo", ACCOUNT_ID, doc)))
        assert size <= ITEM_BUDGET
    old = codec.to_wire({"pk": "x", "sk": "AC", "ver": 5,
                         "seen": json.dumps(state.to_json(), separators=(",", ":")),
                         "b": json.dumps(bucket.to_json(), separators=(",", ":"))})
    assert billing.item_size(old) > 1024  # what JSON cost: two units a write
    assert pages <= len(txs) // 10  # a page write for every ten transactions or fewer


def test_the_item_reads_back_as_written() -> None:
    state, bucket, txs = busy(_rules(), 60)
    doc, _ = with_history("demo", ACCOUNT_ID, AccountDoc(state, bucket, "7" * 40), txs[-3:], {})
    item = account_item("demo", ACCOUNT_ID, doc)
    back = doc_from(codec.from_wire(codec.to_wire(item)))
    assert back == doc
    assert back.bucket is not None and back.bucket.to_json() == bucket.to_json()


def test_pointers_order_as_time_then_id() -> None:
    a = compact.pointer(NOW, "b")
    assert compact.pointer(NOW, "a") < a < compact.pointer(NOW + timedelta(microseconds=1), "a")
    assert compact.pointer_of_position("2026-01-10T12:00:00000000", "b") == a
    assert compact.pointer_id(a) == "b"
