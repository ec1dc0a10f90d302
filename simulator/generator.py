"""The transaction stream: ordinary banking, plus fraud patterns, replays and broken items."""

from __future__ import annotations

import hashlib
import itertools
import math
import random
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from simulator import fraud
from simulator.bank import CHANNELS, Account, Cast
from simulator.faults import break_it
from simulator.money import MINOR_DIGITS, SCALE, from_minor, text
from simulator.pace import Spread
from simulator.plan import INVALID, REPLAY, VALID, Group, Planned

# A pinned clock (--start) may run this far past it; the API refuses more than 5 minutes ahead.
# A live run's timestamps never pass the real clock.
AHEAD = timedelta(minutes=4)
PATTERN_GAP_S = (1.0, 30.0)  # a backdated fraud pattern's steps follow each other this closely
NORMAL_CAP_USD = 8_000  # ordinary traffic stays below the fraud bands
FRAUD_RATE = 0.02  # in the fraud scenario, the chance that a step starts a pattern


@dataclass(frozen=True)
class Mix:
    """What the stream is made of, besides ordinary transactions."""

    scenario: str = "normal"  # or "fraud"
    invalid_rate: float = 0.0
    duplicate_rate: float = 0.0
    gap_s: float = 0.05  # mean simulated time between two transactions


def run_tag(seed: int, start: datetime) -> str:
    """A short tag for ids: the same seed and start give the same ids, another run new ones."""
    return hashlib.sha256(f"{seed}:{start.isoformat()}".encode()).hexdigest()[:8]


def stamp(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, e.g. 2026-01-10T14:00:00.250Z."""
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


class Generator:
    """A reproducible stream of groups of planned transactions (see `groups`)."""

    def __init__(self, cast: Cast, seed: int, start: datetime, mix: Mix,
                 wallclock: Callable[[], datetime] | None = None,
                 ahead: timedelta = AHEAD, spread: Spread | None = None) -> None:
        self.cast = cast
        self.mix = mix
        self.rng = random.Random(seed ^ 0x5EED)
        self.tag = run_tag(seed, start)
        self.clock = start.astimezone(UTC)
        # The cap on timestamps follows the real clock in a live run; a fixed clock (tests,
        # --start) keeps the stream a pure function of the seed.
        self.wallclock = wallclock or (lambda: start)
        self.ahead = ahead
        # A backdated run (--history) stamps item k inside its slot of the spread instead.
        self.spread = spread
        self.slots = itertools.count()
        self.seq = itertools.count(1)
        self.recent: deque[Planned] = deque(maxlen=500)
        self.cum_weights = list(itertools.accumulate(a.weight for a in cast.accounts))
        self.next_rule = itertools.cycle(fraud.PATTERNS)

    def _account(self) -> Account:
        return self.rng.choices(self.cast.accounts, cum_weights=self.cum_weights)[0]

    def _tick(self) -> str:
        if self.spread is not None:
            slot = self.spread.slot(next(self.slots))
            moment = slot.start + (slot.end - slot.start) * self.rng.random()
            return stamp(min(moment, self.wallclock()))
        self.clock += timedelta(seconds=self.rng.expovariate(1 / self.mix.gap_s))
        return stamp(min(self.clock, self.wallclock() + self.ahead))

    def _burst(self, size: int) -> list[str | None]:
        """Timestamps for a pattern of `size` steps in a backdated run: the first in its own slot,
        the others seconds apart within the group's slots (a pattern is quick however thinly
        the run is spread). None in a live or pinned run: each step ticks the clock as before."""
        if self.spread is None:
            return [None] * size
        first = next(self.slots)
        for _ in range(size - 1):
            next(self.slots)
        slot, last = self.spread.slot(first), self.spread.slot(first + size - 1)
        moment = slot.start + (slot.end - slot.start) * self.rng.random()
        ceiling = min(last.end - timedelta(milliseconds=1), self.wallclock())
        stamps: list[str | None] = []
        for _ in range(size):
            moment = max(min(moment, ceiling), slot.start)
            stamps.append(stamp(moment))
            moment += timedelta(seconds=self.rng.uniform(*PATTERN_GAP_S))
        return stamps

    def _planned(self, account: Account, amount: Decimal, credit: bool, extra: dict[str, str],
                 rule: str | None = None, when: str | None = None) -> Planned:
        raw: dict[str, Any] = {"id": f"{self.tag}-{next(self.seq):07d}", "account": account.iban,
                               "amount": text(amount), "currency": account.currency,
                               "type": "credit" if credit else "debit",
                               "timestamp": self._tick() if when is None else when}
        raw.update(extra)
        return Planned(raw, VALID, amount, account.currency, credit, rule)

    def _amount(self, median_usd: float, sigma: float, currency: str) -> Decimal:
        """A log-normal amount: many small ones, a long tail of large ones."""
        usd = min(self.rng.lognormvariate(math.log(median_usd), sigma), NORMAL_CAP_USD)
        units = int(usd * SCALE[currency] * 10 ** MINOR_DIGITS[currency])
        return from_minor(max(units, 1), currency)

    def ordinary(self) -> Planned:
        """One everyday transaction: purchases and bills out, salaries and transfers in."""
        acct, rng, cast = self._account(), self.rng, self.cast
        roll = rng.random()
        if roll < 0.08:
            employer = rng.choice(cast.employers)
            return self._planned(acct, self._amount(2500, 0.4, acct.currency), True,
                                 {"description": f"Salary {employer}", "counterparty": employer,
                                  "channel": "transfer"})
        if roll < 0.25:
            person = rng.choice(cast.people)
            return self._planned(acct, self._amount(120, 1.0, acct.currency), True,
                                 {"description": f"Transfer from {person}",
                                  "counterparty": person, "channel": rng.choice(CHANNELS[1:3])})
        if roll < 0.32:
            units = rng.randrange(1, 21) * 20 * SCALE[acct.currency]  # cash comes in notes
            return self._planned(acct, from_minor(units * 10 ** MINOR_DIGITS[acct.currency],
                                                  acct.currency), False,
                                 {"description": "ATM withdrawal", "channel": "atm"})
        shop = rng.choice(cast.merchants)
        if roll < 0.42:
            return self._planned(acct, self._amount(60, 0.6, acct.currency), False,
                                 {"description": f"{shop.category.title()} bill",
                                  "merchant": shop.name, "channel": "direct_debit"})
        if roll < 0.45:
            return self._planned(acct, self._amount(30, 0.8, acct.currency), True,
                                 {"description": f"Refund {shop.name}", "merchant": shop.name,
                                  "channel": "online"})
        return self._planned(acct, self._amount(35, 1.1, acct.currency), False,
                             {"description": f"{shop.category.title()} purchase",
                              "merchant": shop.name,
                              "channel": rng.choice(("card_present", "online", "mobile"))})

    def fraud_group(self, rule: str) -> Group:
        """One pattern on one account, in order; its last item is meant to be flagged `rule`."""
        acct = self._account()
        moves = fraud.pattern(rule, self.rng, acct.currency)
        stamps = self._burst(len(moves))
        return [self._planned(acct, m.amount, m.credit,
                              {"description": m.description, "channel": m.channel},
                              rule if i == len(moves) - 1 else None, stamps[i])
                for i, m in enumerate(moves)]

    def groups(self) -> Iterator[Group]:
        """An endless stream; a group is one item, or a pattern that must stay in order."""
        mix, rng = self.mix, self.rng
        while True:
            roll = rng.random()
            if roll < mix.invalid_rate:
                base = self.ordinary()
                raw, fault = break_it(base.raw, rng, self.wallclock())
                yield [Planned(raw, INVALID, fault=fault)]
            elif roll < mix.invalid_rate + mix.duplicate_rate and self.recent:
                again = rng.choice(self.recent)
                next(self.slots)  # a backdated run's slots are its items': a replay skips one
                yield [Planned(dict(again.raw), REPLAY, again.amount, again.currency,
                               again.credit)]
            elif mix.scenario == "fraud" and rng.random() < FRAUD_RATE:
                # Not offered for replay: a replay overtaking its pattern on another worker
                # would be judged without the pattern's history, and miss its flag.
                yield self.fraud_group(next(self.next_rule))
            else:
                item = self.ordinary()
                self.recent.append(item)
                yield [item]


def take(groups: Iterator[Group], count: int) -> Iterator[Group]:
    """Groups holding exactly `count` items in all (the last one may be cut short)."""
    left = count
    for group in groups:
        if left <= 0:
            return
        yield group[:left]
        left -= len(group)
