"""Suspicious-activity rules: pure functions of a transaction and its account's recent past."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from chalicelib.domain.model import Transaction

LARGE_AMOUNT = "large_amount"
STRUCTURING = "structuring"
VELOCITY = "velocity"
ROUND_AMOUNT = "round_amount"
RAPID_IN_OUT = "rapid_in_out"
RULES = (LARGE_AMOUNT, STRUCTURING, VELOCITY, ROUND_AMOUNT, RAPID_IN_OUT)

# Amount thresholds are set in units of a major currency (USD, EUR, GBP, CHF...). For a currency
# whose unit is worth far less they are multiplied by this power of ten, so that ¥10,000 (about
# $65) is not "large". An order of magnitude, deliberately not an exchange rate.
UNIT_SCALE: dict[str, int] = {
    "CNY": 10, "CZK": 10, "DKK": 10, "HKD": 10, "MXN": 10, "NOK": 10, "SEK": 10, "THB": 10,
    "TRY": 10, "ZAR": 10, "HUF": 100, "INR": 100, "JPY": 100, "KRW": 1000, "IDR": 10000,
}
MEMORY_S = 24 * 3600  # the longest window any rule looks back over
MEMORY_ITEMS = 100  # cap on remembered transactions per account (bounds the state item)


@dataclass(frozen=True)
class RuleConfig:
    """Thresholds of the rules; DESIGN.md's defaults, overridable through FLAG_* variables."""

    large_amount: Decimal = Decimal(10000)
    # structuring: amounts within this fraction below the large threshold ...
    structuring_margin: Decimal = Decimal("0.10")
    # ... at least this many of them in 24 hours, summing to at least the threshold
    structuring_count: int = 3
    velocity_count: int = 10  # more than this many transactions ...
    velocity_window_s: int = 3600  # ... within this window
    round_amount_min: Decimal = Decimal(5000)
    round_amount_unit: Decimal = Decimal(1000)
    rapid_window_s: int = 3600  # a debit within this time after a credit ...
    rapid_tolerance: Decimal = Decimal("0.10")  # ... of a size within 10% of it
    rapid_min_amount: Decimal = Decimal(1000)


@dataclass(frozen=True)
class Seen:
    """What the rules remember of one past transaction of the account."""

    epoch: float
    amount: Decimal
    currency: str
    credit: bool

    def to_json(self) -> list[object]:
        return [self.epoch, str(self.amount), self.currency, self.credit]

    @classmethod
    def from_json(cls, row: list[Any]) -> Seen:
        # hot path (every account of every batch): the stored types are already right
        return cls(row[0], Decimal(row[1]), row[2], row[3])


@dataclass(frozen=True)
class AccountState:
    """An account's recent past, with the version its store holds (0: never seen)."""

    seen: tuple[Seen, ...] = field(default=())
    version: int = 0

    def to_json(self) -> list[list[object]]:
        return [s.to_json() for s in self.seen]

    @classmethod
    def from_json(cls, rows: list[list[Any]], version: int) -> AccountState:
        return cls(tuple(Seen.from_json(r) for r in rows), version)


def unit_scale(currency: str) -> int:
    """The factor the amount thresholds are multiplied by for `currency` (1 for most)."""
    return UNIT_SCALE.get(currency, 1)


def _near_threshold(amount: Decimal, large: Decimal, cfg: RuleConfig) -> bool:
    return large * (1 - cfg.structuring_margin) <= amount < large


def evaluate(tx: Transaction, state: AccountState, cfg: RuleConfig) -> tuple[str, ...]:
    """The names of the rules `tx` trips, given what its account did before."""
    now = tx.timestamp.timestamp()
    scale = unit_scale(tx.currency)
    large = cfg.large_amount * scale
    flags: list[str] = []
    if tx.amount >= large:
        flags.append(LARGE_AMOUNT)
    if _near_threshold(tx.amount, large, cfg):
        near = [s.amount for s in state.seen if s.currency == tx.currency
                and abs(now - s.epoch) <= MEMORY_S and _near_threshold(s.amount, large, cfg)]
        if len(near) + 1 >= cfg.structuring_count and sum(near) + tx.amount >= large:
            flags.append(STRUCTURING)
    recent = sum(1 for s in state.seen if abs(now - s.epoch) <= cfg.velocity_window_s)
    if recent + 1 > cfg.velocity_count:
        flags.append(VELOCITY)
    if (tx.amount >= cfg.round_amount_min * scale
            and tx.amount % (cfg.round_amount_unit * scale) == 0):
        flags.append(ROUND_AMOUNT)
    if not tx.is_credit and tx.amount >= cfg.rapid_min_amount * scale:
        for s in state.seen:
            if (s.credit and s.currency == tx.currency and 0 <= now - s.epoch <= cfg.rapid_window_s
                    and abs(tx.amount - s.amount) <= s.amount * cfg.rapid_tolerance):
                flags.append(RAPID_IN_OUT)
                break
    return tuple(flags)


def _worth_keeping(seen: Seen, cfg: RuleConfig) -> bool:
    """Amounts that a later transaction's structuring or rapid_in_out test may look back at:
    near-threshold amounts, and every credit a debit of at least the minimum can match (one
    within the tolerance of it: from min / (1 + tolerance) up, not only from the minimum)."""
    scale = unit_scale(seen.currency)
    return (_near_threshold(seen.amount, cfg.large_amount * scale, cfg)
            or (seen.credit
                and seen.amount * (1 + cfg.rapid_tolerance) >= cfg.rapid_min_amount * scale))


def remember(state: AccountState, tx: Transaction, cfg: RuleConfig) -> AccountState:
    """The state after `tx`, holding only what a rule can still use: the newest
    `velocity_count` transactions of the velocity window, and the amounts structuring and
    rapid_in_out look back at within a day. Small states keep every batch cheap."""
    entry = Seen(tx.timestamp.timestamp(), tx.amount, tx.currency, tx.is_credit)
    seen = list(state.seen)  # kept sorted by time
    bisect.insort(seen, entry, key=lambda s: s.epoch)
    newest = seen[-1].epoch
    epochs = [s.epoch for s in seen]
    # the velocity window's newest `velocity_count` entries are a suffix of the sorted list
    recent_from = max(len(seen) - cfg.velocity_count,
                      bisect.bisect_left(epochs, newest - cfg.velocity_window_s))
    day_from = bisect.bisect_left(epochs, newest - MEMORY_S)
    kept = [s for i, s in enumerate(seen[day_from:], day_from)
            if i >= recent_from or _worth_keeping(s, cfg)]
    return AccountState(tuple(kept[-MEMORY_ITEMS:]), state.version)
