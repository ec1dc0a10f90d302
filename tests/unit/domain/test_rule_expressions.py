"""Rule expressions: exact numbers, typed at compile time, errors with positions, no escape."""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.rule_expressions import (
    BOOL,
    MAX_LENGTH,
    MAX_NODES,
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
FUNCTION_LIST = "abs, endswith, len, lower, max, min, startswith, upper"


def check(source: str, **env: object) -> bool:
    return compile_expression(source, VARS).evaluate({**ENV, **env})


def refusal(source: str, variables: dict[str, str] = VARS) -> tuple[str, int]:
    with pytest.raises(ExpressionError) as err:
        compile_expression(source, variables)
    assert str(err.value) == f"{err.value.message} (at character {err.value.position})"
    return err.value.message, err.value.position


@contextmanager
def frames_left(count: int) -> Iterator[None]:
    """Lower the recursion limit to `count` frames above the caller's (a deep call stack)."""
    depth, frame = 0, sys._getframe()
    while frame.f_back is not None:
        depth, frame = depth + 1, frame.f_back
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + count)
    try:
        yield
    finally:
        sys.setrecursionlimit(limit)


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


# (expression, variables, expected): each construct of the language decides as documented
@pytest.mark.parametrize(("source", "env", "expected"), [
    ("True", {}, True),
    ("False", {}, False),
    ("is_credit == False", {}, True),
    ("is_credit == True", {}, False),
    # unary minus negates, unary plus keeps
    ("-amount < 0", {}, True),
    ("-amount == 0 - amount", {}, True),
    ("+amount == amount", {}, True),
    ("+amount > 0", {}, True),
    ("-(-amount) == amount", {}, True),
    # `x if condition else y` (docs/rules.md): each branch, of any type
    ("(amount if is_credit else -amount) < 0", {}, True),
    ("(amount if is_credit else -amount) < 0", {"is_credit": True}, False),
    ('(merchant if is_credit else currency) == "USD"', {}, True),
    ('(merchant if is_credit else currency) == "USD"', {"is_credit": True}, False),
    ("amount > 1 if is_credit else amount < 1", {}, False),
    ("amount > 1 if is_credit else amount < 1", {"is_credit": True}, True),
    # a list of number literals: exact, signed
    ("amount in [1, 5000.11]", {}, True),
    ("amount in [0.1]", {"amount": Decimal("0.1")}, True),
    ("amount in [-1, +2, --3]", {"amount": Decimal(-1)}, True),
    ("amount in [-1, +2, --3]", {"amount": Decimal(2)}, True),
    ("amount in [-1, +2, --3]", {"amount": Decimal(3)}, True),
    ("amount in [-1, +2, --3]", {"amount": Decimal(1)}, False),
    ("amount not in [1, 2]", {}, True),
    ("amount in (1, 5000.11) and amount in {5000.11}", {}, True),
    ("is_credit in [False]", {}, True),
    ("is_credit in [True]", {}, False),
    ('currency not in ["EUR"]', {}, True),
    ("1 <= hour < 24 > count", {}, True),
    ("1 <= hour < 23", {}, False),
    # the functions
    ("abs(-amount) == amount", {}, True),
    ("min(amount, 2) == 2 and max(amount, 2) == amount", {}, True),
    ('upper(merchant) == "ACME WIRE" and lower(currency) == "usd"', {}, True),
    ("len(merchant) == 9", {}, True),
    ('startswith(merchant, "ACME") and endswith(merchant, "Wire")', {}, True),
    ('"Wire" not in merchant', {}, False),
    ("amount % 7 == 5000.11 - 714 * 7", {}, True),
    ("amount / 2 == 2500.055", {}, True),
])
def test_each_construct_evaluates_as_documented(source: str, env: dict[str, object],
                                                expected: bool) -> None:
    assert check(source, **env) is expected


def test_names_read_are_listed_for_the_evidence() -> None:
    expr = compile_expression("amount > 1 and hour < 6 and amount < 9", VARS)
    assert expr.names == ("amount", "hour")


# Every refusal a bank can meet at PUT, with its exact text and its 1-based character.
@pytest.mark.parametrize(("source", "message", "position"), [
    # names and types
    ("amont > 5", "unknown name 'amont'", 1),
    ("amount > 1 and amont > 5", "unknown name 'amont'", 16),
    ("(amount > 1 and\n amont > 2)", "unknown name 'amont'", 18),  # on the second line
    ('merchant == "\u00e9" and amont > 1', "unknown name 'amont'", 21),  # characters, not bytes
    ('amount > 1 and currency > "a"', "> compares numbers only", 16),
    ('amount > "x"', "cannot compare a number with a text using >", 10),
    ("currency + 1 > 2", "expected a number, found a text", 1),
    ("amount + currency > 1", "expected a number, found a text", 10),
    ("-currency == 1", "expected a number, found a text", 2),
    ("not amount", "expected a bool, found a number", 5),
    ("amount", "a rule must be true or false, this is a number", 1),
    ("  amount", "a rule must be true or false, this is a number", 3),
    ("1 if is_credit else 2", "a rule must be true or false, this is a number", 1),
    ("(1 if amount else 2) > 0", "expected a bool, found a number", 7),
    ('(1 if is_credit else "x") > 0', "expected a number, found a text", 22),
    ('("x" if is_credit else 1) == "x"', "expected a text, found a number", 24),
    # functions
    ('__import__("os")', f"unknown function '__import__'; use one of {FUNCTION_LIST}", 1),
    ("amount > 1 and foo(amount)", f"unknown function 'foo'; use one of {FUNCTION_LIST}", 16),
    ('amount > 0 and merchant.lower() == "x"',
     f"unknown function 'this'; use one of {FUNCTION_LIST}", 16),
    ("amount > abs(x=amount)", "named arguments are not allowed in a rule", 14),
    ("abs(amount, amount) > 1", "abs takes 1 argument(s)", 1),
    ("amount > min(amount)", "min takes 2 argument(s)", 10),
    # literals
    ("amount > 0x10", "write the number 0x10 in decimal digits", 10),
    ("amount > 1j", "the literal 1j is not allowed in a rule", 10),
    ("amount > 1 or None", "the literal None is not allowed in a rule", 15),
    ('b"x" == merchant', 'the literal b"x" is not allowed in a rule', 1),
    ("... == merchant", "the literal ... is not allowed in a rule", 1),
    # membership
    ('currency in ["USD"] == True', "a membership test cannot be chained", 24),
    ('"a" in merchant in ["x"]', "a membership test cannot be chained", 20),
    ('currency in ["USD", 1]', "a list to test a text against holds text literals only", 21),
    ('amount in ["1"]', "a list to test a number against holds number literals only", 12),
    ("amount in [count]", "a list to test a number against holds number literals only", 12),
    ("amount in [-count]", "a list to test a number against holds number literals only", 12),
    ("is_credit in [not True]", "a list to test a bool against holds bool literals only", 15),
    ("amount in merchant", "`in` tests text in text, or a value in a list", 11),
    # syntax
    ("  (amount > 1", "syntax error: '(' was never closed", 3),
    ("amount > > 1", "syntax error: invalid syntax", 10),
    ("(amount > 1 and\n amount > > 1)", "syntax error: invalid syntax", 27),
    ('merchant == "\u00e9" and amount > > 1', "syntax error: invalid syntax", 30),
    ("amount > 1 +", "syntax error: invalid syntax", 13),  # at the end: after the last character
    ("  amount and  ", "syntax error: invalid syntax", 13),
    # a bare carriage return ends a line for Python's parser, so for the positions too
    ("(amount >\r amont)", "unknown name 'amont'", 12),
    ("(amount > 1\r\n and amount > > 1)", "syntax error: invalid syntax", 28),
    ("0\r0\x1f\n0", "syntax error: invalid non-printable character U+001F", 4),
    ("amount\x00 > 1", "syntax error: source code string cannot contain null bytes", 1),
    (" amount\x00 > 1", "syntax error: source code string cannot contain null bytes", 2),
    # an error the parser gives no line for is placed on the first, not past it
    ("(amount >\n 1\x00)", "syntax error: source code string cannot contain null bytes", 1),
    ("", "empty expression", 1),
    ("   ", "empty expression", 1),
])
def test_refused_expressions_name_what_and_where(source: str, message: str,
                                                 position: int) -> None:
    assert refusal(source) == (message, position)


# What Python's syntax has and a rule has not: each named in the bank's words, not the parser's.
@pytest.mark.parametrize(("source", "what", "position"), [
    ("amount.real > 1", "attribute access (.)", 1),
    ("amount > 1 and merchant[0] == 'a'", "indexing ([])", 16),
    ("[x for x in merchant]", "a comprehension", 1),
    ("(x for x in merchant)", "a comprehension", 1),
    ("{x for x in merchant}", "a comprehension", 1),
    ("{x: 1 for x in merchant}", "a comprehension", 1),
    ("[1] == amount", "a list outside `in [...]`", 1),
    ("(1, 2) == amount", "a list outside `in [...]`", 1),
    ("{1} == amount", "a list outside `in [...]`", 1),
    ("(yield)", "yield", 2),
    ("(yield from merchant)", "yield", 2),
    ("lambda: True", "a lambda", 1),
    ("(x := 1) > 0", "assignment (:=)", 2),
    ("await is_credit", "await", 1),
    ("abs(*merchant) > 1", "*", 5),
    ('f"{merchant}" == "x"', "an f-string", 1),
    ("{} == merchant", "a dict", 1),
    ("amount ** 2 > 1", "the operator **", 1),
    ("amount > 2 ** 3", "the operator **", 10),
    ("amount // 2 > 1", "the operator //", 1),
    ("amount & 1 > 0", "the operator &", 1),
    ("amount | 1 > 0", "the operator |", 1),
    ("amount ^ 1 > 0", "the operator ^", 1),
    ("amount << 1 > 0", "the operator <<", 1),
    ("amount >> 1 > 0", "the operator >>", 1),
    ("amount @ 1 > 0", "the operator @", 1),
    ("amount > 1 and ~amount > 1", "the operator ~", 16),
])
def test_what_a_rule_cannot_hold_is_refused_by_name(source: str, what: str,
                                                     position: int) -> None:
    assert refusal(source) == (f"{what} is not allowed in a rule", position)


def test_length_is_capped_at_max_length_characters() -> None:
    at_most = "amount > 0." + "0" * (MAX_LENGTH - 12) + "1"
    assert len(at_most) == MAX_LENGTH
    assert check(at_most)
    assert refusal(at_most + " ") == (f"longer than {MAX_LENGTH} characters", MAX_LENGTH + 1)


def test_complexity_is_capped_at_max_nodes_parts() -> None:
    # flat (one chain of comparisons): deep nesting would reach the recursion limit first
    # under `make mutate`, whose trampolines triple the stack's depth
    chain = "a" + "<a" * (MAX_NODES - 2)  # the comparison, its left side, then each operand
    assert compile_expression(chain, {"a": NUMBER}).evaluate({"a": Decimal(1)}) is False
    assert refusal(chain + "<a", {"a": NUMBER}) == (
        f"too complex (more than {MAX_NODES} parts)", len(chain) + 2)


def test_an_expression_nested_deeper_than_the_stack_allows_is_refused_not_raised() -> None:
    nested = "-" * 101 + "amount < 0"  # parsed, then compiled one level per sign
    with frames_left(150):
        assert refusal(nested) == ("nested too deeply", 1)
    assert check(nested)


def test_an_expression_the_parser_runs_out_of_stack_for_is_refused_not_raised() -> None:
    with frames_left(30):
        assert refusal("-" * (MAX_LENGTH - 1) + "1") == ("not a valid expression", 1)


def test_division_by_zero_fails_evaluation_not_compilation() -> None:
    expr = compile_expression("amount / count > 1", VARS)
    with pytest.raises(EvaluationFailed, match="division by zero"):
        expr.evaluate(ENV)
    assert expr.evaluate({**ENV, "count": Decimal(2)})


@pytest.mark.parametrize(("source", "reason"), [
    ("amount / count > 1", "division by zero"),
    ("count / count > 1", "invalid arithmetic"),  # 0/0: decimal signals it as invalid
    ("amount * 1e999999 > 1", "number too large"),  # a finite literal, an overflowing product
    ("amount % count > 1", "invalid arithmetic"),  # decimal: a remainder by zero is invalid
])
def test_an_evaluation_failure_says_why(source: str, reason: str) -> None:
    expr = compile_expression(source, VARS)
    with pytest.raises(EvaluationFailed) as err:
        expr.evaluate(ENV)
    assert str(err.value) == reason


def test_a_compiled_rule_runs_without_builtins() -> None:
    # the generated code names only its variables, constants and helpers; an empty builtins
    # keeps it so should the generator ever let a name through
    expr = compile_expression("amount > 1", VARS)
    assert expr.run.__globals__["__builtins__"] == {}  # type: ignore[attr-defined]


# Any text a bank can send: refused with an ExpressionError at PUT, or a rule that answers a
# bool or EvaluationFailed for every transaction: never another exception (a 500, a failed
# ingest). Built from the language's own pieces: well-typed rules (so evaluation is reached:
# overflow, division by zero, huge and tiny literals), then the same pieces joined at random.
_FORMS: dict[str, list[str]] = {  # each kind's forms; {number} etc. are filled recursively
    NUMBER: ["amount", "hour", "count", "0", "1", "2.50", "-3", "1e999999", "1e-999999",
             "1_000", "{number} + {number}", "{number} - {number}", "{number} * {number}",
             "{number} / {number}", "{number} % {number}", "-({number})", "abs({number})",
             "min({number}, {number})", "max({number}, {number})", "len({text})",
             "({number} if {bool} else {number})"],
    TEXT: ["merchant", "currency", '"USD"', '""', "lower({text})", "upper({text})",
           "({text} if {bool} else {text})"],
    BOOL: ["True", "False", "is_credit", "{number} < {number}", "{number} <= {number}",
           "{number} == {number} != {number}", "{number} >= {number} > {number}",
           "{text} == {text}", "{text} in {text}", "{text} not in {text}",
           "{number} in [-1, 0, 2.50, 1e999999]", '{text} not in ["USD", ""]',
           "{number} in [-{number}, +1]", "{bool} in [not {bool}]",  # refused: not literals
           "{bool} and {bool}", "{bool} or {bool}", "not {bool}",
           "startswith({text}, {text})", "endswith({text}, {text})"],
}


def _typed_rule(rng: random.Random, kind: str = BOOL, depth: int = 4) -> str:
    """A random well-typed rule (so evaluation is reached: overflow, division by zero...)."""
    forms = _FORMS[kind] if depth else [f for f in _FORMS[kind] if "{" not in f]
    form = rng.choice(forms)
    return form.format_map(_Filler(rng, depth - 1)) if "{" in form else form


class _Filler(dict[str, str]):
    def __init__(self, rng: random.Random, depth: int) -> None:
        super().__init__()
        self.rng, self.depth = rng, depth

    def __missing__(self, kind: str) -> str:
        return _typed_rule(self.rng, kind, self.depth)


_PIECES = st.lists(st.sampled_from([
    *VARS, "foo", "0", "2.50", "1e999999", "0x10", "1j", '"USD"', "True", "None", "...",
    "+", "-", "*", "/", "%", "**", "<", "==", "in", "not", "and", "or", "if", "else", "&",
    "(", ")", "[", "]", ",", ".", ":=", "lambda:", "abs(", "min(", "len(", "x=", "\n"]),
    max_size=12).map(" ".join)
_ENVS = st.fixed_dictionaries({
    name: (st.booleans() if kind == BOOL else st.text(max_size=5) if kind == TEXT
           else st.decimals(allow_nan=False, allow_infinity=False, places=2,
                            min_value=-10**6, max_value=10**6))
    for name, kind in VARS.items()})


@settings(max_examples=150, deadline=None, derandomize=True)  # the same cases every run
@given(st.one_of(st.text(max_size=30), _PIECES,
                 st.randoms(use_true_random=False).map(_typed_rule)), _ENVS)
def test_any_expression_is_refused_or_answers_never_raises_otherwise(
        source: str, env: dict[str, object]) -> None:
    try:
        expr = compile_expression(source, VARS)
    except ExpressionError as exc:
        assert exc.message and 1 <= exc.position <= len(source) + 1  # + 1: at the end
        return
    try:
        assert isinstance(expr.evaluate(env), bool)
    except EvaluationFailed as exc:
        assert str(exc) in ("division by zero", "number too large", "invalid arithmetic")
