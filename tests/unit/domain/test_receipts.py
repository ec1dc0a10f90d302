"""A receipt part never grows with a request's content without a bound (DynamoDB's 400 KB)."""

from __future__ import annotations

import json

from chalicelib.domain.messages import MAX_ITEMS
from chalicelib.domain.receipts import (
    MAX_DETAIL_BYTES,
    MAX_ERRORS,
    MAX_TEXT,
    PART_BYTES,
    REJECTED,
    ItemFate,
    ReceiptPart,
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


def detail(rule: str, words: int) -> dict[str, object]:
    return {"rule": rule, "version": 3,
            "evidence": {"when": "amount > 1 and " * words, "amount": "12000.00"}}


def test_an_item_keeps_the_flag_details_that_fit_and_counts_the_rest() -> None:
    details = tuple(detail(f"r{k}", 2) for k in range(50))
    kept = bounded(ItemFate(0, "t1", "created", tuple(f"r{k}" for k in range(50)),
                            flag_details=details))
    assert 0 < len(kept.flag_details) < 50 and kept.flag_details == details[:len(kept.flag_details)]
    assert kept.details_omitted == 50 - len(kept.flag_details)
    assert len(json.dumps(list(kept.flag_details), separators=(",", ":"))) <= MAX_DETAIL_BYTES
    assert kept.to_json()["flag_details_omitted"] == kept.details_omitted
    assert ItemFate.from_json(kept.to_json()) == kept and len(kept.flags) == 50


def test_an_item_with_few_details_keeps_them_all_and_says_nothing_more() -> None:
    fate = ItemFate(0, "t1", "created", ("big",), flag_details=(detail("big", 1),))
    assert bounded(fate) == fate and "flag_details_omitted" not in fate.to_json()


def test_a_part_written_before_flag_details_reads_with_none() -> None:
    old = {"index": 2, "id": "t1", "status": "created", "flags": ["big"], "errors": []}
    assert ItemFate.from_json(old).flag_details == ()


def test_a_message_part_at_its_worst_stays_far_under_dynamodbs_item_limit() -> None:
    # every item created with 50 flags of the longest names and details over the budget
    names = tuple(f"{k:02d}" + "r" * 38 for k in range(50))
    worst = [bounded(ItemFate(i, "x" * 5000, "created", names,
                              flag_details=tuple(detail(n, 40) for n in names)))
             for i in range(MAX_ITEMS)]
    size = len(json.dumps([f.to_json() for f in ReceiptPart(worst).items],
                          separators=(",", ":")))
    assert size < 400 * 1024 * 0.9, size


def _fate_of(index: int, length: int) -> ItemFate:
    """A rejected item whose compact JSON plus 1 (what rejected_parts counts) is `length`."""
    empty = ItemFate(index, f"t{index}", REJECTED,
                     errors=tuple({"field": "amount", "message": ""} for _ in range(MAX_ERRORS)))
    extra = length - len(json.dumps(empty.to_json(), separators=(",", ":"))) - 1
    assert 0 <= extra <= MAX_ERRORS * MAX_TEXT
    sizes = [extra // MAX_ERRORS + (1 if k < extra % MAX_ERRORS else 0)
             for k in range(MAX_ERRORS)]
    return ItemFate(index, f"t{index}", REJECTED,
                    errors=tuple({"field": "amount", "message": "m" * n} for n in sizes))


def _filling(total: int, count: int, start: int) -> list[ItemFate]:
    each, rest = divmod(total, count)
    return [_fate_of(start + i, each + (rest if i == 0 else 0)) for i in range(count)]


def test_rejected_parts_are_cut_only_past_part_bytes_and_numbered_down_from_minus_one() -> None:
    # two runs of exactly PART_BYTES: parts -1 and -2, cut between them
    exact = _filling(PART_BYTES, 200, 0) + _filling(PART_BYTES, 200, 200)
    parts = rejected_parts(exact)
    assert {n: [f.index for f in p] for n, p in parts.items()} == {
        -1: list(range(200)), -2: list(range(200, 400))}
    # one byte more and part -1 ends an item earlier
    over = [*_filling(PART_BYTES + 1, 200, 0), _fate_of(200, 300)]
    assert {n: len(p) for n, p in rejected_parts(over).items()} == {-1: 199, -2: 2}
    # small items share one part
    assert {n: len(p) for n, p in rejected_parts(_filling(2000, 4, 0)).items()} == {-1: 4}


def _detail(rule: str, length: int) -> dict[str, object]:
    """A flag detail whose compact JSON plus 1 is `length`."""
    empty = {"rule": rule, "version": 1, "evidence": {"why": ""}}
    pad = length - len(json.dumps(empty, separators=(",", ":"))) - 1
    return {"rule": rule, "version": 1, "evidence": {"why": "w" * pad}}


def test_flag_details_fill_exactly_max_detail_bytes_and_no_more() -> None:
    exact = tuple(_detail(f"r{i}", MAX_DETAIL_BYTES // 4) for i in range(4))
    assert bounded(ItemFate(0, "t", "created", flag_details=exact)).flag_details == exact
    over = (*exact[:3], _detail("r3", MAX_DETAIL_BYTES // 4 + 1))
    kept = bounded(ItemFate(0, "t", "created", flag_details=over))
    assert (kept.flag_details, kept.details_omitted) == (exact[:3], 1)


def test_details_omitted_before_add_to_those_omitted_now() -> None:
    fate = ItemFate(0, "t", "created", flag_details=(_detail("r", 600), _detail("s", 600)),
                    details_omitted=2)
    assert bounded(fate).details_omitted == 3
    assert bounded(ItemFate(0, "t", "created", details_omitted=2)).details_omitted == 2


def test_exactly_max_errors_and_max_text_are_kept_whole() -> None:
    errors = tuple({"field": "f", "message": "m" * MAX_TEXT} for _ in range(MAX_ERRORS))
    kept = bounded(ItemFate(0, "i" * MAX_TEXT, REJECTED, errors=errors))
    assert (kept.id, kept.errors) == ("i" * MAX_TEXT, errors)
    longer = bounded(ItemFate(0, "i" * (MAX_TEXT + 1), REJECTED))
    assert longer.id == "i" * (MAX_TEXT - 1) + "\u2026"


def test_a_fate_reads_back_from_its_stored_form() -> None:
    for fate in (ItemFate(3, "t", "created", ("velocity",), (), ({"rule": "velocity"},)),
                 ItemFate(4, "u", "created", details_omitted=2)):
        assert ItemFate.from_json(fate.to_json()) == fate
