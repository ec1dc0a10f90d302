"""Each flag rule: trips on its pattern, stays quiet just below it, thresholds from config."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from chalicelib.config import load_settings
from chalicelib.domain.model import Transaction
from chalicelib.domain.rule_sets import RuleSet, builtin_rule, default_rule_set, evaluate_set
from chalicelib.domain.rules import (
    LARGE_AMOUNT,
    RAPID_IN_OUT,
    ROUND_AMOUNT,
    STRUCTURING,
    VELOCITY,
    AccountState,
    RuleConfig,
    Seen,
    evaluate,
    remember,
)
from tests.support.factories import tx

CFG = RuleConfig()
T0 = datetime(2026, 1, 10, 9, tzinfo=UTC)


def run(*txs: Transaction, cfg: RuleConfig = CFG) -> list[tuple[str, ...]]:
    """Flags of each transaction, evaluated in order against the account's growing past."""
    state, out = AccountState(), []
    for item in txs:
        flags = evaluate(item, state, cfg)
        state = remember(state, item.with_flags(flags), RuleConfig())
        out.append(flags)
    return out


def test_large_amount_trips_at_the_threshold_not_below() -> None:
    assert run(tx(amount="10000.00"), tx(amount="9999.99")) == [
        (LARGE_AMOUNT, ROUND_AMOUNT), ()]


def test_structuring_trips_on_the_third_near_threshold_amount_in_a_day() -> None:
    near = [tx(f"s{i}", amount="9500.00", at=T0 + timedelta(hours=i)) for i in range(3)]
    assert [STRUCTURING in f for f in run(*near)] == [False, False, True]


def test_structuring_ignores_near_amounts_more_than_a_day_apart() -> None:
    near = [tx(f"s{i}", amount="9500.00", at=T0 + timedelta(hours=13 * i)) for i in range(3)]
    assert not any(STRUCTURING in f for f in run(*near))


def test_velocity_trips_past_the_count_within_the_window() -> None:
    burst = [tx(f"v{i}", amount="5.00", at=T0 + timedelta(minutes=i)) for i in range(11)]
    flags = run(*burst)
    assert [VELOCITY in f for f in flags] == [False] * 10 + [True]


def test_velocity_stays_quiet_when_spread_out() -> None:
    spread = [tx(f"v{i}", amount="5.00", at=T0 + timedelta(minutes=7 * i)) for i in range(11)]
    assert not any(VELOCITY in f for f in run(*spread))


def test_round_amount_needs_a_large_multiple_of_a_thousand() -> None:
    assert run(tx(amount="5000.00"), tx(amount="4000.00"), tx(amount="5000.50")) == [
        (ROUND_AMOUNT,), (), ()]


def test_rapid_in_out_is_a_similar_debit_soon_after_a_credit() -> None:
    flags = run(tx("c", amount="3000.00", kind="credit", at=T0),
                tx("d", amount="2900.00", kind="debit", at=T0 + timedelta(minutes=20)))
    assert flags == [(), (RAPID_IN_OUT,)]


def test_rapid_in_out_ignores_a_late_or_different_sized_debit() -> None:
    late = run(tx("c", amount="3000.00", at=T0),
               tx("d", amount="3000.00", kind="debit", at=T0 + timedelta(hours=2)))
    small = run(tx("c", amount="3000.00", at=T0),
                tx("d", amount="1500.00", kind="debit", at=T0 + timedelta(minutes=5)))
    assert late[-1] == () and small[-1] == ()


def test_thresholds_come_from_the_environment() -> None:
    settings = load_settings({"FLAG_LARGE_AMOUNT": "500", "FLAG_VELOCITY_COUNT": "2"})
    assert settings.rules.large_amount == Decimal(500)
    flags = run(*[tx(f"x{i}", amount="600.00", at=T0 + timedelta(seconds=i)) for i in range(3)],
                cfg=settings.rules)
    assert flags[0] == (LARGE_AMOUNT,) and VELOCITY in flags[2]


def test_account_memory_keeps_only_what_rules_can_use() -> None:
    plain, near = AccountState(), AccountState()
    for i in range(500):
        plain = remember(plain, tx(f"m{i}", at=T0 + timedelta(seconds=i)), RuleConfig())
        near = remember(near, tx(f"n{i}", amount="9500.00", at=T0 + timedelta(seconds=i)),
                        RuleConfig())
    assert len(plain.seen) == CFG.velocity_count  # enough to tell a burst
    assert len(near.seen) == 100  # near-threshold amounts are kept for a day, up to the cap


def test_thresholds_scale_for_currencies_with_small_units() -> None:
    yen = [tx("y1", amount="10000", currency="JPY"), tx("y2", amount="1000001", currency="JPY")]
    assert run(*yen) == [(), (LARGE_AMOUNT,)]
    assert run(tx("w", amount="5000000", currency="KRW")) == [(ROUND_AMOUNT,)]


def rapid(credit: str, debit: str, after: timedelta, currency: str = "USD") -> tuple[str, ...]:
    """The debit's flags when it comes `after` the credit (negative: stamped before it)."""
    return run(tx("c", amount=credit, kind="credit", at=T0, currency=currency),
               tx("d", amount=debit, kind="debit", at=T0 + after, currency=currency))[-1]


def test_rapid_in_out_needs_the_debit_after_the_credit_not_before() -> None:
    # the credit is remembered first, the debit arrives later but is stamped before it
    assert RAPID_IN_OUT not in rapid("3000.00", "3000.00", -timedelta(minutes=10))
    assert RAPID_IN_OUT not in rapid("3000.00", "3000.00", -timedelta(microseconds=1))
    assert RAPID_IN_OUT in rapid("3000.00", "3000.00", timedelta(0))  # the same instant counts


def test_rapid_in_out_window_is_inclusive_at_its_end() -> None:
    window = timedelta(seconds=CFG.rapid_window_s)
    assert RAPID_IN_OUT in rapid("3000.00", "3000.00", window)
    assert RAPID_IN_OUT not in rapid("3000.00", "3000.00", window + timedelta(microseconds=1))


def test_rapid_in_out_tolerance_is_inclusive_at_ten_percent_either_way() -> None:
    assert RAPID_IN_OUT in rapid("3000.00", "2700.00", timedelta(minutes=5))  # exactly -10 %
    assert RAPID_IN_OUT in rapid("3000.00", "3300.00", timedelta(minutes=5))  # exactly +10 %
    assert RAPID_IN_OUT not in rapid("3000.00", "2699.99", timedelta(minutes=5))
    assert RAPID_IN_OUT not in rapid("3000.00", "3300.01", timedelta(minutes=5))


def test_rapid_in_out_needs_a_debit_of_at_least_the_minimum_and_a_credit_before() -> None:
    assert RAPID_IN_OUT in rapid("1000.00", "1000.00", timedelta(minutes=5))
    assert RAPID_IN_OUT not in rapid("999.99", "999.99", timedelta(minutes=5))
    two_debits = run(tx("d1", amount="3000.00", kind="debit", at=T0),
                     tx("d2", amount="3000.00", kind="debit", at=T0 + timedelta(minutes=5)))
    assert RAPID_IN_OUT not in two_debits[-1]
    other_currency = run(tx("c", amount="3000.00", kind="credit", at=T0, currency="EUR"),
                         tx("d", amount="3000.00", kind="debit", at=T0 + timedelta(minutes=5)))
    assert RAPID_IN_OUT not in other_currency[-1]
    assert RAPID_IN_OUT in rapid("100000", "100000", timedelta(minutes=5), currency="JPY")
    assert RAPID_IN_OUT not in rapid("99999", "99999", timedelta(minutes=5), currency="JPY")


# --- what mutation testing found unpinned (docs/testing.md, "Mutation testing") -------------

def test_account_state_round_trips_through_its_stored_form() -> None:
    state = AccountState()
    for item in (tx("a", amount="9500.00", currency="EUR"), tx("b", amount="3.00", kind="debit")):
        state = remember(state, item, CFG)
    assert AccountState.from_json(state.to_json(), 7) == dataclasses.replace(state, version=7)


def test_structuring_counts_amounts_from_ten_percent_below_up_to_not_including_large() -> None:
    at = [T0 + timedelta(hours=h) for h in range(3)]
    lowest = run(*[tx(f"l{i}", amount="9000.00", at=t) for i, t in enumerate(at)])
    assert STRUCTURING in lowest[-1]  # exactly 10 % below: near
    large_first = run(tx("g0", amount="10000.00", at=at[0]), tx("g1", amount="10000.00",
                                                               at=at[1]),
                      tx("g2", amount="9500.00", at=at[2]))
    assert STRUCTURING not in large_first[-1]  # the large ones are not "near"


def test_structuring_looks_back_a_full_day_inclusive() -> None:
    day = [tx(f"d{i}", amount="9500.00", at=T0 + timedelta(hours=12 * i)) for i in range(3)]
    assert STRUCTURING in run(*day)[-1]  # the first is exactly 24 h before the third


def test_structuring_trips_when_the_near_amounts_sum_exactly_to_the_threshold() -> None:
    cfg = RuleConfig(structuring_margin=Decimal("0.5"), structuring_count=2)
    pair = [tx(f"p{i}", amount="5000.00", at=T0 + timedelta(hours=i)) for i in range(2)]
    assert STRUCTURING in run(*pair, cfg=cfg)[-1]


def test_velocity_window_is_inclusive_at_its_start() -> None:
    burst = [tx(f"v{i}", amount="5.00", at=T0 + timedelta(seconds=i)) for i in range(10)]
    last = tx("v10", amount="5.00", at=T0 + timedelta(seconds=CFG.velocity_window_s))
    assert VELOCITY in run(*burst, last)[-1]  # the first is exactly one window before


def test_round_amount_thresholds_scale_up_not_down_for_small_units() -> None:
    assert run(tx("r1", amount="100000", currency="JPY")) == [()]  # below 5000 x 100
    assert run(tx("r2", amount="500010", currency="JPY")) == [()]  # not a multiple of 100,000
    assert run(tx("r3", amount="500000", currency="JPY")) == [(ROUND_AMOUNT,)]


def _after_ten_more(first: Transaction, last: Transaction) -> tuple[str, ...]:
    """`last`'s flags when ten small transactions came between (so `first` has left the
    velocity memory and is remembered only if a rule may still need it)."""
    between = [tx(f"b{i}", amount="5.00", kind="debit", at=T0 + timedelta(minutes=1 + i),
                  currency=first.currency) for i in range(10)]
    return run(first, *between, last)[-1]


def test_near_threshold_amounts_are_remembered_beyond_the_velocity_memory() -> None:
    near = [tx(f"j{i}", amount="950000", kind="debit", currency="JPY",
                at=T0 + timedelta(hours=2 * i)) for i in range(3)]
    assert STRUCTURING in run(*near)[-1]  # each two hours apart: outside the velocity window


def test_a_credit_a_later_debit_can_match_is_remembered_however_busy_the_account() -> None:
    for currency, credit, debit in (("USD", "1000.00", "1000.00"), ("USD", "950.00", "1000.00"),
                                    ("JPY", "95000", "100000")):
        first = tx("c", amount=credit, kind="credit", at=T0, currency=currency)
        last = tx("d", amount=debit, kind="debit", at=T0 + timedelta(minutes=30),
                  currency=currency)
        assert RAPID_IN_OUT in run(first, last)[-1], (currency, credit, debit)
        assert RAPID_IN_OUT in _after_ten_more(first, last), (currency, credit, debit)


def test_the_velocity_memory_survives_pruning_what_is_older_than_a_day() -> None:
    old = tx("old", amount="5.00", at=T0)
    burst = [tx(f"n{i}", amount="5.00", at=T0 + timedelta(hours=25, minutes=i))
             for i in range(11)]
    assert VELOCITY in run(old, *burst)[-1]  # ten within the hour before the eleventh


def test_a_credit_no_debit_can_match_is_forgotten_outside_the_velocity_memory() -> None:
    for currency, credit in (("USD", "500.00"), ("JPY", "50000")):
        state = AccountState()
        items = [tx("small", amount=credit, kind="credit", at=T0, currency=currency),
                 *[tx(f"f{i}", amount="5", kind="debit", currency=currency,
                      at=T0 + timedelta(minutes=1 + i)) for i in range(10)]]
        for item in items:
            state = remember(state, item, CFG)
        assert [s.amount for s in state.seen] == [Decimal(5)] * 10, currency


def test_an_account_state_stored_before_the_statistics_reads_back_as_its_rows() -> None:
    rows = [[1768053600.0, "10.00", "USD", True], [1768053660.0, "3.00", "EUR", False]]
    assert AccountState.from_json(rows, 4) == AccountState(
        (Seen(1768053600.0, Decimal("10.00"), "USD", True),
         Seen(1768053660.0, Decimal("3.00"), "EUR", False)), 4)


def test_an_account_states_stored_form_may_leave_out_what_it_does_not_hold() -> None:
    assert AccountState.from_json({}, 2) == AccountState(version=2)
    assert AccountState.from_json({"f": 1768053600, "m": ["m1", "m2"]}, 3) == AccountState(
        version=3, first=1768053600, merchants=("m1", "m2"))
    kept = AccountState(version=5, first=7, merchants=("shop",))
    assert AccountState.from_json(kept.to_json(), 5) == kept


# --- the second mutation run over rules.py (docs/testing.md, "Mutation testing") -------------

def evidence(*txs: Transaction, rule_set: RuleSet | None = None) -> dict[str, dict[str, object]]:
    """The last transaction's evidence per flag, the earlier ones remembered first."""
    rules = rule_set or default_rule_set(CFG)
    state = AccountState()
    for item in txs[:-1]:
        state = remember(state, item, rules)
    return {d.rule: dict(d.evidence) for d in evaluate_set(txs[-1], state, rules).details}


def test_each_rule_answers_with_exactly_the_evidence_that_decided_it() -> None:
    near = [tx(f"s{i}", amount="9500.00", kind="debit", at=T0 + timedelta(hours=i))
            for i in range(3)]
    assert evidence(*near) == {STRUCTURING: {
        "amount": "9500.00", "currency": "USD", "threshold": "10000", "near_count": 3,
        "near_total": "28500.00", "window_s": 86400}}
    burst = [tx(f"v{i}", amount="5.00", at=T0 + timedelta(minutes=i)) for i in range(11)]
    assert evidence(*burst) == {VELOCITY: {"count": 11, "limit": 10, "window_s": 3600}}
    assert evidence(tx("r", amount="6000.00")) == {ROUND_AMOUNT: {
        "amount": "6000.00", "currency": "USD", "min": "5000", "unit": "1000"}}
    assert evidence(tx("c", amount="3000.00", kind="credit", at=T0),
                    tx("d", amount="2900.00", kind="debit", at=T0 + timedelta(minutes=20))) == {
        RAPID_IN_OUT: {"amount": "2900.00", "currency": "USD", "credit_amount": "3000.00",
                       "seconds_after_credit": 1200, "tolerance": "0.10", "window_s": 3600}}


def test_velocity_needs_more_than_its_count_in_the_window_not_the_count_itself() -> None:
    old = Seen((T0 - timedelta(hours=2)).timestamp(), Decimal("9500.00"), "USD", False)
    recent = tuple(Seen((T0 - timedelta(minutes=i)).timestamp(), Decimal(5), "USD", True)
                   for i in range(9, 0, -1))
    state = AccountState((old, *recent))  # ten remembered, nine of them within the hour
    assert evaluate(tx("v", amount="5.00", at=T0), state, CFG) == ()  # ten in the window


def test_velocity_reads_its_count_for_the_transactions_currency() -> None:
    rules = RuleSet(1, (builtin_rule(VELOCITY, {"count": Decimal(10), "window_s": Decimal(3600)},
                                     by_currency={"EUR": {"count": Decimal(2)}}),))
    eur = [tx(f"e{i}", amount="5.00", currency="EUR", at=T0 + timedelta(minutes=i))
           for i in range(3)]
    assert evidence(*eur, rule_set=rules) == {VELOCITY: {"count": 3, "limit": 2,
                                                         "window_s": 3600}}


def test_only_money_thresholds_scale_for_small_units_not_counts_or_windows() -> None:
    # a set of its own: the default set's parameters are resolved once per process, so a test
    # reading them after another did would not reach the resolving (nor mutmut's mapping)
    rules = RuleSet(1, (builtin_rule(VELOCITY, {"count": Decimal(10),
                                                "window_s": Decimal(3600)}),))
    burst = [tx(f"y{i}", amount="500", currency="JPY", at=T0 + timedelta(minutes=i))
             for i in range(11)]
    assert evidence(*burst, rule_set=rules) == {VELOCITY: {"count": 11, "limit": 10,
                                                           "window_s": 3600}}


def test_a_currencys_parameters_are_resolved_once() -> None:
    params = builtin_rule(ROUND_AMOUNT, {"min": Decimal(5000), "unit": Decimal(1000)}).params
    assert params is not None
    first = params.values("JPY")
    assert first == {"min": Decimal(500000), "unit": Decimal(100000)}
    assert params.values("JPY") is first  # not resolved again


def test_an_account_state_with_only_rows_is_stored_as_the_plain_list_of_them() -> None:
    state = remember(AccountState(), tx("a", amount="9500.00"), CFG)
    assert state.to_json() == {"s": [[T0.replace(hour=14).timestamp(), "9500.00", "USD", True]],
                               "w": {"USD": state.stats[0][1].to_json()},
                               "f": int(T0.replace(hour=14).timestamp())}
    rows_only = AccountState(state.seen, 3)
    assert rows_only.to_json() == [[T0.replace(hour=14).timestamp(), "9500.00", "USD", True]]
    for kept in (dataclasses.replace(rows_only, stats=state.stats),
                 dataclasses.replace(rows_only, first=7),
                 dataclasses.replace(rows_only, merchants=("shop",))):
        assert AccountState.from_json(kept.to_json(), 3) == kept
