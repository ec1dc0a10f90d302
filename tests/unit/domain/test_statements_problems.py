"""A statement file's problems: counted, listed up to their bound, and balance amounts' text."""

from __future__ import annotations

import pytest

from chalicelib.domain.statements.problems import (
    MAX_PROBLEMS,
    Problems,
    balance_amount,
    clean_text,
)
from chalicelib.errors import StatementFormatError


def raised(problems: Problems) -> StatementFormatError:
    with pytest.raises(StatementFormatError) as caught:
        problems.raise_any("the file is malformed")
    return caught.value


@pytest.mark.parametrize(("count", "suffix"), [
    (1, ""),
    (MAX_PROBLEMS, ""),
    (MAX_PROBLEMS + 1, f" ({MAX_PROBLEMS + 1} problems, the first {MAX_PROBLEMS} listed)"),
])
def test_every_problem_is_counted_and_the_first_fifty_listed(count: int, suffix: str) -> None:
    problems = Problems()
    for n in range(count):
        problems.add(f"line {n + 1}", "is wrong")
    error = raised(problems)
    assert error.message == f"the file is malformed{suffix}; nothing was stored"
    assert [d.field for d in error.details] == [f"line {n + 1}" for n in range(min(count, 50))]


def test_no_problem_is_false_and_raises_nothing_one_is_true() -> None:
    problems = Problems()
    assert not problems
    problems.raise_any("the file is malformed")
    problems.add("line 1", "is wrong")
    assert problems


@pytest.mark.parametrize(("text", "currency", "comma", "message"), [
    pytest.param("1.2.3", "EUR", True, "1,2,3 is not a balance amount", id="shown with commas"),
    pytest.param("1.2.3", "EUR", False, "1.2.3 is not a balance amount", id="shown as sent"),
    pytest.param("9" * 50, "EUR", False, "9" * 40 + " is not a balance amount",
                 id="cut at 40 characters"),
    pytest.param("1", "ABCDEFGHIJ", False, "ABCDEFGH is not a supported currency",
                 id="currency cut at 8 characters"),
    pytest.param("1.234", "EUR", False, "1.234 has more than 2 decimal places for EUR",
                 id="more minor digits than the currency has"),
])
def test_a_bad_balance_amount_is_named_where_it_is(
        text: str, currency: str, comma: bool, message: str) -> None:
    problems = Problems()
    assert balance_amount(text, currency, "line 4 (:60F:)", problems, comma=comma) is None
    assert [(p.field, p.message) for p in problems.found] == [("line 4 (:60F:)", message)]


def test_a_balance_amount_is_shown_as_sent_unless_the_format_writes_commas() -> None:
    problems = Problems()
    balance_amount("1.2.3", "EUR", "Bal/Amt", problems)  # camt: the default
    assert problems.found[0].message == "1.2.3 is not a balance amount"


def test_a_balance_amount_keeps_its_exact_value_with_trailing_zeros_allowed() -> None:
    problems = Problems()
    read = [balance_amount(text, ccy, "x", problems) for text, ccy in [("12.50", "EUR"),
                                                                        ("100.000", "JPY")]]
    assert [str(amount) for amount in read] == ["12.50", "100"]
    assert not problems


def test_control_characters_in_free_text_become_one_space() -> None:
    assert clean_text("a\x00\x1fb\tc\x7f", 10) == "a b c"
    assert clean_text("\x01 \x02", 10) is None
