"""A bank's rule set as data: built-ins with parameters and expressions, evaluated with evidence,
and what the account state must remember for them (rule_set_input checks a body). Pure."""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any

from chalicelib.domain import rule_expressions as rx
from chalicelib.domain.account_stats import ZERO, Welford, merchant_tag
from chalicelib.domain.model import FlagDetail, Transaction
from chalicelib.domain.rules import (
    BUILTINS,
    MEMORY_ITEMS,
    MEMORY_S,
    MONEY,
    RAPID_IN_OUT,
    RULES,
    STRUCTURING,
    VELOCITY,
    AccountState,
    Evidence,
    Params,
    RuleConfig,
    Seen,
)

MAX_RULES = 50  # rules in one bank's set
MAX_CURRENCY_STATS = 4  # currencies whose running statistics an account keeps (compact item)
MAX_MERCHANTS = 16  # merchant tags an account keeps when a rule reads `merchant_known`
NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
CURRENCY = re.compile(r"[A-Z]{3}")
HOUR_S, DAY_S = 3600, 86400

# The variables an expression may read, and their types (docs/rules.md documents each).
VARIABLES: dict[str, str] = {
    "amount": rx.NUMBER, "currency": rx.TEXT, "type": rx.TEXT, "is_credit": rx.BOOL,
    "account": rx.TEXT, "merchant": rx.TEXT, "counterparty": rx.TEXT, "channel": rx.TEXT,
    "description": rx.TEXT, "hour": rx.NUMBER, "weekday": rx.NUMBER,
    "count_1h": rx.NUMBER, "count_24h": rx.NUMBER, "sum_24h": rx.NUMBER,
    "history": rx.NUMBER, "mean": rx.NUMBER, "stddev": rx.NUMBER, "zscore": rx.NUMBER,
    "days_known": rx.NUMBER, "merchant_known": rx.BOOL,
}
_WINDOW_OF = {"count_1h": HOUR_S, "count_24h": DAY_S, "sum_24h": DAY_S}


@dataclass(frozen=True)
class Rule:
    """One rule of a set: a built-in with its parameters, or an expression."""

    name: str
    builtin: str | None = None
    params: Params | None = None
    expression: rx.Expression | None = None
    description: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"name": self.name}
        if self.builtin is not None and self.params is not None:
            body["builtin"] = self.builtin
            body["params"] = {k: str(v) for k, v in self.params.base.items()}
            if self.params.by_currency:
                body["params"]["by_currency"] = {
                    c: {k: str(v) for k, v in p.items()}
                    for c, p in sorted(self.params.by_currency.items())}
        if self.expression is not None:
            body["when"] = self.expression.source
        if self.description is not None:
            body["description"] = self.description
        return body


@dataclass(frozen=True)
class Retention:
    """What an account's state must keep for a set's rules to see (and nothing more)."""

    keep_all_s: int = 0  # every transaction this recent (expressions' windows)
    velocity: tuple[int, int] | None = None  # the newest `count` within `window_s`
    near: tuple[Params, ...] = ()  # structuring: near-threshold amounts, for a day
    credits: tuple[Params, ...] = ()  # rapid_in_out: large credits, for a day
    merchants: bool = False

    # per currency: the near-threshold ranges and the smallest credit any debit can match,
    # resolved once (worth_keeping runs for every remembered transaction of every ingest)
    _bounds: dict[str, tuple[tuple[tuple[Decimal, Decimal], ...], tuple[tuple[Decimal, Decimal],
                  ...]]] = field(default_factory=dict, compare=False, repr=False)

    def _bounds_for(self, currency: str) -> tuple[tuple[tuple[Decimal, Decimal], ...],
                                                  tuple[tuple[Decimal, Decimal], ...]]:
        found = self._bounds.get(currency)
        if found is None:
            near = tuple((v["amount"] * (1 - v["margin"]), v["amount"])
                         for v in (p.values(currency) for p in self.near))
            credits = tuple((1 + v["tolerance"], v["min_amount"])
                            for v in (p.values(currency) for p in self.credits))
            found = (near, credits)
            if len(self._bounds) < 1000:  # bounded: currencies are few
                self._bounds[currency] = found
        return found

    def worth_keeping(self, seen: Seen) -> bool:
        near, credits = self._bounds_for(seen.currency)
        amount = seen.amount
        for low, large in near:
            if low <= amount < large:
                return True
        if seen.credit:
            # every credit a debit of at least the minimum can match: one within the
            # tolerance of it, so from min / (1 + tolerance) up, not only from the minimum
            for grown, least in credits:
                if amount * grown >= least:
                    return True
        return False


@dataclass(frozen=True)
class RuleSet:
    """A bank's rules at one version (0: the built-in default), with who set it and when."""

    version: int
    rules: tuple[Rule, ...]
    updated_at: str | None = None
    updated_by: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "updated_at": self.updated_at,
                "updated_by": self.updated_by, "rules": [r.to_json() for r in self.rules]}

    @cached_property
    def retention(self) -> Retention:
        keep_all, velocity, near, credits, merchants = 0, None, [], [], False
        for rule in self.rules:
            if rule.expression is not None:
                for name in rule.expression.names:
                    keep_all = max(keep_all, _WINDOW_OF.get(name, 0))
                    merchants = merchants or name == "merchant_known"
            elif rule.params is not None and rule.builtin == VELOCITY:
                counts = [rule.params.base["count"]] + [
                    p["count"] for p in rule.params.by_currency.values() if "count" in p]
                windows = [rule.params.base["window_s"]] + [
                    p["window_s"] for p in rule.params.by_currency.values() if "window_s" in p]
                old = velocity or (0, 0)
                velocity = (max(old[0], int(max(counts))), max(old[1], int(max(windows))))
            elif rule.params is not None and rule.builtin == STRUCTURING:
                near.append(rule.params)
            elif rule.params is not None and rule.builtin == RAPID_IN_OUT:
                credits.append(rule.params)
        return Retention(keep_all, velocity, tuple(near), tuple(credits), merchants)

    @cached_property
    def has_expressions(self) -> bool:
        return any(r.expression is not None for r in self.rules)


def default_rule_set(cfg: RuleConfig) -> RuleSet:
    """Today's five rules with the deployment's thresholds: the set of a bank without its own."""
    return _defaults(cfg)


_DEFAULTS: dict[RuleConfig, RuleSet] = {}


def _defaults(cfg: RuleConfig) -> RuleSet:
    found = _DEFAULTS.get(cfg)
    if found is None:
        found = RuleSet(0, tuple(builtin_rule(name, BUILTINS[name].defaults(cfg))
                                 for name in RULES))
        _DEFAULTS[cfg] = found
    return found


def builtin_rule(name: str, base: dict[str, Decimal], builtin: str | None = None,
                 by_currency: Mapping[str, Mapping[str, Decimal]] | None = None) -> Rule:
    """A built-in rule named `name` with its base parameters and per-currency overrides."""
    spec = BUILTINS[builtin or name]
    money = frozenset(k for k, kind in spec.kinds.items() if kind == MONEY)
    return Rule(name, spec.name, Params(base, dict(by_currency or {}), money))


def as_rule_set(rules: RuleConfig | RuleSet) -> RuleSet:
    """A RuleSet from either form (a RuleConfig stands for the default set)."""
    return rules if isinstance(rules, RuleSet) else _defaults(rules)


# --- evaluation -------------------------------------------------------------------------------

@dataclass
class Outcome:
    """What a set decided for one transaction: flag names, their evidence, and the rules that
    failed to evaluate (recorded and counted; they never fail the ingest)."""

    flags: tuple[str, ...] = ()
    details: tuple[FlagDetail, ...] = ()
    errors: list[tuple[str, str]] = field(default_factory=list)


class _Variables(dict[str, Any]):
    """The expression variables of one transaction, each computed on first read."""

    def __init__(self, tx: Transaction, state: AccountState) -> None:
        super().__init__()
        self.tx, self.state = tx, state

    def __missing__(self, name: str) -> Any:
        value = self._compute(name)
        self[name] = value
        return value

    def _compute(self, name: str) -> Any:
        tx, state = self.tx, self.state
        if name in ("amount", "currency", "type", "account"):
            return getattr(tx, name)
        if name in ("merchant", "counterparty", "channel", "description"):
            return getattr(tx, name) or ""
        if name == "is_credit":
            return tx.is_credit
        if name == "hour":
            return Decimal(tx.timestamp.hour)
        if name == "weekday":
            return Decimal(tx.timestamp.weekday())
        now = tx.timestamp.timestamp()
        if name in ("count_1h", "count_24h"):
            window = _WINDOW_OF[name]
            return Decimal(sum(1 for s in state.seen if abs(now - s.epoch) <= window))
        if name == "sum_24h":
            return sum((s.amount for s in state.seen if s.currency == tx.currency
                        and abs(now - s.epoch) <= DAY_S), ZERO)
        stats = state.stats_for(tx.currency)
        if name == "history":
            return Decimal(stats.n)
        if name == "mean":
            return stats.mean
        if name == "stddev":
            return stats.stddev
        if name == "zscore":
            return stats.zscore(tx.amount)
        if name == "days_known":
            return Decimal(0 if state.first is None else max(0, int(now - state.first) // DAY_S))
        if name == "merchant_known":
            return merchant_tag(tx.merchant) in state.merchants if tx.merchant else False
        raise KeyError(name)


def _evidence_value(value: Any) -> str | int | bool:
    if isinstance(value, bool | int | str):
        return value
    return str(value)


def evaluate_set(tx: Transaction, state: AccountState, rule_set: RuleSet) -> Outcome:
    """The flags `tx` trips under `rule_set` given its account's state before it."""
    flags: list[str] = []
    details: list[FlagDetail] = []
    errors: list[tuple[str, str]] = []
    env = _Variables(tx, state) if rule_set.has_expressions else None
    for rule in rule_set.rules:
        evidence: Evidence | None = None
        if rule.expression is not None and env is not None:
            try:
                if rule.expression.evaluate(env):
                    evidence = {"when": rule.expression.source}
                    evidence.update({n: _evidence_value(env[n]) for n in rule.expression.names})
            except rx.EvaluationFailed as exc:
                errors.append((rule.name, str(exc)))
        elif rule.builtin is not None and rule.params is not None:
            evidence = BUILTINS[rule.builtin].check(tx, state, rule.params)
        if evidence is not None:
            flags.append(rule.name)
            details.append(FlagDetail.of(rule.name, rule_set.version, evidence))
    return Outcome(tuple(flags), tuple(details), errors)


def remember(state: AccountState, tx: Transaction, rules: RuleConfig | RuleSet) -> AccountState:
    """The state after `tx`: the transactions a rule of the set can still look back at (within
    a day, at most MEMORY_ITEMS), the currency's running statistics, the first time seen, and
    merchant tags when a rule reads them. Small states keep every batch cheap."""
    keep = as_rule_set(rules).retention
    epoch = tx.epoch
    entry = Seen(epoch, tx.amount, tx.currency, tx.is_credit)
    if not state.seen or state.seen[-1].epoch <= epoch:
        seen = [*state.seen, entry]  # in time order, the usual case: no search
    else:
        seen = list(state.seen)  # kept sorted by time
        bisect.insort(seen, entry, key=lambda s: s.epoch)
    epochs = [s.epoch for s in seen]
    newest = epochs[-1]
    recent_from = len(seen)
    if keep.velocity is not None:
        count, window = keep.velocity
        recent_from = max(len(seen) - count, bisect.bisect_left(epochs, newest - window))
    if keep.keep_all_s:
        recent_from = min(recent_from, bisect.bisect_left(epochs, newest - keep.keep_all_s))
    day_from = bisect.bisect_left(epochs, newest - MEMORY_S)
    # older than the rules' recent windows but within the day: only what a rule looks back at
    kept = [s for s in seen[day_from:recent_from] if keep.worth_keeping(s)]
    kept.extend(seen[max(recent_from, day_from):])
    stats = _with_stats(state, tx.currency, state.stats_for(tx.currency).add(tx.amount))
    first = int(epoch) if state.first is None else min(state.first, int(epoch))
    merchants = state.merchants
    if keep.merchants and tx.merchant:
        tag = merchant_tag(tx.merchant)
        merchants = (*(m for m in merchants if m != tag), tag)[-MAX_MERCHANTS:]
    return AccountState(tuple(kept[-MEMORY_ITEMS:]), state.version, stats, first, merchants)


def _with_stats(state: AccountState, currency: str, updated: Welford
                ) -> tuple[tuple[str, Welford], ...]:
    """The statistics with `currency`'s replaced, ordered by currency; past the cap only the
    most used currencies stay (the usual case, one currency, sorts nothing)."""
    if len(state.stats) == 1 and state.stats[0][0] == currency:
        return ((currency, updated),)
    stats = dict(state.stats)
    stats[currency] = updated
    if len(stats) > MAX_CURRENCY_STATS:
        stats = dict(sorted(stats.items(), key=lambda cw: (-cw[1].n, cw[0]))[
            :MAX_CURRENCY_STATS])
    return tuple(sorted(stats.items()))
