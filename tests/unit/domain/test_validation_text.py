"""Text fields refuse exactly one documented set of characters, in one place
(`validation.REFUSED_TEXT`), on every field and every path."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.domain.model import OPTIONAL_TEXT_FIELDS
from chalicelib.domain.validation import REFUSED_TEXT, text_error, validate_transaction
from chalicelib.errors import ValidationError
from tests.support.factories import raw_tx

NOW = datetime(2026, 1, 10, 18, tzinfo=UTC)
# The documented set (README "Edge inputs", openapi.yaml): C0, DEL, C1, bidi embeddings,
# overrides and isolates, lone surrogates.
DOCUMENTED = {*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), *range(0x202A, 0x202F),
              *range(0x2066, 0x206A), *range(0xD800, 0xE000)}


def test_the_refused_set_is_exactly_the_documented_one() -> None:
    every = "".join(map(chr, range(0x110000)))
    assert {ord(m.group()) for m in REFUSED_TEXT.finditer(every)} == DOCUMENTED


@pytest.mark.parametrize("char", ["\u0085", "\u007f", "\u202e", "\u2066", "\u2069", "\u009f",
                                  "\u0080", "\u202a", "\x00", "\t", "\n", "\x1b", "\ud800"])
@pytest.mark.parametrize("field", OPTIONAL_TEXT_FIELDS)
def test_each_text_field_refuses_each_kind_naming_the_code_point(field: str, char: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_transaction(raw_tx(**{field: f"ok{char}ok"}), NOW)
    (detail,) = caught.value.details
    assert detail.field == field
    assert f"U+{ord(char):04X}" in detail.message, detail.message


@pytest.mark.parametrize("text", [
    "Café Zürich", "東京駅", "مرحبا", "שלום", "emoji \U0001f600", "nbsp\u00a0here",
    "zwj \u200d", "\u2028 line sep", "\u200e lrm mark", "\u202f narrow nbsp", "\u2065", "\u206a",
    "a\u0301 combining", "\ufeff bom", "tilde ~ and DEL's neighbour \u00a0",
])
def test_ordinary_unicode_is_kept(text: str) -> None:
    assert text_error(text) is None
    tx = validate_transaction(raw_tx(merchant=text, description=text), NOW)
    assert tx.merchant == text


def test_the_message_names_the_first_refused_character_and_its_position() -> None:
    assert text_error("pay\u202egnp.exe") == (
        "must not hold control or bidi-override characters (U+202E at character 4)")
