"""Webhooks and their deliveries' log in the ledger table (keys in `dynamo_table`).

A registration is one TransactWriteItems: the bank's count item goes up on the condition that
it is below the cap, and the webhook is put on the condition that it is new, so concurrent
registrations never pass the cap. A deletion marks the webhook deleted and lowers the count in
one transaction too (UpdateItem only: the API role has no DeleteItem). A log line is one item
per event and webhook, replaced after every attempt.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.adapters.dynamo import dynamo_table as t
from chalicelib.adapters.dynamo.dynamo_table import DynamoTable
from chalicelib.domain.webhooks import Delivery, Webhook
from chalicelib.ports.webhooks import WebhookStore

CANCELLED = "TransactionCanceledException"


def _hook(bank: str, item: dict[str, Any]) -> Webhook:
    return Webhook(bank, item[t.SK]["S"].removeprefix("H#"), item["url"]["S"],
                   tuple(json.loads(item["events"]["S"])), item["created_at"]["S"])


def _line(item: dict[str, Any]) -> Delivery:
    return Delivery(**json.loads(item["line"]["S"]))


class DynamoWebhooks(WebhookStore):
    """Webhooks beside the ledger, through the table's one call helper (errors: StoreError)."""

    def __init__(self, db: DynamoTable) -> None:
        self.db = db

    def _active(self, bank: str) -> int:
        out = self.db.on_table("get_item", ConsistentRead=True, Key=t.webhook_count_key(bank))
        return int(out.get("Item", {}).get("active", {}).get("N", "0"))

    def create_webhook(self, hook: Webhook, cap: int) -> bool:
        if self._active(hook.bank) >= cap:  # the common refusal without a write call; the
            return False  # transaction's condition still decides a race
        item = {**t.webhook_key(hook.bank, hook.id), "url": {"S": hook.url},
                "events": {"S": json.dumps(list(hook.events))},
                "created_at": {"S": hook.created_at}}
        try:
            self.db.call("transact_write_items", expect={CANCELLED}, TransactItems=[
                {"Update": {"TableName": self.db.name, "Key": t.webhook_count_key(hook.bank),
                            "UpdateExpression": "ADD active :one",
                            "ConditionExpression": "attribute_not_exists(active) OR active < :cap",
                            "ExpressionAttributeValues": {":one": {"N": "1"},
                                                          ":cap": {"N": str(cap)}}}},
                {"Put": {"TableName": self.db.name, "Item": item,
                         "ConditionExpression": "attribute_not_exists(pk)"}}])
        except t.Rejected:
            return False
        return True

    def _hooks(self, bank: str) -> list[dict[str, Any]]:
        return list(self.db.query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :h)", ConsistentRead=True,
            ExpressionAttributeValues={":pk": {"S": t.webhooks_pk(bank)}, ":h": {"S": "H#"}}))

    def list_webhooks(self, bank: str) -> list[Webhook]:
        hooks = [_hook(bank, i) for i in self._hooks(bank) if "deleted_at" not in i]
        return sorted(hooks, key=lambda h: (h.created_at, h.id))

    def get_webhook(self, bank: str, webhook_id: str) -> Webhook | None:
        out = self.db.on_table("get_item", ConsistentRead=True,
                               Key=t.webhook_key(bank, webhook_id))
        item = out.get("Item")
        return _hook(bank, item) if item and "deleted_at" not in item else None

    def delete_webhook(self, bank: str, webhook_id: str, at: str) -> bool:
        if self.get_webhook(bank, webhook_id) is None:  # a 404 reads, never writes
            return False
        try:
            self.db.call("transact_write_items", expect={CANCELLED}, TransactItems=[
                {"Update": {"TableName": self.db.name, "Key": t.webhook_key(bank, webhook_id),
                            "UpdateExpression": "SET deleted_at = :at",
                            "ConditionExpression": "attribute_exists(pk) AND"
                                                   " attribute_not_exists(deleted_at)",
                            "ExpressionAttributeValues": {":at": {"S": at}}}},
                {"Update": {"TableName": self.db.name, "Key": t.webhook_count_key(bank),
                            "UpdateExpression": "ADD active :less",
                            "ExpressionAttributeValues": {":less": {"N": "-1"}}}}])
        except t.Rejected:
            return False
        return True

    def get_delivery(self, bank: str, webhook_id: str, created: str,
                     event_id: str) -> Delivery | None:
        out = self.db.on_table("get_item", ConsistentRead=True,
                               Key=t.delivery_key(bank, webhook_id, created, event_id))
        return _line(out["Item"]) if "Item" in out else None

    def put_delivery(self, bank: str, delivery: Delivery) -> None:
        line = json.dumps(delivery.__dict__, separators=(",", ":"))
        self.db.on_table("put_item", Item={
            **t.delivery_key(bank, delivery.webhook_id, delivery.created, delivery.event_id),
            "line": {"S": line}})

    def list_deliveries(self, bank: str, webhook_id: str, limit: int) -> list[Delivery]:
        return [_line(i) for i in self.db.query(
            limit, KeyConditionExpression="pk = :pk", ScanIndexForward=False,
            ExpressionAttributeValues={":pk": {"S": t.deliveries_pk(bank, webhook_id)}})]
