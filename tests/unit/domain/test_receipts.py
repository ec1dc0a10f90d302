"""A receipt part never grows with a request's content without a bound (DynamoDB's 400 KB)."""

from __future__ import annotations

import json

from chalicelib.domain.receipts import (
    MAX_ERRORS,
    MAX_TEXT,
    PART_BYTES,
    REJECTED,
    ItemFate,
    bounded,
    rejected_parts,
)


def noisy(index: int, errors: int) -> ItemFate:
    return ItemFate(index, "x" * 5000, REJECTED,
                    errors=tuple({"field": f"f{k}" * 300, "message": "unknown field"}
                                 for k in range(errors)))


def test_an_item_keeps_a_few_errors_and_says_how_many_more_there_were() -> None:
    kept = bounded(noisy(0, 40))
    assert len(kept.errors) == MAX_ERRORS + 1
    assert kept.errors[-1] == {"field": "errors", "message": f"{40 - MAX_ERRORS} more errors"
                                                              " not shown"}
    assert all(len(e["field"]) <= MAX_TEXT for e in kept.errors)
    assert kept.id is not None and len(kept.id) == MAX_TEXT


def test_an_item_with_few_errors_is_kept_as_it_is() -> None:
    fate = ItemFate(3, "t1", REJECTED, errors=({"field": "amount", "message": "is required"},))
    assert bounded(fate) == fate


def test_rejected_items_fill_parts_of_bounded_size() -> None:
    parts = rejected_parts([bounded(noisy(i, 40)) for i in range(500)])
    assert sorted(parts, reverse=True)[0] == -1 and len(parts) > 1
    assert [f.index for n in sorted(parts, reverse=True) for f in parts[n]] == list(range(500))
    for items in parts.values():
        stored = json.dumps([f.to_json() for f in items], separators=(",", ":"))  # as kept
        assert len(stored) <= PART_BYTES + 2


def test_nothing_rejected_is_one_empty_part() -> None:
    assert rejected_parts([]) == {-1: []}
