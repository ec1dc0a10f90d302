"""A replay's DynamoDB read: Scan pages taken as sent, transactions built from the wire."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from chalicelib.adapters.dynamo.dynamo_replay import raw_scan_items, tx_from_wire

ITEM = {"id": {"S": "t1"}, "account": {"S": "A1"}, "amount": {"N": "250.5"},
        "currency": {"S": "USD"}, "type": {"S": "debit"},
        "timestamp": {"S": "2026-01-10T14:00:00.5Z"}, "channel": {"S": "wire"},
        "flags": {"L": [{"S": "large_amount"}]}, "g1sk": {"S": "x#t1"}}


def page(items: list[dict[str, Any]], status: int = 200) -> dict[str, Any]:
    return {"status_code": status, "headers": {},
            "body": json.dumps({"Items": items, "Count": len(items),
                                "LastEvaluatedKey": {"pk": {"S": "TX#b#t1"}}}).encode()}


def test_a_page_hands_its_items_over_as_sent_and_leaves_the_rest_to_botocore() -> None:
    response, custom = page([ITEM]), dict[str, Any]()
    raw_scan_items(response_dict=response, customized_response_dict=custom)
    assert custom == {"Items": [ITEM]}
    assert json.loads(response["body"]) == {"Count": 1,
                                            "LastEvaluatedKey": {"pk": {"S": "TX#b#t1"}}}


def test_a_page_that_may_hold_binary_values_or_an_error_is_left_whole() -> None:
    for response in (page([{**ITEM, "blob": {"B": "AAE="}}]), page([ITEM], status=400)):
        body, custom = response["body"], dict[str, Any]()
        raw_scan_items(response_dict=response, customized_response_dict=custom)
        assert custom == {} and response["body"] == body


def test_a_string_that_spells_a_binary_key_is_still_taken_as_sent() -> None:
    item = {**ITEM, "description": {"S": 'said "B": yes'}}
    response, custom = page([item]), dict[str, Any]()
    raw_scan_items(response_dict=response, customized_response_dict=custom)
    assert custom["Items"][0]["description"] == {"S": 'said "B": yes'}


def test_a_wire_item_becomes_the_transaction_with_its_amount_to_the_cent() -> None:
    tx = tx_from_wire(ITEM)
    assert (tx.id, tx.account, tx.amount, tx.type, tx.channel, tx.flags) == (
        "t1", "A1", Decimal("250.50"), "debit", "wire", ("large_amount",))
    assert tx.timestamp_text == "2026-01-10T14:00:00.500000Z" and tx.merchant is None
