"""Fraud patterns, each built to trip one flag rule (chalicelib/domain/rules.py) by default."""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

from chalicelib.domain.rules import RULES, RuleConfig, unit_scale
from simulator.money import MINOR_DIGITS, from_minor

# Sized against the rules' defaults (read from chalicelib.domain.rules, not copied);
# tests/unit/simulator/test_generator.py replays the patterns through the rules to prove they trip.
_DEFAULTS = RuleConfig()
LARGE = int(_DEFAULTS.large_amount)
NEAR = int(_DEFAULTS.large_amount * (1 - _DEFAULTS.structuring_margin))  # structuring's band
VELOCITY_COUNT = _DEFAULTS.velocity_count
RAPID_MIN = int(_DEFAULTS.rapid_min_amount)
PATTERNS = RULES


@dataclass(frozen=True)
class Move:
    """One step of a pattern: amount, direction and how it is described."""

    amount: Decimal
    credit: bool
    description: str
    channel: str


def _odd(rng: random.Random, low: int, high: int, currency: str) -> Decimal:
    """A whole amount in [low, high) x the currency's threshold scale that is not a round
    multiple (1,000 x scale), plus cents if any."""
    scale = unit_scale(currency)
    whole = rng.randrange(low * scale, high * scale)
    if whole % (1000 * scale) == 0:
        whole += 7
    cents = rng.randrange(1, 100) if MINOR_DIGITS[currency] else 0
    return from_minor(whole * 10 ** MINOR_DIGITS[currency] + cents, currency)


def pattern(rule: str, rng: random.Random, currency: str) -> list[Move]:
    """The moves that make one account trip `rule` (the last move is the one flagged)."""
    if rule == "large_amount":
        return [Move(_odd(rng, LARGE + 1, 5 * LARGE, currency), rng.random() < 0.5,
                     "Wire transfer", "transfer")]
    if rule == "structuring":
        return [Move(_odd(rng, NEAR + 100, LARGE - 100, currency), True, "Cash deposit", "atm")
                for _ in range(3)]
    if rule == "velocity":
        return [Move(_odd(rng, 5, 60, currency), False, "Gift card top-up", "online")
                for _ in range(VELOCITY_COUNT + 2)]
    if rule == "round_amount":
        whole = rng.choice((5_000, 6_000, 7_000, 8_000))  # below the large and near bands
        whole *= unit_scale(currency)
        return [Move(from_minor(whole * 10 ** MINOR_DIGITS[currency], currency), False,
                     "Transfer to new payee", "transfer")]
    if rule == "rapid_in_out":
        came = _odd(rng, 2 * RAPID_MIN, 8 * RAPID_MIN, currency)
        # 3% less than what came in: within the rule's 10% tolerance, never a round amount.
        left = (came * Decimal("0.97")).quantize(Decimal(1).scaleb(-MINOR_DIGITS[currency]))
        return [Move(came, True, "Incoming transfer", "transfer"),
                Move(left, False, "Outgoing transfer", "transfer")]
    raise ValueError(f"unknown rule {rule!r}")
