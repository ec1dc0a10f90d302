"""Receipts of asynchronous requests in the ledger table: one item per part.

| item | pk | sk | other attributes |
|---|---|---|---|
| receipt part n | `RC#<bank>#<request_id>` | `P#<n+1:05d>` | `created_at`, `items`, `writing` |

`items` is the part's item fates as JSON, `writing` a string set of ids being committed.

A receipt is read with one strongly consistent Query on its `pk`; a consumer writes only its own
part (one UpdateItem per mark or settle). The parts are created in TransactWriteItems calls of
up to 100 (the Lambda role has no BatchWriteItem).
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.receipts import ItemFate, Receipt, ReceiptPart, ReceiptStore
from chalicelib.storage import dynamo_codec as codec
from chalicelib.storage.dynamo import DynamoStore

TRANSACT_MAX = 100


def receipt_pk(bank: str, request_id: str) -> str:
    return f"RC#{bank}#{request_id}"


def part_sk(part: int) -> str:
    return f"P#{part + 1:05d}"  # part -1 (the rejected items) sorts first as P#00000


def _part(item: dict[str, Any]) -> ReceiptPart:
    return ReceiptPart([ItemFate.from_json(i) for i in json.loads(str(item["items"]))],
                       {str(w) for w in item.get("writing", set())})


def _dump(items: list[ItemFate]) -> str:
    return json.dumps([i.to_json() for i in items], separators=(",", ":"))


class DynamoReceipts(ReceiptStore):
    """Receipts beside the ledger, through the ledger store's client and error handling."""

    def __init__(self, store: DynamoStore) -> None:
        self.store = store

    def create(self, bank: str, request_id: str, created_at: str,
               parts: dict[int, list[ItemFate]]) -> None:
        puts = [{"Put": {"TableName": self.store.table, "Item": codec.to_wire({
            codec.PK: receipt_pk(bank, request_id), codec.SK: part_sk(n),
            "created_at": created_at, "items": _dump(items)}),
            "ConditionExpression": "attribute_not_exists(pk)"}} for n, items in parts.items()]
        for start in range(0, len(puts), TRANSACT_MAX):
            self.store.call("transact_write_items", TransactItems=puts[start:start + TRANSACT_MAX])

    def get(self, bank: str, request_id: str) -> Receipt | None:
        items = list(self.store.query(
            KeyConditionExpression="pk = :pk", ConsistentRead=True,
            ExpressionAttributeValues={":pk": {"S": receipt_pk(bank, request_id)}}))
        if not items:
            return None
        parts = {int(str(i[codec.SK])[2:]) - 1: _part(i) for i in items}
        return Receipt(request_id, str(items[0]["created_at"]), parts)

    def get_part(self, bank: str, request_id: str, part: int) -> ReceiptPart | None:
        out = self.store.on_table("get_item", ConsistentRead=True,
                                  Key=codec.key(receipt_pk(bank, request_id), part_sk(part)))
        return _part(codec.from_wire(out["Item"])) if "Item" in out else None

    def mark_writing(self, bank: str, request_id: str, part: int, ids: list[str]) -> None:
        if ids:
            self.store.on_table(
                "update_item", Key=codec.key(receipt_pk(bank, request_id), part_sk(part)),
                UpdateExpression="ADD writing :ids", ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":ids": {"SS": sorted(set(ids))}})

    def settle(self, bank: str, request_id: str, part: int, items: list[ItemFate]) -> None:
        self.store.on_table(
            "update_item", Key=codec.key(receipt_pk(bank, request_id), part_sk(part)),
            UpdateExpression="SET #items = :items", ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#items": "items"},
            ExpressionAttributeValues={":items": {"S": _dump(items)}})
