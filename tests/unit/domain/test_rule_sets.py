"""Rule sets as data: parameters, per-currency thresholds, the statistical rule, evidence,
evaluation errors, and the state each set keeps."""

from __future__ import annotations

import json
import re
import statistics
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from chalicelib.domain.account_stats import Welford
from chalicelib.domain.model import FlagDetail, Transaction
from chalicelib.domain.rule_set_input import parse_rule_set
from chalicelib.domain.rule_sets import (
    RuleSet,
    default_rule_set,
    evaluate_set,
    remember,
)
from chalicelib.domain.rules import AccountState, RuleConfig, evaluate
from chalicelib.errors import ValidationError
from tests.support.factories import tx

CFG = RuleConfig()
T0 = datetime(2026, 1, 10, 14, tzinfo=UTC)
DOC = Path(__file__).resolve().parents[3] / "docs" / "rules.md"


def rule_set(*rules: dict[str, object], version: int = 3) -> RuleSet:
    return RuleSet(version, parse_rule_set({"rules": list(rules)}, CFG))


def test_the_default_set_is_todays_five_rules_with_evidence() -> None:
    outcome = evaluate_set(tx(amount="12000.00"), AccountState(), default_rule_set(CFG))
    assert outcome.flags == ("large_amount", "round_amount")
    assert outcome.details[0].to_json() == {"rule": "large_amount", "version": 0, "evidence": {
        "amount": "12000.00", "currency": "USD", "threshold": "10000"}}
    assert evaluate(tx(amount="12000.00"), AccountState(), CFG) == outcome.flags


def test_a_threshold_can_be_set_exactly_per_currency() -> None:
    rules = rule_set({"name": "big", "builtin": "large_amount", "params": {
        "amount": "500", "by_currency": {"JPY": {"amount": "80000"}}}})
    assert evaluate_set(tx(amount="500.00"), AccountState(), rules).flags == ("big",)
    assert evaluate_set(tx(amount="79999", currency="JPY"), AccountState(), rules).flags == ()
    assert evaluate_set(tx(amount="80000", currency="JPY"), AccountState(), rules).flags == (
        "big",)
    # a currency without an override scales the base: KRW x1000
    assert evaluate_set(tx(amount="499999", currency="KRW"), AccountState(), rules).flags == ()


def test_welford_matches_the_textbook_mean_and_deviation() -> None:
    amounts = [Decimal(a) for a in ["10.00", "12.50", "9.99", "11.01", "10.00", "250.75"]]
    stats = Welford()
    for amount in amounts:
        stats = stats.add(amount)
    assert stats.n == 6
    assert abs(stats.mean - statistics.mean(amounts)) < Decimal("1e-12")
    assert abs(stats.stddev - statistics.stdev(amounts)) < Decimal("1e-12")
    assert Welford.from_json(stats.to_json()) == stats  # stored as text, back exactly


def test_unusual_amount_is_quiet_until_the_account_has_history() -> None:
    rules = rule_set({"name": "unusual", "builtin": "unusual_amount",
                      "params": {"z": "3", "min_history": 5}})
    state = AccountState()
    for i, amount in enumerate(["10.00", "11.00", "9.00", "10.50"]):
        state = remember(state, tx(f"h{i}", amount=amount, at=T0 + timedelta(minutes=i)), rules)
    assert evaluate_set(tx("x", amount="900.00"), state, rules).flags == ()  # 4 < 5
    state = remember(state, tx("h4", amount="10.00", at=T0 + timedelta(minutes=4)), rules)
    outcome = evaluate_set(tx("y", amount="900.00", at=T0 + timedelta(hours=1)), state, rules)
    assert outcome.flags == ("unusual",)
    evidence = dict(outcome.details[0].evidence)
    assert evidence["history"] == 5 and Decimal(str(evidence["zscore"])) > 3


def test_an_expression_flag_records_the_values_it_read() -> None:
    rules = rule_set({"name": "night_wire", "when": 'channel == "wire" and hour < 6'})
    wire = replace(tx(at=T0.replace(hour=2)), channel="wire")
    outcome = evaluate_set(wire, AccountState(), rules)
    assert outcome.details[0].to_json()["evidence"] == {
        "channel": "wire", "hour": "2", "when": 'channel == "wire" and hour < 6'}


def test_a_failing_expression_is_reported_not_raised() -> None:
    rules = rule_set({"name": "ratio", "when": "amount / count_1h > 2"},
                     {"name": "any", "when": "amount > 0"})
    outcome = evaluate_set(tx(), AccountState(), rules)
    assert outcome.flags == ("any",)
    assert outcome.errors == [("ratio", "division by zero")]


def test_windowed_variables_make_the_state_keep_a_day() -> None:
    plain = rule_set({"name": "big", "builtin": "large_amount"})
    windowed = rule_set({"name": "busy", "when": "count_24h >= 30"})
    a = b = AccountState()
    for i in range(40):
        item = tx(f"t{i}", at=T0 + timedelta(minutes=10 * i))
        a, b = remember(a, item, plain), remember(b, item, windowed)
    assert len(a.seen) == 0 and len(b.seen) == 40
    last = tx("z", at=T0 + timedelta(minutes=400))
    assert evaluate_set(last, b, windowed).flags == ("busy",)


def test_merchant_known_remembers_tags_not_names() -> None:
    rules = rule_set({"name": "new_merchant", "when": "not merchant_known and amount > 5"})
    first = replace(tx(), merchant="ACME Ltd")
    assert evaluate_set(first, AccountState(), rules).flags == ("new_merchant",)
    state = remember(AccountState(), first, rules)
    assert "ACME" not in str(state.to_json()) and len(state.merchants) == 1
    assert evaluate_set(first, state, rules).flags == ()


def test_every_example_in_the_guide_is_accepted() -> None:
    examples = re.findall(r'^\{"name".*\}$', DOC.read_text(), re.MULTILINE)
    assert len(examples) >= 5
    parse_rule_set({"rules": [json.loads(e) for e in examples]}, CFG)


@pytest.mark.parametrize(("rules", "field"), [
    ([{"name": "a", "when": "amount > 1"}, {"name": "a", "when": "amount > 2"}], "rules[1].name"),
    ([{"name": "a", "builtin": "large_amount", "params": {"amount": "-1"}}],
     "rules[0].params.amount"),
    ([{"name": "a", "builtin": "structuring", "params": {"margin": "1.5"}}],
     "rules[0].params.margin"),
    ([{"name": "a", "builtin": "large_amount", "params": {"by_currency": {"usd": {}}}}],
     "rules[0].params.by_currency"),
    ([{"name": "a", "when": "amount > 1", "params": {}}], "rules[0]"),
])
def test_bad_sets_name_the_field(rules: list[dict[str, object]], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_rule_set({"rules": rules}, CFG)
    assert [d.field for d in err.value.details] == [field]


def test_a_stored_set_reads_back_to_the_same_rules() -> None:
    rules = rule_set({"name": "big", "builtin": "velocity", "params": {"count": 3}},
                     {"name": "w", "when": "hour < 6", "description": "night"})
    again = parse_rule_set({"rules": [r.to_json() for r in rules.rules]}, CFG)
    assert [r.to_json() for r in again] == [r.to_json() for r in rules.rules]


def test_with_flags_keeps_every_other_field_of_the_transaction() -> None:
    # every field set to something other than its default, so one dropped would show
    tx = Transaction("t1", "A1", Decimal("12.50"), "EUR", "debit",
                     datetime(2026, 1, 10, 14, 30, tzinfo=UTC), "rent", "M", "C", "wire")
    assert tx.epoch and tx.timestamp_text  # computed before: carried over, still right
    detail = FlagDetail.of("big", 2, {"amount": "12.50"})
    flagged = tx.with_flags(("big",), (detail,))
    assert flagged == replace(tx, flags=("big",), flag_details=(detail,))
    assert (flagged.epoch, flagged.timestamp_text) == (tx.timestamp.timestamp(),
                                                       "2026-01-10T14:30:00Z")
    assert tx.with_flags((), ()) is tx
