"""Puts only if absent, 25 a call (dynamo_insert): on DynamoDB Local, and a fake for throttling."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.adapters.dynamo import dynamo_table as t
from chalicelib.adapters.dynamo.dynamo_insert import (
    insert_absent,
    insert_statement,
    inserted_item,
)
from chalicelib.adapters.dynamo.dynamo_store import DynamoStore
from chalicelib.ports.store import StoreError
from chalicelib.support.backoff import Backoff
from tests.support.dynamodb_local import dynamodb_local_store


def item(n: int, writer: str = "w1") -> t.Wire:
    return {"pk": {"S": f"TX#b#{n}"}, "sk": {"S": "TX"}, "w": {"S": writer},
            "it's": {"M": {"a": {"N": "1.50"}, "l": {"L": [{"S": "x"}]}}}}


def test_the_statement_names_every_attribute_and_reads_back_as_the_item() -> None:
    request = insert_statement("txn-test", item(1))
    assert request["Statement"] == (
        """INSERT INTO "txn-test" VALUE {'pk': ?, 'sk': ?, 'w': ?, 'it''s': ?}""")
    assert inserted_item(request) == item(1)
    with pytest.raises(ValueError):
        insert_statement('a"b', item(1))


@pytest.mark.emulator
def test_present_keys_come_back_and_keep_what_they_held(dynamodb_local: Any) -> None:
    with dynamodb_local_store() as store:
        assert isinstance(store, DynamoStore)
        assert insert_absent(store.db, [item(1), item(2)]) == set()
        present = insert_absent(store.db, [item(2, "w2"), item(3, "w2")])
        assert present == {("TX#b#2", "TX")}
        got = store.db.batch_get([t.key(f"TX#b#{n}", "TX") for n in (1, 2, 3)])
        assert {k[0]: v["w"]["S"] for k, v in got.items()} == {
            "TX#b#1": "w1", "TX#b#2": "w1", "TX#b#3": "w2"}  # the first writer's, kept
        assert got[("TX#b#1", "TX")]["it's"] == item(1)["it's"]
        with pytest.raises(ValueError):
            insert_absent(store.db, [item(n) for n in range(26)])


class ScriptedTable(t.DynamoTable):
    """Answers BatchExecuteStatement from a script of per-statement error codes."""

    def __init__(self, script: list[list[str]]) -> None:
        super().__init__("txn-test", backoff=Backoff(0.0, 0.0))
        self.script = script
        self.sent: list[int] = []

    def call(self, operation: str, *, expect: Any = (), **params: Any) -> dict[str, Any]:
        codes = self.script.pop(0)
        assert len(codes) == len(params["Statements"])
        self.sent.append(len(codes))
        return {"Responses": [{"Error": {"Code": c}} if c else {} for c in codes]}


def test_throttled_statements_alone_are_sent_again() -> None:
    db = ScriptedTable([["", "ThrottlingError", "DuplicateItem"], ["TransactionConflict"], [""]])
    assert insert_absent(db, [item(1), item(2), item(3)]) == {("TX#b#3", "TX")}
    assert db.sent == [3, 1, 1]


def test_an_unexpected_statement_error_or_endless_throttling_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="AccessDenied"):
        insert_absent(ScriptedTable([["", "AccessDenied"]]), [item(1), item(2)])
    with pytest.raises(StoreError, match="throttling"):
        insert_absent(ScriptedTable([["ThrottlingError"]] * t.BATCH_TRIES), [item(1)])


@pytest.mark.emulator
def test_a_record_is_kept_for_its_writer_rewritten_when_its_content_moved_and_others_see_it(
        dynamodb_local: Any) -> None:
    from datetime import UTC, datetime

    from chalicelib.adapters.dynamo import dynamo_codec as codec
    from chalicelib.domain.model import FlagDetail
    from chalicelib.domain.validation import validate_transaction

    now = datetime(2026, 12, 4, 12, tzinfo=UTC)
    plain = validate_transaction({"id": "t1", "account": "A", "amount": "15000.37",
                                  "type": "debit", "timestamp": "2026-12-04T11:00:00Z"}, now)
    flagged = plain.with_flags(("large_amount",), (FlagDetail("large_amount", 1),))
    with dynamodb_local_store() as store:
        assert isinstance(store, DynamoStore)
        assert store.sequenced("b").put_records([("tok1", plain)]) == {}
        # the same writer again (a redelivery): its own record, nothing taken
        assert store.sequenced("b").put_records([("tok1", plain)]) == {}
        # the same writer with other content (a suppression moved the flags): rewritten
        assert store.sequenced("b").put_records([("tok1", flagged)]) == {}
        stored = store.db.batch_get([t.tx_key("b", "t1")])[("TX#b#t1", "TX")]
        assert codec.tx_from(codec.from_wire(stored)) == flagged
        # another writer: told what the id holds, nothing written
        assert store.sequenced("b").put_records([("tok2", plain)]) == {"t1": flagged}
