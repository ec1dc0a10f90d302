"""The Faker bank's data: reproducible, valid where meant to be, invalid where meant to be."""

from __future__ import annotations

import io
import itertools
import json
import re
from collections import Counter
from contextlib import redirect_stdout
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from chalicelib.domain.model import Transaction
from chalicelib.domain.money import MINOR_UNITS
from chalicelib.domain.rules import RULES, AccountState, RuleConfig, evaluate, remember
from chalicelib.domain.validation import validate_transaction
from chalicelib.errors import ValidationError
from simulator.bank import build_cast
from simulator.cli import main
from simulator.faults import FAULTS
from simulator.generator import Generator, Mix, take
from simulator.money import MINOR_DIGITS
from simulator.pace import Spread
from simulator.plan import INVALID, VALID, Planned
from simulator.wire import units

START = datetime(2026, 1, 10, 14, 0, tzinfo=UTC)
ALL_CURRENCIES = tuple(sorted(MINOR_DIGITS))


def items(seed: int = 1, count: int = 3000, scenario: str = "fraud", invalid: float = 0.1,
          duplicate: float = 0.05, accounts: int = 300) -> list[Planned]:
    cast = build_cast(seed, accounts, ALL_CURRENCIES)
    gen = Generator(cast, seed, START, Mix(scenario, invalid, duplicate))
    return [p for group in take(gen.groups(), count) for p in group]


@pytest.fixture(scope="module")
def stream() -> list[Planned]:
    return items()


def dry_run(*args: str) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["--dry-run", *args]) == 0
    return out.getvalue()


def test_same_seed_gives_same_transactions() -> None:
    args = ("--count", "300", "--seed", "42", "--start", "2026-01-10T14:00:00Z",
            "--scenario", "fraud")
    first, second = dry_run(*args), dry_run(*args)
    assert first == second
    assert len(first.splitlines()) == 300


def test_other_seed_gives_other_transactions() -> None:
    a = dry_run("--count", "50", "--seed", "1", "--start", "2026-01-10T14:00:00Z")
    b = dry_run("--count", "50", "--seed", "2", "--start", "2026-01-10T14:00:00Z")
    assert a != b


def test_dry_run_prints_one_json_transaction_per_line_with_decimal_string_amounts() -> None:
    for line in dry_run("--count", "20", "--seed", "3", "--invalid-rate", "0").splitlines():
        raw = json.loads(line)
        assert isinstance(raw["amount"], str)
        Decimal(raw["amount"])


def test_every_valid_transaction_passes_the_services_validation(stream: list[Planned]) -> None:
    valid = [p for p in stream if p.should_be_accepted]
    assert len(valid) > 2000
    for planned in valid:
        tx = validate_transaction(planned.raw, START)
        assert (tx.amount, tx.currency, tx.is_credit) == (planned.amount, planned.currency,
                                                          planned.credit)


def test_every_invalid_transaction_is_rejected(stream: list[Planned]) -> None:
    invalid = [p for p in stream if p.kind == INVALID]
    assert {p.fault for p in invalid} == set(FAULTS)  # every kind of fault shows up
    for planned in invalid:
        with pytest.raises(ValidationError):
            validate_transaction(planned.raw, START)


def test_accounts_are_iban_shaped_and_reused() -> None:
    cast = build_cast(5, 500)
    assert len({a.iban for a in cast.accounts}) == 500
    for account in cast.accounts:
        assert re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{8,30}", account.iban), account.iban
    uses = Counter(p.raw.get("account") for p in items(count=2000, accounts=100))
    assert len(uses) > 50 and max(uses.values()) > 2


def test_amounts_are_skewed_and_respect_each_currencys_minor_digits(
        stream: list[Planned]) -> None:
    valid = [p for p in stream if p.should_be_accepted]
    for planned in valid:
        exponent = Decimal(planned.raw["amount"]).as_tuple().exponent
        assert exponent == -MINOR_DIGITS[planned.currency]
    usd = sorted(p.amount for p in valid if p.currency == "USD" and not p.rule)
    median, p99 = usd[len(usd) // 2], usd[int(len(usd) * 0.99)]
    assert median < 100 < 1000 < p99  # many small amounts, a long tail
    assert {p.credit for p in valid} == {True, False}


def test_simulator_currencies_are_ones_the_api_accepts_with_the_same_digits() -> None:
    for code, digits in MINOR_DIGITS.items():
        assert MINOR_UNITS[code] == digits


def test_timestamps_move_forward_and_never_run_more_than_five_minutes_ahead() -> None:
    stream = items(count=20000, scenario="normal", invalid=0, duplicate=0)
    stamps = [datetime.fromisoformat(p.raw["timestamp"]) for p in stream]
    assert stamps == sorted(stamps)
    assert stamps[0] >= START
    assert max(stamps) <= START + timedelta(minutes=5)


def tripped_rules(stream: list[Planned]) -> Counter[str]:
    """Replay the accepted stream, in order, through the service's own rules; every pattern's
    last step must trip the rule it was built for."""
    states: dict[str, AccountState] = {}
    cfg, seen_ids, tripped = RuleConfig(), set(), Counter[str]()
    for planned in stream:
        if not planned.should_be_accepted or planned.id in seen_ids:
            continue
        seen_ids.add(planned.id)
        tx: Transaction = validate_transaction(planned.raw, START)
        state = states.get(tx.account, AccountState())
        flags = evaluate(tx, state, cfg)
        states[tx.account] = remember(state, tx.with_flags(flags), RuleConfig())
        if planned.rule:
            assert planned.rule in flags, (planned.rule, planned.raw)
            tripped[planned.rule] += 1
    return tripped


def test_fraud_scenario_trips_every_rule_at_the_default_thresholds(
        stream: list[Planned]) -> None:
    assert set(tripped_rules(stream)) == set(RULES)


def spread_items(count: int, hours: int, seed: int = 1, scenario: str = "fraud",
                 invalid: float = 0.05) -> list[Planned]:
    """A backdated run as `--history` makes it, with the wall clock pinned at START."""
    cast = build_cast(seed, 300, ALL_CURRENCIES)
    spread = Spread(START - timedelta(hours=hours), START, count)
    gen = Generator(cast, seed, START, Mix(scenario, invalid, 0.05), lambda: START,
                    timedelta(0), spread)
    return [p for group in take(gen.groups(), count) for p in group]


def test_history_spreads_the_run_over_the_past_busier_by_day_and_none_in_the_future() -> None:
    stream = spread_items(3000, 72)
    stamps = [datetime.fromisoformat(p.raw["timestamp"]) for p in stream if p.kind == VALID]
    assert len(stream) == 3000
    assert stamps == sorted(stamps)  # patterns included: a burst stays inside its slots
    # (a replay resends an earlier item as it was, so it is left out)
    assert START - timedelta(hours=72) <= min(stamps) and max(stamps) <= START
    invalid = [p for p in stream if p.fault == "future_timestamp"]
    assert invalid
    for planned in invalid:  # "future" is measured from the real clock, not the backdated one
        assert datetime.fromisoformat(planned.raw["timestamp"]) > START
    # Ordinary traffic fills every hour, noon busier than 3 a.m. (a fraud burst may take a quiet
    # hour's few slots, so that stream is left out here).
    ordinary = [datetime.fromisoformat(p.raw["timestamp"])
                for p in spread_items(3000, 72, scenario="normal", invalid=0)]
    per_hour = Counter(s.replace(minute=0, second=0, microsecond=0) for s in ordinary)
    assert len(per_hour) == 72
    by_time_of_day = Counter[int]()
    for hour, n in per_hour.items():
        by_time_of_day[hour.hour] += n
    assert by_time_of_day[11] > 5 * by_time_of_day[3]


def test_a_thinly_spread_history_still_trips_every_rule() -> None:
    # 600 transactions over a week: ~17 minutes apart, yet each fraud pattern is a quick burst
    # (velocity needs 11 steps within an hour)
    stream = spread_items(600, 168, seed=4)
    assert set(tripped_rules(stream)) == set(RULES)


def test_the_spread_puts_each_share_of_the_traffic_in_order_within_the_span() -> None:
    spread = Spread(START - timedelta(hours=5, minutes=30), START, 100)
    slots = [spread.slot(k) for k in range(100)]
    assert slots[0].start == START - timedelta(hours=5, minutes=30)
    assert slots[-1].end == START and spread.slot(500) == slots[-1]
    assert all(a.end == b.start and a.start < a.end for a, b in itertools.pairwise(slots))
    with pytest.raises(ValueError):
        Spread(START, START, 10)


def test_history_on_the_command_line_ends_now_and_refuses_a_pinned_start() -> None:
    before = datetime.now(UTC)
    lines = dry_run("--count", "200", "--seed", "9", "--history", "48", "--invalid-rate", "0")
    stamps = [datetime.fromisoformat(json.loads(line)["timestamp"]) for line in lines.splitlines()]
    assert len(stamps) == 200
    assert before - timedelta(hours=48, seconds=1) <= min(stamps)
    assert max(stamps) <= datetime.now(UTC)
    assert max(stamps) - min(stamps) > timedelta(hours=40)
    for bad in (["--history", "0"], ["--history", "24", "--start", "2026-01-10T14:00:00Z"],
                ["--history", "24", "--duration", "5"]):
        with pytest.raises(SystemExit):
            main(["--dry-run", *bad])


def test_a_live_run_never_stamps_a_transaction_in_the_future() -> None:
    lines = dry_run("--count", "3000", "--seed", "3", "--invalid-rate", "0")
    latest = max(datetime.fromisoformat(json.loads(line)["timestamp"])
                 for line in lines.splitlines())
    assert latest <= datetime.now(UTC)


def test_normal_scenario_injects_no_fraud_patterns() -> None:
    assert not any(p.rule for p in items(scenario="normal", count=2000))


def test_batches_keep_each_pattern_whole_and_in_order_within_one_unit() -> None:
    gen = Generator(build_cast(1, 300, ALL_CURRENCIES), 1, START, Mix("fraud", 0.1, 0.05))
    groups = list(take(gen.groups(), 3000))
    patterns = [g for g in groups if len(g) > 1]
    assert patterns
    for batch_size in (1, 7, 100):
        where: dict[str, int] = {}
        sent: list[str] = []
        for n, unit in enumerate(units(groups, batch_size)):
            assert all(1 <= len(r.items) <= batch_size for r in unit)
            for request in unit:
                for p in request.items:
                    where.setdefault(p.id, n)
                    sent.append(p.id)
        assert sent == [p.id for g in groups for p in g]  # nothing lost, order kept
        for group in patterns:
            assert len({where[p.id] for p in group}) == 1
