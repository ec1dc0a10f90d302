"""`Prefer` per RFC 7240: `respond-async` is a preference only where a preference's name
stands (first in a comma-separated element); after `;` it is a parameter of another one."""

from __future__ import annotations

import pytest

from chalicelib.usecases.ingest_async import preferences, wants_async


@pytest.mark.parametrize("header", [
    "respond-async", "RESPOND-ASYNC", "Respond-Async", " respond-async ",
    "respond-async, wait=5", "wait=5, respond-async", "return=minimal,respond-async",
    "respond-async; foo=bar", "respond-async ;x", "handling=lenient,  respond-async  ",
    'foo="a,b;c", respond-async', ",respond-async,", "respond-async=", 'respond-async=""',
    "respond-async, respond-async",
    'foo="x\\\\", respond-async',  # an escaped backslash, then the closing quote
    'a="\\"", b="y", respond-async',
])
def test_respond_async_as_a_preference_is_asynchronous(header: str) -> None:
    assert wants_async(header), header


@pytest.mark.parametrize("header", [
    None, "", "return=minimal; respond-async", "wait=5;respond-async", "wait=5 ; respond-async",
    'foo="respond-async"', 'foo="x, respond-async"', 'foo="x\\", respond-async"',
    "respond-asyncx", "xrespond-async", "respond-async-now", "respond async",
    "respond-async=yes", "return=representation", "respond\u2010async", "respond-async\x00",
    '"respond-async"',
    'foo="x, respond-async, y"',  # commas inside a quoted-string split nothing
    'foo="x\\", respond-async',  # an escaped quote does not close it (nor does the end)
    "\u00a0respond-async", "respond-async\u00a0", "Xrespond-asyncX",  # only SP and HTAB trim
])
def test_respond_async_anywhere_else_is_synchronous(header: str | None) -> None:
    assert not wants_async(header), header


def test_preferences_of_nothing_are_none_and_malformed_ones_are_left_out() -> None:
    assert preferences(None) == {} and preferences("") == {}
    assert preferences("wait=a b, x y=1, respond-async") == {"respond-async": ""}
    assert preferences('a="x\\"y\\\\z", b = 2') == {"a": 'x"y\\z', "b": "2"}


def test_preferences_keep_the_first_of_a_repeated_name_with_its_value_and_lowercase_names(
        ) -> None:
    assert preferences('Wait=5; a=1, RETURN="minimal", wait=10, respond-async') == {
        "wait": "5", "return": "minimal", "respond-async": ""}


def test_several_prefer_headers_combined_are_read_as_one_list() -> None:
    assert wants_async(", ".join(["return=minimal", "respond-async"]))
    assert not wants_async(", ".join(["return=minimal; respond-async", "wait=3"]))
