"""A rule set from a request body (PUT /rules, a replay's candidate) or from storage: every rule
checked, every problem named with its field and, in an expression, its position. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from chalicelib.domain import rule_expressions as rx
from chalicelib.domain.rule_sets import (
    CURRENCY,
    DAY_S,
    MAX_RULES,
    NAME,
    VARIABLES,
    Rule,
    RuleSet,
    builtin_rule,
)
from chalicelib.domain.rules import BUILTINS, COUNT, FRACTION, SECONDS, RuleConfig
from chalicelib.errors import FieldError, ValidationError

MAX_CURRENCIES = 50  # per-currency overrides of one rule
_LIMITS = {COUNT: (Decimal(1), Decimal(10000)), SECONDS: (Decimal(1), Decimal(DAY_S)),
           FRACTION: (Decimal(0), Decimal(1))}


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _param(kind: str, value: Any) -> Decimal | str:
    """The parameter's number, or what is wrong with it."""
    number = _number(value)
    if number is None:
        return "must be a number (a JSON number or a decimal string)"
    if kind in (COUNT, SECONDS) and number != number.to_integral_value():
        return "must be a whole number"
    low, high = _LIMITS.get(kind, (Decimal(0), None))
    if kind in (COUNT, SECONDS):  # whole numbers: the least allowed is allowed
        if number < low:
            return f"must be at least {low}"
    elif number <= low:  # money, fractions and numbers: only above it
        return f"must be greater than {low}"
    if high is not None and (number >= high if kind == FRACTION else number > high):
        return f"must be {'less than' if kind == FRACTION else 'at most'} {high}"
    return number


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
        if key == "by_currency":
            if not isinstance(value, dict) or len(value) > MAX_CURRENCIES:
                errors.append(FieldError(f"{at}.params.by_currency", f"rule {name!r}: must be "
                                         f"an object of at most {MAX_CURRENCIES} currencies"))
                continue
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
    return builtin_rule(name, base, builtin, by_currency)


def _checked(at: str, name: str, kinds: Mapping[str, str], key: str, value: Any,
             errors: list[FieldError]) -> Decimal | None:
    if key not in kinds:
        errors.append(FieldError(at, f"rule {name!r}: unknown parameter; use "
                                 + ", ".join(sorted([*kinds, "by_currency"]))))
        return None
    number_or_problem = _param(kinds[key], value)
    if isinstance(number_or_problem, str):
        errors.append(FieldError(at, f"rule {name!r}: {number_or_problem}"))
        return None
    return number_or_problem


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
