"""A bank's rule set as data: built-ins with parameters and expressions, checked, evaluated with
evidence, and what the account state must remember for them. Pure: no I/O."""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import Any

from chalicelib.domain import rule_expressions as rx
from chalicelib.domain.account_stats import ZERO, Welford, merchant_tag
from chalicelib.domain.model import FlagDetail, Transaction
from chalicelib.domain.rules import (
    BUILTINS,
    COUNT,
    FRACTION,
    MEMORY_ITEMS,
    MEMORY_S,
    MONEY,
    RAPID_IN_OUT,
    RULES,
    SECONDS,
    STRUCTURING,
    VELOCITY,
    AccountState,
    Evidence,
    Params,
    RuleConfig,
    Seen,
)
from chalicelib.errors import FieldError, ValidationError

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

    def worth_keeping(self, seen: Seen) -> bool:
        for p in self.near:
            large = p.get("amount", seen.currency)
            if large * (1 - p.get("margin", seen.currency)) <= seen.amount < large:
                return True
        return seen.credit and any(seen.amount >= p.get("min_amount", seen.currency)
                                   for p in self.credits)


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
        found = RuleSet(0, tuple(_builtin_rule(name, BUILTINS[name].defaults(cfg))
                                 for name in RULES))
        _DEFAULTS[cfg] = found
    return found


def _builtin_rule(name: str, base: dict[str, Decimal], builtin: str | None = None,
                  by_currency: Mapping[str, Mapping[str, Decimal]] | None = None) -> Rule:
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
            return bool(tx.merchant) and merchant_tag(tx.merchant or "") in state.merchants
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
    epoch = tx.timestamp.timestamp()
    seen = list(state.seen)  # kept sorted by time
    bisect.insort(seen, Seen(epoch, tx.amount, tx.currency, tx.is_credit), key=lambda s: s.epoch)
    epochs = [s.epoch for s in seen]
    newest = epochs[-1]
    recent_from = len(seen)
    if keep.velocity is not None:
        count, window = keep.velocity
        recent_from = max(len(seen) - count, bisect.bisect_left(epochs, newest - window))
    if keep.keep_all_s:
        recent_from = min(recent_from, bisect.bisect_left(epochs, newest - keep.keep_all_s))
    day_from = bisect.bisect_left(epochs, newest - MEMORY_S)
    kept = [s for i, s in enumerate(seen[day_from:], day_from)
            if i >= recent_from or keep.worth_keeping(s)]
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


# --- a set from a request body ------------------------------------------------------------------

_LIMITS = {COUNT: (Decimal(1), Decimal(10000)), SECONDS: (Decimal(1), Decimal(DAY_S)),
           FRACTION: (Decimal(0), Decimal(1))}


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        return None
    try:
        number = Decimal(value) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _param(kind: str, value: Any) -> tuple[Decimal | None, str]:
    number = _number(value)
    if number is None:
        return None, "must be a number (a JSON number or a decimal string)"
    if kind in (COUNT, SECONDS) and number != number.to_integral_value():
        return None, "must be a whole number"
    low, high = _LIMITS.get(kind, (Decimal(0), None))
    if number <= low if kind in (FRACTION, MONEY, "number") else number < low:
        return None, f"must be greater than {low}" if kind != COUNT else "must be at least 1"
    if high is not None and (number >= high if kind == FRACTION else number > high):
        return None, f"must be {'less than' if kind == FRACTION else 'at most'} {high}"
    return number, ""


def _builtin_from(i: int, body: dict[str, Any], cfg: RuleConfig,
                  errors: list[FieldError]) -> Rule | None:
    at, name, builtin = f"rules[{i}]", str(body["name"]), body["builtin"]
    if not isinstance(builtin, str) or builtin not in BUILTINS:
        errors.append(FieldError(f"{at}.builtin", f"rule {name!r}: unknown built-in; use one of "
                                 + ", ".join(sorted(BUILTINS))))
        return None
    spec = BUILTINS[builtin]
    raw = body.get("params", {})
    if not isinstance(raw, dict):
        errors.append(FieldError(f"{at}.params", f"rule {name!r}: must be an object"))
        return None
    base = dict(spec.defaults(cfg))
    by_currency: dict[str, dict[str, Decimal]] = {}
    for key, value in raw.items():
        if key == "by_currency" and isinstance(value, dict) and len(value) <= 50:
            for code, overrides in value.items():
                if not CURRENCY.fullmatch(str(code)) or not isinstance(overrides, dict):
                    errors.append(FieldError(f"{at}.params.by_currency", f"rule {name!r}: "
                                             "keys are ISO currency codes, values objects"))
                    continue
                for okey, ovalue in overrides.items():
                    number = _checked(f"{at}.params.by_currency.{code}.{okey}", name, spec.kinds,
                                      okey, ovalue, errors)
                    if number is not None:
                        by_currency.setdefault(code, {})[okey] = number
            continue
        number = _checked(f"{at}.params.{key}", name, spec.kinds, key, value, errors)
        if number is not None:
            base[key] = number
    return _builtin_rule(name, base, builtin, by_currency)


def _checked(at: str, name: str, kinds: Mapping[str, str], key: str, value: Any,
             errors: list[FieldError]) -> Decimal | None:
    if key not in kinds:
        errors.append(FieldError(at, f"rule {name!r}: unknown parameter; use "
                                 + ", ".join(sorted([*kinds, "by_currency"]))))
        return None
    number, problem = _param(kinds[key], value)
    if number is None:
        errors.append(FieldError(at, f"rule {name!r}: {problem}"))
    return number


def parse_rule_set(body: Any, cfg: RuleConfig) -> tuple[Rule, ...]:
    """The rules of a PUT body `{"rules": [...]}`; ValidationError naming every bad rule (and,
    for an expression, the position in it)."""
    if not isinstance(body, dict) or set(body) != {"rules"} or not isinstance(body["rules"],
                                                                              list):
        raise ValidationError("send {\"rules\": [...]}",
                              [FieldError("rules", "must be the only key, a list of rules")])
    items = body["rules"]
    if len(items) > MAX_RULES:
        raise ValidationError("too many rules",
                              [FieldError("rules", f"at most {MAX_RULES} rules per bank")])
    errors: list[FieldError] = []
    rules: list[Rule] = []
    names: set[str] = set()
    for i, item in enumerate(items):
        rule = _rule_from(i, item, cfg, errors, names)
        if rule is not None:
            rules.append(rule)
    if errors:
        raise ValidationError("the rule set is invalid", errors)
    return tuple(rules)


def _rule_from(i: int, item: Any, cfg: RuleConfig, errors: list[FieldError],
               names: set[str]) -> Rule | None:
    at = f"rules[{i}]"
    if not isinstance(item, dict):
        errors.append(FieldError(at, "must be an object"))
        return None
    name = item.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        errors.append(FieldError(f"{at}.name", "must be 1-40 of a-z, 0-9 and _, starting "
                                 "with a letter"))
        return None
    if name in names:
        errors.append(FieldError(f"{at}.name", f"rule {name!r}: the name is used twice"))
        return None
    names.add(name)
    unknown = set(item) - {"name", "builtin", "params", "when", "description"}
    description = item.get("description")
    if unknown or ("builtin" in item) == ("when" in item) or (
            "params" in item and "builtin" not in item) or not (
            description is None or (isinstance(description, str) and len(description) <= 200)):
        errors.append(FieldError(at, f"rule {name!r}: give either builtin (with optional "
                                 "params) or when, and at most a description of 200 "
                                 "characters" + (f"; unknown keys {sorted(unknown)}"
                                                 if unknown else "")))
        return None
    if "builtin" in item:
        rule = _builtin_from(i, item, cfg, errors)
        return None if rule is None else Rule(rule.name, rule.builtin, rule.params, None,
                                              description)
    when = item["when"]
    if not isinstance(when, str):
        errors.append(FieldError(f"{at}.when", f"rule {name!r}: must be a string"))
        return None
    try:
        expression = rx.compile_expression(when, VARIABLES)
    except rx.ExpressionError as exc:
        errors.append(FieldError(f"{at}.when", f"rule {name!r}: {exc.message} "
                                 f"(at character {exc.position})"))
        return None
    return Rule(name, None, None, expression, description)


def rule_set_from_json(body: Mapping[str, Any], cfg: RuleConfig) -> RuleSet:
    """A stored set back (it was checked when it was PUT)."""
    rules = parse_rule_set({"rules": body["rules"]}, cfg)
    return RuleSet(int(body["version"]), rules, body.get("updated_at"), body.get("updated_by"))
