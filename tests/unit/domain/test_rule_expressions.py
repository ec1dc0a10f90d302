"""Rule expressions: exact numbers, typed at compile time, errors with positions, no escape."""

from __future__ import annotations

from decimal import Decimal

import pytest

from chalicelib.domain.rule_expressions import (
    BOOL,
    MAX_LENGTH,
    NUMBER,
    TEXT,
    EvaluationFailed,
    ExpressionError,
    compile_expression,
)

VARS = {"amount": NUMBER, "currency": TEXT, "hour": NUMBER, "count": NUMBER,
        "merchant": TEXT, "is_credit": BOOL}
ENV = {"amount": Decimal("5000.11"), "currency": "USD", "hour": Decimal(23),
       "count": Decimal(0), "merchant": "ACME Wire", "is_credit": False}


def check(source: str, **env: object) -> bool:
    return compile_expression(source, VARS).evaluate({**ENV, **env})


def test_amounts_compare_exactly_against_decimal_literals() -> None:
    assert check("amount > 5000.10")
    assert not check("amount > 5000.10", amount=Decimal("5000.10"))
    # 0.1 + 0.2 is exactly 0.3 here (it is not in binary floating point)
    assert check("amount * 0 + 0.1 + 0.2 == 0.3")


def test_night_time_rule_with_and_or_and_membership() -> None:
    rule = 'currency in ["USD", "EUR"] and (hour < 6 or hour >= 22) and not is_credit'
    assert check(rule)
    assert not check(rule, hour=Decimal(12))
    assert not check(rule, currency="JPY")


def test_text_functions_and_substring() -> None:
    assert check('startswith(lower(merchant), "acme") and "Wire" in merchant')
    assert not check('endswith(merchant, "x")')


def test_names_read_are_listed_for_the_evidence() -> None:
    expr = compile_expression("amount > 1 and hour < 6 and amount < 9", VARS)
    assert expr.names == ("amount", "hour")


@pytest.mark.parametrize(("source", "message", "position"), [
    ("amont > 5", "unknown name 'amont'", 1),
    ('amount > 1 and currency > "a"', "compares numbers only", 16),
    ('amount > "x"', "cannot compare a number with a text", 10),
    ("currency + 1 > 2", "expected a number, found a text", 1),
    ("amount.real > 1", "attribute access", 1),
    ("amount > 1 and merchant[0] == 'a'", "indexing", 16),
    ('__import__("os")', "unknown function '__import__'", 1),
    ("[x for x in merchant]", "comprehension", 1),
    ("amount", "must be true or false", 1),
    ("amount ** 2 > 1", "**", 1),
    ("0x10 < amount", "decimal digits", 1),
    ("  (amount > 1", "syntax error", 3),
])
def test_refused_expressions_name_what_and_where(source: str, message: str,
                                                 position: int) -> None:
    with pytest.raises(ExpressionError) as err:
        compile_expression(source, VARS)
    assert message in err.value.message
    assert err.value.position == position


def test_length_is_capped() -> None:
    with pytest.raises(ExpressionError, match="longer than"):
        compile_expression("amount > 1 " + "or amount > 1 " * (MAX_LENGTH // 14 + 1), VARS)


def test_complexity_is_capped() -> None:
    # flat (41 comparisons of 3 parts each, under MAX_LENGTH): deep nesting would reach the
    # recursion limit first under `make mutate`, whose trampolines triple the stack's depth
    with pytest.raises(ExpressionError, match="too complex"):
        compile_expression(" or ".join(["amount>1"] * 41), VARS)


def test_division_by_zero_fails_evaluation_not_compilation() -> None:
    expr = compile_expression("amount / count > 1", VARS)
    with pytest.raises(EvaluationFailed, match="division by zero"):
        expr.evaluate(ENV)
    assert expr.evaluate({**ENV, "count": Decimal(2)})
