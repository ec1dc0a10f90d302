"""Built-in suspicious-activity rules: pure functions of a transaction, its account's state and
the bank's parameters, each answering with the evidence that decided it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from chalicelib.domain.account_stats import Welford
from chalicelib.domain.model import Transaction

LARGE_AMOUNT = "large_amount"
STRUCTURING = "structuring"
VELOCITY = "velocity"
ROUND_AMOUNT = "round_amount"
RAPID_IN_OUT = "rapid_in_out"
UNUSUAL_AMOUNT = "unusual_amount"  # the statistical rule: built in, not in the default set
RULES = (LARGE_AMOUNT, STRUCTURING, VELOCITY, ROUND_AMOUNT, RAPID_IN_OUT)  # the default set

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
    """Thresholds of the rules; the defaults docs/configuration.md lists, overridable through
    FLAG_* variables."""

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
    """An account's recent past and running statistics, with the version its store holds
    (0: never seen). `stats` are per currency (Welford), `first` the epoch second of its first
    transaction, `merchants` tags of the newest distinct merchants (only when a rule reads
    `merchant_known`)."""

    seen: tuple[Seen, ...] = field(default=())
    version: int = 0
    stats: tuple[tuple[str, Welford], ...] = ()
    first: int | None = None
    merchants: tuple[str, ...] = ()

    def stats_for(self, currency: str) -> Welford:
        for code, stats in self.stats:
            if code == currency:
                return stats
        return Welford()

    def to_json(self) -> Any:
        """Compact JSON: the plain list of rows while there is nothing else (as before)."""
        rows = [s.to_json() for s in self.seen]
        if not self.stats and self.first is None and not self.merchants:
            return rows
        body: dict[str, Any] = {"s": rows, "w": {c: w.to_json() for c, w in self.stats}}
        if self.first is not None:
            body["f"] = self.first
        if self.merchants:
            body["m"] = list(self.merchants)
        return body

    @classmethod
    def from_json(cls, body: Any, version: int) -> AccountState:
        if isinstance(body, list):  # written before the statistics existed
            return cls(tuple(Seen.from_json(r) for r in body), version)
        stats = tuple((str(c), Welford.from_json(w)) for c, w in body.get("w", {}).items())
        first = body.get("f")
        return cls(tuple(Seen.from_json(r) for r in body.get("s", [])), version, stats,
                   None if first is None else int(first),
                   tuple(str(m) for m in body.get("m", [])))


def unit_scale(currency: str) -> int:
    """The factor the amount thresholds are multiplied by for `currency` (1 for most)."""
    return UNIT_SCALE.get(currency, 1)


# --- the built-in rules, each with its parameters, answering with its evidence or None ------

Evidence = dict[str, str | int | bool]
MONEY, COUNT, SECONDS, FRACTION, NUMBER = "money", "count", "seconds", "fraction", "number"


@dataclass(frozen=True)
class Params:
    """A built-in's parameters: the bank's base values (money in major-currency units, scaled
    by `unit_scale`) and exact per-currency overrides (never scaled)."""

    base: Mapping[str, Decimal]
    by_currency: Mapping[str, Mapping[str, Decimal]] = field(default_factory=dict)
    money: frozenset[str] = frozenset()
    # resolved values per currency: every transaction asks, the answer never changes
    _resolved: dict[str, dict[str, Decimal]] = field(default_factory=dict, compare=False,
                                                     repr=False)

    def values(self, currency: str) -> dict[str, Decimal]:
        """Every parameter for `currency`, resolved once (a check reads several)."""
        found = self._resolved.get(currency)
        if found is None:
            scale = unit_scale(currency)
            found = {k: v * scale if k in self.money else v for k, v in self.base.items()}
            found.update(self.by_currency.get(currency, {}))
            if len(self._resolved) < 1000:  # bounded: currencies are few
                self._resolved[currency] = found
        return found


def _text(value: Decimal) -> str:
    return str(value)


# Each check resolves its parameters once (`p.values`) and reads the time as epoch seconds once
# per transaction (`tx.epoch`): they run for every rule of every transaction ingested.

def _large_amount(tx: Transaction, state: AccountState, p: Params) -> Evidence | None:
    threshold = p.values(tx.currency)["amount"]
    if tx.amount >= threshold:
        return {"amount": _text(tx.amount), "currency": tx.currency, "threshold": _text(threshold)}
    return None


def _is_near(amount: Decimal, large: Decimal, margin: Decimal) -> bool:
    return large * (1 - margin) <= amount < large


def _structuring(tx: Transaction, state: AccountState, p: Params) -> Evidence | None:
    v = p.values(tx.currency)
    large, margin = v["amount"], v["margin"]
    if not _is_near(tx.amount, large, margin):
        return None
    now = tx.epoch
    near = [s.amount for s in state.seen if s.currency == tx.currency
            and abs(now - s.epoch) <= MEMORY_S and _is_near(s.amount, large, margin)]
    total = sum(near, tx.amount)
    if len(near) + 1 >= int(v["count"]) and total >= large:
        return {"amount": _text(tx.amount), "currency": tx.currency, "threshold": _text(large),
                "near_count": len(near) + 1, "near_total": _text(total), "window_s": MEMORY_S}
    return None


def _velocity(tx: Transaction, state: AccountState, p: Params) -> Evidence | None:
    v = p.values(tx.currency)
    window, limit = int(v["window_s"]), int(v["count"])
    if len(state.seen) < limit:
        return None  # fewer remembered than the limit: the window cannot hold more
    now = tx.epoch
    recent = sum(1 for s in state.seen if abs(now - s.epoch) <= window) + 1
    if recent > limit:
        return {"count": recent, "limit": limit, "window_s": window}
    return None


def _round_amount(tx: Transaction, state: AccountState, p: Params) -> Evidence | None:
    v = p.values(tx.currency)
    least, unit = v["min"], v["unit"]
    if tx.amount >= least and tx.amount % unit == 0:
        return {"amount": _text(tx.amount), "currency": tx.currency, "min": _text(least),
                "unit": _text(unit)}
    return None


def _rapid_in_out(tx: Transaction, state: AccountState, p: Params) -> Evidence | None:
    v = p.values(tx.currency)
    least = v["min_amount"]
    if tx.is_credit or tx.amount < least:
        return None
    now = tx.epoch
    window, tolerance = int(v["window_s"]), v["tolerance"]
    for s in state.seen:
        if (s.credit and s.currency == tx.currency and 0 <= now - s.epoch <= window
                and abs(tx.amount - s.amount) <= s.amount * tolerance):
            return {"amount": _text(tx.amount), "currency": tx.currency,
                    "credit_amount": _text(s.amount), "seconds_after_credit": int(now - s.epoch),
                    "tolerance": _text(tolerance), "window_s": window}
    return None


def _unusual_amount(tx: Transaction, state: AccountState, p: Params) -> Evidence | None:
    v = p.values(tx.currency)
    stats = state.stats_for(tx.currency)
    if stats.n < int(v["min_history"]):
        return None  # quiet until the account has history enough to know what is usual
    z = stats.zscore(tx.amount)
    limit = v["z"]
    if abs(z) >= limit:
        return {"amount": _text(tx.amount), "currency": tx.currency, "mean": _text(stats.mean),
                "stddev": _text(stats.stddev), "zscore": _text(z.quantize(Decimal("0.01"))),
                "z": _text(limit), "history": stats.n}
    return None


@dataclass(frozen=True)
class Builtin:
    """A built-in rule: its parameters' kinds, its defaults (from RuleConfig) and its test."""

    name: str
    kinds: Mapping[str, str]
    defaults: Callable[[RuleConfig], dict[str, Decimal]]
    check: Callable[[Transaction, AccountState, Params], Evidence | None]


BUILTINS: dict[str, Builtin] = {b.name: b for b in (
    Builtin(LARGE_AMOUNT, {"amount": MONEY},
            lambda c: {"amount": c.large_amount}, _large_amount),
    Builtin(STRUCTURING, {"amount": MONEY, "margin": FRACTION, "count": COUNT},
            lambda c: {"amount": c.large_amount, "margin": c.structuring_margin,
                       "count": Decimal(c.structuring_count)}, _structuring),
    Builtin(VELOCITY, {"count": COUNT, "window_s": SECONDS},
            lambda c: {"count": Decimal(c.velocity_count),
                       "window_s": Decimal(c.velocity_window_s)}, _velocity),
    Builtin(ROUND_AMOUNT, {"min": MONEY, "unit": MONEY},
            lambda c: {"min": c.round_amount_min, "unit": c.round_amount_unit}, _round_amount),
    Builtin(RAPID_IN_OUT, {"window_s": SECONDS, "tolerance": FRACTION, "min_amount": MONEY},
            lambda c: {"window_s": Decimal(c.rapid_window_s), "tolerance": c.rapid_tolerance,
                       "min_amount": c.rapid_min_amount}, _rapid_in_out),
    Builtin(UNUSUAL_AMOUNT, {"z": NUMBER, "min_history": COUNT},
            lambda c: {"z": Decimal(4), "min_history": Decimal(20)}, _unusual_amount),
)}


def evaluate(tx: Transaction, state: AccountState, cfg: RuleConfig) -> tuple[str, ...]:
    """The names of today's five rules `tx` trips under `cfg` (the default rule set)."""
    from chalicelib.domain.rule_sets import default_rule_set, evaluate_set

    return evaluate_set(tx, state, default_rule_set(cfg)).flags


def remember(state: AccountState, tx: Transaction, cfg: RuleConfig | Any) -> AccountState:
    """The state after `tx` under `cfg` (a RuleConfig: the default set; or a RuleSet)."""
    from chalicelib.domain.rule_sets import remember as remember_under

    return remember_under(state, tx, cfg)
