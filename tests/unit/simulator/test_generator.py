"""The Faker bank's data: reproducible, valid where meant to be, invalid where meant to be."""

from __future__ import annotations

import io
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
from simulator.plan import INVALID, Planned
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


def test_fraud_scenario_trips_every_rule_at_the_default_thresholds(
        stream: list[Planned]) -> None:
    """Replay the accepted stream, in order, through the service's own rules."""
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
    assert set(tripped) == set(RULES)


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
