"""An account's running statistics of amounts per currency (Welford's update), exact on replay.

Every step uses one fixed decimal context, never the thread's, and the values are kept as the
Decimals that context produced: the same transactions in the same order give the same digits
on every store and every replay (a store keeps them as their decimal text, which round-trips).
Sixteen significant digits keep the account item compact (a currency costs ~45 bytes).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any

STATS = Context(prec=16, rounding=ROUND_HALF_EVEN)
ZERO = Decimal(0)


@dataclass(frozen=True)
class Welford:
    """Count, mean and sum of squared deviations of the amounts seen in one currency."""

    n: int = 0
    mean: Decimal = ZERO
    m2: Decimal = ZERO

    def add(self, amount: Decimal) -> Welford:
        """The statistics with one more amount (Welford's update)."""
        n = self.n + 1
        delta = STATS.subtract(amount, self.mean)
        mean = STATS.add(self.mean, STATS.divide(delta, Decimal(n)))
        m2 = STATS.add(self.m2, STATS.multiply(delta, STATS.subtract(amount, mean)))
        return Welford(n, mean, m2)

    @property
    def stddev(self) -> Decimal:
        """The sample standard deviation (0 below two amounts)."""
        if self.n < 2:
            return ZERO
        return STATS.sqrt(STATS.divide(self.m2, Decimal(self.n - 1)))

    def zscore(self, amount: Decimal) -> Decimal:
        """How many standard deviations `amount` lies from the mean (0 when there is no
        spread yet: then nothing is unusual)."""
        spread = self.stddev
        if not spread:
            return ZERO
        return STATS.divide(STATS.subtract(amount, self.mean), spread)

    def to_json(self) -> list[Any]:
        return [self.n, str(self.mean), str(self.m2)]

    @classmethod
    def from_json(cls, row: list[Any]) -> Welford:
        return cls(int(row[0]), Decimal(str(row[1])), Decimal(str(row[2])))


def merchant_tag(merchant: str) -> str:
    """A short, stable tag of a merchant's name (8 hex digits): what the account state keeps
    to tell a new merchant from a known one without storing names (a clash is 1 in 4 billion)."""
    return hashlib.blake2s(merchant.strip().lower().encode("utf-8"), digest_size=4).hexdigest()
