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

from chalicelib.domain import rule_sets
from chalicelib.domain.account_stats import Welford, merchant_tag
from chalicelib.domain.model import FlagDetail, Transaction
from chalicelib.domain.rule_set_input import parse_rule_set
from chalicelib.domain.rule_sets import (
    DAY_S,
    VARIABLES,
    Rule,
    RuleSet,
    _Variables,
    as_rule_set,
    default_rule_set,
    evaluate_set,
    remember,
)
from chalicelib.domain.rules import AccountState, Params, RuleConfig, Seen, evaluate
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


def unusual_after(history: list[str], amount: str, params: dict[str, object],
                  currency: str = "USD") -> tuple[tuple[str, ...], dict[str, object]]:
    """The flags and evidence of `amount` after an account's `history` (one a minute)."""
    rules = rule_set({"name": "unusual", "builtin": "unusual_amount", "params": params})
    state = AccountState()
    for i, past in enumerate(history):
        state = remember(state, tx(f"h{i}", amount=past, currency=currency,
                                   at=T0 + timedelta(minutes=i)), rules)
    outcome = evaluate_set(tx("x", amount=amount, currency=currency, at=T0 + timedelta(hours=1)),
                           state, rules)
    return outcome.flags, (dict(outcome.details[0].evidence) if outcome.details else {})


def test_unusual_amount_trips_at_exactly_z_and_says_why() -> None:
    # history 10, 12, 14: mean 12, sample standard deviation 2; 18 is exactly 3 deviations out
    flags, evidence = unusual_after(["10.00", "12.00", "14.00"], "18.00",
                                    {"z": "3", "min_history": 3})
    assert flags == ("unusual",)
    assert evidence == {"amount": "18.00", "currency": "USD", "mean": "12.00", "stddev": "2.00",
                        "zscore": "3.00", "z": "3", "history": 3}
    assert unusual_after(["10.00", "12.00", "14.00"], "17.98",
                         {"z": "3", "min_history": 3})[0] == ()


def test_unusual_amount_reads_its_history_and_z_for_the_transactions_currency() -> None:
    params = {"z": "3", "min_history": 5,
              "by_currency": {"JPY": {"min_history": 3, "z": "2"}}}
    # 3 of history is enough in yen (its own min_history), and 16 (2 deviations) is unusual there
    assert unusual_after(["1000", "1200", "1400"], "1600", params, "JPY")[0] == ("unusual",)
    assert unusual_after(["10.00", "12.00", "14.00"], "18.00", params)[0] == ()  # 3 < 5


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


# --- what an expression reads -------------------------------------------------------------

NOW = T0.timestamp()
BOOLS = ("is_credit", "merchant_known")


def read_by_expressions(t: Transaction, state: AccountState) -> dict[str, object]:
    """Each variable's value as a flag's evidence records it: one rule per variable, true
    whatever the value."""
    rules: list[dict[str, object]] = [
        {"name": f"v_{n}", "when": f"{n} or not {n}" if n in BOOLS else f"{n} == {n}"}
        for n in VARIABLES]
    outcome = evaluate_set(t, state, rule_set(*rules))
    assert not outcome.errors
    return {d.rule[2:]: dict(d.evidence)[d.rule[2:]] for d in outcome.details}


def welford(*amounts: str) -> Welford:
    stats = Welford()
    for amount in amounts:
        stats = stats.add(Decimal(amount))
    return stats


def test_every_variable_reads_its_value_from_the_transaction_and_the_accounts_past() -> None:
    t = Transaction("x", "A9", Decimal("18.00"), "EUR", "debit", T0, "rent", "Shop", "Bob",
                    "card")
    state = AccountState(
        # the 24 hours end exactly a day back, the hour exactly an hour back (both included)
        (Seen(NOW - 90000, Decimal("7.00"), "EUR", True),
         Seen(NOW - DAY_S, Decimal("100.00"), "EUR", True),
         Seen(NOW - 7200, Decimal("40.00"), "USD", False),
         Seen(NOW - 3600, Decimal("10.00"), "EUR", False)),
        stats=(("EUR", welford("10", "12", "14")), ("USD", welford("40"))),
        first=int(NOW - 2.5 * DAY_S), merchants=(merchant_tag("Shop"),))
    assert read_by_expressions(t, state) == {
        "amount": "18.00", "currency": "EUR", "type": "debit", "is_credit": False,
        "account": "A9", "merchant": "Shop", "counterparty": "Bob", "channel": "card",
        "description": "rent", "hour": "14", "weekday": "5",  # a Saturday
        "count_1h": "1", "count_24h": "3", "sum_24h": "110.00",  # EUR only
        "history": "3", "mean": "12", "stddev": "2", "zscore": "3.00",  # of the EUR amounts
        "days_known": "2", "merchant_known": True}


def test_a_new_account_reads_empty_text_and_zeros() -> None:
    assert read_by_expressions(tx(amount="5.00"), AccountState()) == {
        "amount": "5.00", "currency": "USD", "type": "credit", "is_credit": True,
        "account": "A123", "merchant": "", "counterparty": "", "channel": "", "description": "",
        "hour": "14", "weekday": "5", "count_1h": "0", "count_24h": "0", "sum_24h": "0",
        "history": "0", "mean": "0", "stddev": "0", "zscore": "0", "days_known": "0",
        "merchant_known": False}


@pytest.mark.parametrize(("first", "days"), [
    (NOW - DAY_S + 1, "0"), (NOW - DAY_S, "1"), (NOW - 3 * DAY_S - 1, "3"),
    (NOW + 60, "0"),  # its first transaction arrived before this older one
])
def test_days_known_counts_whole_days_since_the_first_transaction(first: float,
                                                                  days: str) -> None:
    assert read_by_expressions(tx(), AccountState(first=int(first)))["days_known"] == days


def test_only_the_listed_variables_are_computed() -> None:
    variables = _Variables(tx(), AccountState())
    assert all(variables[n] is not None for n in VARIABLES)
    with pytest.raises(KeyError, match="nope"):
        variables["nope"]


def test_a_rule_is_a_builtin_only_with_both_its_builtin_and_its_params() -> None:
    half = RuleSet(1, (Rule("named", builtin="large_amount"),
                       Rule("valued", params=Params({"amount": Decimal(1)}))))
    assert evaluate_set(tx(), AccountState(), half).flags == ()
    assert [r.to_json() for r in half.rules] == [{"name": "named"}, {"name": "valued"}]


# --- the default set ------------------------------------------------------------------------

def test_the_default_set_is_built_once_per_config_from_its_thresholds(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rule_sets, "_DEFAULTS", {})  # built here, not by an earlier test
    cfg = RuleConfig(large_amount=Decimal(500), velocity_count=4)
    built = default_rule_set(cfg)
    assert built.version == 0
    assert [r.to_json() for r in built.rules] == [
        {"name": "large_amount", "builtin": "large_amount", "params": {"amount": "500"}},
        {"name": "structuring", "builtin": "structuring",
         "params": {"amount": "500", "margin": "0.10", "count": "3"}},
        {"name": "velocity", "builtin": "velocity", "params": {"count": "4", "window_s": "3600"}},
        {"name": "round_amount", "builtin": "round_amount",
         "params": {"min": "5000", "unit": "1000"}},
        {"name": "rapid_in_out", "builtin": "rapid_in_out",
         "params": {"window_s": "3600", "tolerance": "0.10", "min_amount": "1000"}}]
    assert evaluate_set(tx(amount="500.00", currency="JPY"), AccountState(), built).flags == ()
    assert default_rule_set(cfg) is built and as_rule_set(cfg) is built
    assert default_rule_set(CFG) is not built


# --- what the state keeps -------------------------------------------------------------------

def keeper() -> RuleSet:
    """A set keeping older amounts for structuring and rapid_in_out, built afresh: a set's
    bounds are resolved once, so a shared one would answer from what an earlier test left."""
    return rule_set({"name": "s", "builtin": "structuring",
                     "params": {"amount": 10000, "margin": "0.10"}},
                    {"name": "r", "builtin": "rapid_in_out",
                     "params": {"tolerance": "0.25", "min_amount": 1000}})


@pytest.mark.parametrize(("amount", "currency", "credit", "kept"), [
    # structuring: amounts within 10 % below its 10,000, scaled per currency (JPY x100)
    ("9000", "USD", False, True), ("8999.99", "USD", False, False),
    ("9999.99", "USD", False, True), ("10000", "USD", False, False),
    ("950000", "JPY", False, True), ("9500", "JPY", False, False),
    # rapid_in_out: a credit a debit of 1,000 can match, within 25 % of it: from 800 up
    ("800", "USD", True, True), ("799.99", "USD", True, False), ("800", "USD", False, False),
    ("80000", "JPY", True, True), ("1000", "JPY", True, False),
])
def test_an_older_amount_is_kept_only_while_a_rule_can_still_match_it(
        amount: str, currency: str, credit: bool, kept: bool) -> None:
    seen = Seen(NOW, Decimal(amount), currency, credit)
    assert keeper().retention.worth_keeping(seen) is kept


def test_a_currencys_retention_bounds_are_resolved_once() -> None:
    keep = keeper().retention
    assert keep._bounds_for("JPY") is keep._bounds_for("JPY")


def test_the_first_time_is_the_earliest_transaction_whatever_the_order() -> None:
    state = remember(AccountState(), tx("b", at=T0 + timedelta(hours=1)), CFG)
    assert state.first == int(NOW + 3600)
    state = remember(state, tx("a", at=T0), CFG)
    state = remember(state, tx("c", at=T0 + timedelta(hours=2)), CFG)
    assert state.first == int(NOW)


def test_merchant_tags_are_kept_newest_last_only_when_a_rule_reads_them() -> None:
    reads = rule_set({"name": "new_merchant", "when": "not merchant_known"})
    plain = rule_set({"name": "big", "builtin": "large_amount"})
    state = blind = AccountState()
    names = ["A", "B", "A", *(f"m{i}" for i in range(15))]
    for i, name in enumerate(names):
        item = replace(tx(f"t{i}", at=T0 + timedelta(minutes=i)), merchant=name)
        state, blind = remember(state, item, reads), remember(blind, item, plain)
    assert blind.merchants == ()
    assert state.merchants == tuple(merchant_tag(n) for n in ["B", "A", *names[3:]])[-16:]
    assert merchant_tag("A") in state.merchants  # seen again: newer than B, which is gone


def test_statistics_are_kept_per_currency_and_past_four_the_most_used_stay() -> None:
    state = AccountState()
    for i, currency in enumerate(["EUR", "USD", "EUR"]):
        state = remember(state, tx(f"t{i}", currency=currency), CFG)
    assert [(c, w.n) for c, w in state.stats] == [("EUR", 2), ("USD", 1)]
    used = AccountState(stats=(("EUR", welford("1", "2", "3")), ("GBP", welford("1")),
                               ("JPY", welford("1", "2")), ("USD", welford(*"12345"))))
    state = remember(used, tx(currency="CHF"), CFG)
    # CHF and GBP are used once each: the tie goes by code, so GBP goes
    assert [(c, w.n) for c, w in state.stats] == [("CHF", 1), ("EUR", 3), ("JPY", 2),
                                                  ("USD", 5)]
