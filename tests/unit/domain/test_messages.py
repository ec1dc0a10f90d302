"""How a request's items become queue messages: groups, order, chunks, dedup ids."""

from __future__ import annotations

import json

import pytest

from chalicelib.domain.messages import MAX_BYTES, MAX_ITEMS, MessageError, group_for, parse, plan
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


def test_groups_are_stable_hashes_across_releases() -> None:
    # messages in flight and group totals are keyed by these: a release must not move them
    assert group_for("b1", "A") == "c9bfc930a87938f34752c61851a04095b892ddc8"
    assert group_for("b1", "A", 7) == "7dc96f776c8423e57a2785489a3f9c43-2-7"
    assert group_for("b2", "ACC9", 1000) == "4814d92093ac8a0f4a2163ab87dee509-512-1000"


def test_the_body_is_compact_key_sorted_json() -> None:
    (part,) = plan("b1", "r1", indexed(tx("1", "A")))
    assert part.body() == (
        '{"bank":"b1","group":"c9bfc930a87938f34752c61851a04095b892ddc8","items":[[0,'
        '{"account":"A","amount":"10.00","currency":"USD","id":"1","timestamp":'
        '"2026-01-10T14:00:00Z","type":"credit"}]],"part":0,"request":"r1","v":1}')


def _sized(tx_id: str, length: int) -> Transaction:
    """A transaction that plan() counts as `length` bytes: its content's JSON plus 16."""
    base = tx(tx_id, "A")
    extra = length - (len(json.dumps(base.content())) + 16) - len(', "description": ""')
    assert extra >= 0
    emoji, ascii_ = divmod(extra, 12)  # json.dumps writes an emoji as 12 characters
    return Transaction(base.id, base.account, base.amount, base.currency, base.type,
                       base.timestamp, description="\U0001f600" * emoji + "x" * ascii_)


def _cut_at(total: int, count: int, prefix: str) -> list[Transaction]:
    each, rest = divmod(total, count)
    return [_sized(f"{prefix}{i}", each + (rest if i == 0 else 0)) for i in range(count)]


def test_a_message_is_cut_only_when_its_items_would_pass_max_bytes() -> None:
    # each item counts as its content's JSON plus 16 (its index and brackets): two runs of
    # exactly MAX_BYTES are two messages, cut between them
    exact = _cut_at(MAX_BYTES, 50, "a") + _cut_at(MAX_BYTES, 50, "b")
    parts = plan("b1", "r1", indexed(*exact))
    assert [(p.bank, p.request_id, p.number, len(p.items)) for p in parts] == [
        ("b1", "r1", 0, 50), ("b1", "r1", 1, 50)]
    # one byte more and the first message ends an item earlier
    over = [*_cut_at(MAX_BYTES + 1, 50, "a"), _sized("c", 1000)]
    assert [len(p.items) for p in plan("b1", "r1", indexed(*over))] == [49, 2]


def test_a_repeat_stays_with_its_leader_even_past_the_item_limit() -> None:
    many = [tx(f"t{i}", "A") for i in range(MAX_ITEMS)] + [tx("t0", "A", amount="2.00")]
    assert [len(p.items) for p in plan("b1", "r1", indexed(*many))] == [MAX_ITEMS + 1]


@pytest.mark.parametrize(("body", "message"), [
    ('{"v": 2}', "not an ingest message: unknown message format 2"),
    ('{"items": []}', "not an ingest message: unknown message format None"),
    ('{"v": 1}', "not an ingest message: 'items'"),
])
def test_a_body_that_is_not_ours_says_why(body: str, message: str) -> None:
    with pytest.raises(MessageError) as caught:
        parse(body)
    assert str(caught.value) == message
