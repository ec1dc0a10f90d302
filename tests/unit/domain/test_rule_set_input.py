"""What a bank PUTs as its rule set: every refusal's field and message (the API contract, read by
the bank's developers) and what an accepted rule keeps."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from chalicelib.domain.rule_set_input import parse_rule_set
from chalicelib.domain.rules import RuleConfig
from chalicelib.errors import ValidationError

CFG = RuleConfig()
NUMBER = "must be a number (a JSON number or a decimal string)"
EITHER = ("give either builtin (with optional params) or when, and at most a description of "
          "200 characters")
CODES = [f"A{chr(65 + i // 26)}{chr(65 + i % 26)}" for i in range(51)]  # AAA, AAB, ...


def refusal(body: Any) -> tuple[str, list[tuple[str, str]]]:
    """The message and the (field, message) details `body` is refused with."""
    with pytest.raises(ValidationError) as err:
        parse_rule_set(body, CFG)
    return err.value.message, [(d.field, d.message) for d in err.value.details]


def refused_params(builtin: str, params: Any) -> list[tuple[str, str]]:
    message, details = refusal({"rules": [{"name": "a", "builtin": builtin, "params": params}]})
    assert message == "the rule set is invalid"
    return details


def accepted_params(builtin: str, params: dict[str, Any]) -> dict[str, Any]:
    rule, = parse_rule_set({"rules": [{"name": "a", "builtin": builtin, "params": params}]}, CFG)
    assert rule.params is not None
    return {**rule.params.base, "by_currency": rule.params.by_currency}


@pytest.mark.parametrize(("body", "message", "details"), [
    ([], 'send {"rules": [...]}', [("rules", "must be the only key, a list of rules")]),
    ({"rules": [], "version": 2}, 'send {"rules": [...]}',
     [("rules", "must be the only key, a list of rules")]),
    ({"rules": {}}, 'send {"rules": [...]}', [("rules", "must be the only key, a list of rules")]),
    ({"rules": [{"name": f"r{i}", "builtin": "large_amount"} for i in range(51)]},
     "too many rules", [("rules", "at most 50 rules per bank")]),
    ({"rules": ["a"]}, "the rule set is invalid", [("rules[0]", "must be an object")]),
    ({"rules": [{"name": "Big", "when": "amount > 1"}]}, "the rule set is invalid",
     [("rules[0].name", "must be 1-40 of a-z, 0-9 and _, starting with a letter")]),
    ({"rules": [{"name": "a", "when": "amount > 1"}, {"name": "a", "when": "amount > 2"}]},
     "the rule set is invalid", [("rules[1].name", "rule 'a': the name is used twice")]),
    ({"rules": [{"name": "a", "builtin": "large_amount", "x": 1, "y": 2}]},
     "the rule set is invalid", [("rules[0]", f"rule 'a': {EITHER}; unknown keys ['x', 'y']")]),
    ({"rules": [{"name": "a", "builtin": "large_amount", "when": "amount > 1"}]},
     "the rule set is invalid", [("rules[0]", f"rule 'a': {EITHER}")]),
    ({"rules": [{"name": "a"}]}, "the rule set is invalid", [("rules[0]", f"rule 'a': {EITHER}")]),
    ({"rules": [{"name": "a", "when": "amount > 1", "params": {}}]}, "the rule set is invalid",
     [("rules[0]", f"rule 'a': {EITHER}")]),
    ({"rules": [{"name": "a", "when": "amount > 1", "description": "x" * 201}]},
     "the rule set is invalid", [("rules[0]", f"rule 'a': {EITHER}")]),
    ({"rules": [{"name": "a", "when": "amount > 1", "description": 5}]},
     "the rule set is invalid", [("rules[0]", f"rule 'a': {EITHER}")]),
    ({"rules": [{"name": "a", "when": 5}]}, "the rule set is invalid",
     [("rules[0].when", "rule 'a': must be a string")]),
    ({"rules": [{"name": "a", "when": "amont > 1"}]}, "the rule set is invalid",
     [("rules[0].when", "rule 'a': unknown name 'amont' (at character 1)")]),
    ({"rules": [{"name": "a", "builtin": "huge"}]}, "the rule set is invalid",
     [("rules[0].builtin", "rule 'a': unknown built-in; use one of large_amount, rapid_in_out, "
       "round_amount, structuring, unusual_amount, velocity")]),
    # every bad rule is named, not only the first
    ({"rules": ["a", {"name": "b", "when": 5}]}, "the rule set is invalid",
     [("rules[0]", "must be an object"), ("rules[1].when", "rule 'b': must be a string")]),
])
def test_a_refused_set_says_what_and_where(body: Any, message: str,
                                           details: list[tuple[str, str]]) -> None:
    assert refusal(body) == (message, details)


def test_fifty_rules_and_a_description_of_200_characters_are_accepted() -> None:
    rules = parse_rule_set({"rules": [{"name": f"r{i}", "builtin": "large_amount",
                                       "description": "x" * 200} for i in range(50)]}, CFG)
    assert len(rules) == 50 and rules[49].description == "x" * 200


@pytest.mark.parametrize(("builtin", "params", "details"), [
    ("large_amount", {"amount": "abc"}, [("rules[0].params.amount", f"rule 'a': {NUMBER}")]),
    ("large_amount", {"amount": True}, [("rules[0].params.amount", f"rule 'a': {NUMBER}")]),
    ("large_amount", {"amount": [1]}, [("rules[0].params.amount", f"rule 'a': {NUMBER}")]),
    ("large_amount", {"amount": None}, [("rules[0].params.amount", f"rule 'a': {NUMBER}")]),
    ("large_amount", {"amount": "Infinity"}, [("rules[0].params.amount", f"rule 'a': {NUMBER}")]),
    ("large_amount", {"amount": "NaN"}, [("rules[0].params.amount", f"rule 'a': {NUMBER}")]),
    ("large_amount", {"amount": "0"},
     [("rules[0].params.amount", "rule 'a': must be greater than 0")]),
    ("structuring", {"margin": 0},
     [("rules[0].params.margin", "rule 'a': must be greater than 0")]),
    ("structuring", {"margin": "1"}, [("rules[0].params.margin", "rule 'a': must be less than 1")]),
    ("unusual_amount", {"z": "0"}, [("rules[0].params.z", "rule 'a': must be greater than 0")]),
    ("velocity", {"count": "2.5"}, [("rules[0].params.count", "rule 'a': must be a whole number")]),
    ("velocity", {"count": 0}, [("rules[0].params.count", "rule 'a': must be at least 1")]),
    ("velocity", {"count": 10001}, [("rules[0].params.count", "rule 'a': must be at most 10000")]),
    # a window of 1 s is accepted, so 0 is refused as "at least 1", not "greater than 1"
    ("velocity", {"window_s": 0}, [("rules[0].params.window_s", "rule 'a': must be at least 1")]),
    ("velocity", {"window_s": 86401},
     [("rules[0].params.window_s", "rule 'a': must be at most 86400")]),
    ("large_amount", {"nope": 1},
     [("rules[0].params.nope", "rule 'a': unknown parameter; use amount, by_currency")]),
    ("velocity", {"amount": 1},
     [("rules[0].params.amount", "rule 'a': unknown parameter; use by_currency, count, window_s")]),
    ("large_amount", [], [("rules[0].params", "rule 'a': must be an object")]),
    # an object is no number even where it could read as per-currency overrides
    ("large_amount", {"amount": {}}, [("rules[0].params.amount", f"rule 'a': {NUMBER}")]),
    ("large_amount", {"by_currency": 5, "amount": "-1"},
     [("rules[0].params.by_currency", "rule 'a': must be an object of at most 50 currencies"),
      ("rules[0].params.amount", "rule 'a': must be greater than 0")]),
    ("large_amount", {"by_currency": {c: {} for c in CODES}},
     [("rules[0].params.by_currency", "rule 'a': must be an object of at most 50 currencies")]),
    # every bad currency and every bad override is named
    ("large_amount", {"by_currency": {"usd": {}, "EUR": [], "JPY": {"amount": "-1", "x": 1}}},
     [("rules[0].params.by_currency",
       "rule 'a': keys are ISO currency codes, values objects"),
      ("rules[0].params.by_currency",
       "rule 'a': keys are ISO currency codes, values objects"),
      ("rules[0].params.by_currency.JPY.amount", "rule 'a': must be greater than 0"),
      ("rules[0].params.by_currency.JPY.x",
       "rule 'a': unknown parameter; use amount, by_currency")]),
])
def test_a_refused_parameter_says_what_and_where(builtin: str, params: Any,
                                                 details: list[tuple[str, str]]) -> None:
    assert refused_params(builtin, params) == details


@pytest.mark.parametrize(("builtin", "params", "kept"), [
    # the least and the most each kind allows
    ("large_amount", {"amount": "0.5"}, {"amount": Decimal("0.5")}),
    ("velocity", {"count": 1, "window_s": "1"}, {"count": 1, "window_s": 1}),
    ("velocity", {"count": "10000", "window_s": 86400}, {"count": 10000, "window_s": 86400}),
    ("structuring", {"margin": "0.999"}, {"margin": Decimal("0.999")}),
    ("unusual_amount", {"z": "0.01"}, {"z": Decimal("0.01")}),
    ("large_amount", {"by_currency": {c: {"amount": 7} for c in CODES[:50]}},
     {"by_currency": {c: {"amount": 7} for c in CODES[:50]}}),
    # parameters after `by_currency` are read too
    ("large_amount", {"by_currency": {"JPY": {"amount": 80000}}, "amount": 500},
     {"amount": 500, "by_currency": {"JPY": {"amount": 80000}}}),
])
def test_an_accepted_parameter_is_kept_exactly(builtin: str, params: dict[str, Any],
                                               kept: dict[str, Any]) -> None:
    got = accepted_params(builtin, params)
    assert {k: got[k] for k in kept} == kept
    assert got["by_currency"] == kept.get("by_currency", {})


def test_a_builtin_rule_keeps_its_description() -> None:
    rule, = parse_rule_set({"rules": [{"name": "big", "builtin": "large_amount",
                                       "description": "over ten thousand"}]}, CFG)
    assert rule.description == "over ten thousand" and rule.expression is None
    assert rule.to_json() == {"name": "big", "builtin": "large_amount",
                              "params": {"amount": "10000"}, "description": "over ten thousand"}
