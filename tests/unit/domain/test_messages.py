"""How a request's items become queue messages: groups, order, chunks, dedup ids."""

from __future__ import annotations

import json

import pytest

from chalicelib.domain.messages import MAX_ITEMS, MessageError, group_for, parse, plan
from chalicelib.domain.model import Transaction
from tests.support.factories import tx


def indexed(*txs: Transaction) -> list[tuple[int, Transaction]]:
    return list(enumerate(txs))


def test_one_message_per_account_in_request_order() -> None:
    parts = plan("b1", "r1", indexed(tx("1", "A"), tx("2", "B"), tx("3", "A"), tx("4", "C")))
    assert [[i for i, _ in p.items] for p in parts] == [[0, 2], [1], [3]]
    assert [p.number for p in parts] == [0, 1, 2]
    assert parts[0].group == group_for("b1", "A") != group_for("b2", "A")
    assert len({p.group for p in parts}) == 3
    assert "A" not in parts[0].group  # no account number in queue metadata


def test_a_repeated_id_rides_with_its_first_occurrence() -> None:
    parts = plan("b1", "r1", indexed(tx("x", "A"), tx("y", "B"), tx("x", "B", amount="2.00")))
    assert [[i for i, _ in p.items] for p in parts] == [[0, 2], [1]]


def test_a_busy_account_is_split_in_ordered_chunks_of_one_group() -> None:
    many = [tx(f"t{i}", "A") for i in range(MAX_ITEMS * 2 + 5)]
    parts = plan("b1", "r1", indexed(*many))
    assert [len(p.items) for p in parts] == [MAX_ITEMS, MAX_ITEMS, 5]
    assert len({p.group for p in parts}) == 1
    assert [i for p in parts for i, _ in p.items] == list(range(len(many)))
    assert all(len(p.body()) < 128 * 1024 for p in parts)


def test_hashed_groups_keep_each_account_in_one_group() -> None:
    accounts = [f"ACC{i}" for i in range(50)]
    parts = plan("b1", "r1", indexed(*[tx(f"t{i}", a) for i, a in enumerate(accounts * 2)]),
                 groups=4)
    assert len(parts) <= 4
    owner: dict[str, str] = {}
    for p in parts:
        for _, content in p.items:
            assert owner.setdefault(content["account"], p.group) == p.group
        assert [i for i, _ in p.items] == sorted(i for i, _ in p.items)
    assert group_for("b1", "A", 4) != group_for("b2", "A", 4)


def test_dedup_id_is_the_messages_content_so_other_content_is_never_dropped() -> None:
    first = plan("b1", "r1", indexed(tx("1", "A")))[0].message()
    same = plan("b1", "r1", indexed(tx("1", "A")))[0].message()
    other = plan("b1", "r1", indexed(tx("1", "A", amount="11.00")))[0].message()
    later = plan("b1", "r2", indexed(tx("1", "A")))[0].message()
    assert first.dedup_id == same.dedup_id
    assert len({first.dedup_id, other.dedup_id, later.dedup_id}) == 3


def test_a_message_body_parses_back_and_garbage_is_refused() -> None:
    (part,) = plan("b1", "r1", indexed(tx("1", "A", amount="250.50")))
    assert parse(part.body()) == part
    assert part.items[0][1]["amount"] == "250.50"  # money as a decimal string
    for bad in ("not json", "[]", json.dumps({"v": 99}), json.dumps({"v": 1, "bank": "b"})):
        with pytest.raises(MessageError):
            parse(bad)
