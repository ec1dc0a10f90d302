"""The AlertStore and OutboxStore half of the DynamoDB store (items in `dynamo_alerts`).

Every read is a GetItem, a BatchGetItem or a Query of a few index partitions: never a scan.
"""

from __future__ import annotations

import heapq
import random
from abc import abstractmethod
from collections.abc import Iterator
from typing import Any

from chalicelib.adapters.dynamo import dynamo_alerts as alerting
from chalicelib.adapters.dynamo import dynamo_codec as codec
from chalicelib.adapters.dynamo import dynamo_table as t
from chalicelib.domain.alerts import ALERT_STATUSES, OPEN, Alert, AlertChange, Event, Suppression
from chalicelib.domain.timeutil import parse_timestamp
from chalicelib.ports.store import AlertChanged, AlertCounts, AlertStore, OutboxStore, StoreError

_CANCELLED = "TransactionCanceledException"
_FAILED = "ConditionalCheckFailedException"


class DynamoAlerts(AlertStore, OutboxStore):
    """Alerts, counters, suppressions and the outbox on the store's table."""

    db: t.DynamoTable
    shards: int

    @property
    @abstractmethod
    def table(self) -> str:
        """The table's name."""

    def get_alert(self, bank: str, transaction_id: str) -> Alert | None:
        out = self.db.on_table("get_item", Key=alerting.alert_key(bank, transaction_id),
                               ConsistentRead=True)
        return alerting.alert_from(bank, out["Item"]) if "Item" in out else None

    def _alerts(self, bank: str, index: str, partition: str, rule: str | None, status: str | None,
                limit: int, after: tuple[str, str] | None) -> Iterator[Alert]:
        """One index partition's alerts newest first, filtered (a Query never a scan; the
        filter reads past what it drops, page by page, until `limit` match)."""
        g = "g3" if index == alerting.ALERTS else "g2"
        values: dict[str, Any] = {":p": {"S": partition}}
        condition = f"{g}pk = :p"
        if after is not None:
            values[":c"] = {"S": t.position(*after)}
            condition += f" AND {g}sk < :c"
        filters: list[str] = []
        names: dict[str, str] = {}
        if rule is not None:
            values[":r"] = {"S": rule}
            filters.append("contains(#r, :r)")
            names["#r"] = "rules"
        if status is not None:
            values[":s"] = {"S": status}
            filters.append("#s = :s")
            names["#s"] = "status"
        params: dict[str, Any] = {"IndexName": index, "KeyConditionExpression": condition,
                                  "ExpressionAttributeValues": values, "ScanIndexForward": False}
        if filters:
            params.update(FilterExpression=" AND ".join(filters), ExpressionAttributeNames=names)
        # pages of at most `limit` items read: a page never reads far past what is asked
        for wire in self.db.query(limit, **params):
            yield alerting.alert_from(bank, wire)

    def list_alerts(self, bank: str, status: str | None, rule: str | None, account: str | None,
                    limit: int, after: tuple[str, str] | None) -> list[Alert]:
        if account is not None:
            return list(self._alerts(bank, codec.FLAGGED,
                                     alerting.account_alerts_pk(bank, account), rule, status,
                                     limit, after))
        statuses = [status] if status is not None else list(ALERT_STATUSES)
        streams = [self._alerts(bank, alerting.ALERTS, alerting.status_index_pk(bank, s), rule,
                                None, limit, after) for s in statuses]
        merged = heapq.merge(*streams, key=alerting.alert_position, reverse=True)
        return [a for _, a in zip(range(limit), merged, strict=False)]

    def change_alert(self, bank: str, alert: Alert, change: AlertChange) -> Alert:
        changed = alert.changed(change)
        item = alerting.alert_item(changed)
        update = {"TableName": self.table, "Key": alerting.alert_key(bank, alert.transaction_id),
                  "UpdateExpression": "SET #s = :s, #b = :b, g3pk = :g",
                  "ConditionExpression": "#b = :old",
                  "ExpressionAttributeNames": {"#s": "status", "#b": "body"},
                  "ExpressionAttributeValues": {
                      ":s": item["status"], ":b": item["body"], ":g": item[alerting.G3PK],
                      ":old": alerting.alert_item(alert)["body"]}}
        delta = (change.status == OPEN) - (alert.status == OPEN)
        try:
            if delta:  # the status and the open count move together
                counter = alerting.counter_update(self.table, bank,
                                                  random.randrange(self.shards), delta, 0)
                self.db.call("transact_write_items", expect={_CANCELLED},
                             TransactItems=[{"Update": update}, counter])
            else:
                self.db.call("update_item", expect={_FAILED}, **update)
        except t.Rejected as exc:
            codes = {str(r.get("Code")) for r in exc.response.get("CancellationReasons", [])}
            if exc.code == _CANCELLED and "ConditionalCheckFailed" not in codes:
                raise StoreError(f"DynamoDB cancelled the triage: {sorted(codes)}") from exc
            raise AlertChanged(f"alert {alert.transaction_id} changed since it was read") from exc
        return changed

    def alert_counts(self, bank: str) -> AlertCounts:
        items = self.db.batch_get([alerting.counter_key(bank, s) for s in range(self.shards)])
        found = [codec.from_wire(w) for w in items.values()]
        return AlertCounts(sum(int(i.get(alerting.OPEN_COUNT, 0)) for i in found),
                           sum(int(i.get(alerting.SUPPRESSED_COUNT, 0)) for i in found))

    def _suppressions_item(self, bank: str) -> t.Wire | None:
        out = self.db.on_table("get_item", Key=alerting.suppressions_key(bank),
                               ConsistentRead=True)
        item: t.Wire | None = out.get("Item")
        return item

    def put_suppression(self, suppression: Suppression) -> None:
        # One item holds the bank's suppressions, so ingest reads them with the account states
        # in the BatchGetItem it makes anyway; expired ones are dropped as a new one is added.
        held = alerting.suppressions_from(suppression.bank,
                                          self._suppressions_item(suppression.bank))
        expired = [s.id for s in held if not s.in_force(parse_timestamp(suppression.created_at))]
        names = {"#n": alerting.suppression_attribute(suppression.id)}
        names.update({f"#x{i}": alerting.suppression_attribute(x) for i, x in enumerate(expired)})
        expression = "SET #n = :v" + (" REMOVE " + ", ".join(f"#x{i}" for i in range(
            len(expired))) if expired else "")
        self.db.on_table("update_item", Key=alerting.suppressions_key(suppression.bank),
                         UpdateExpression=expression, ExpressionAttributeNames=names,
                         ExpressionAttributeValues={":v": {"S": alerting._dump(
                             suppression.to_json())}})

    def list_suppressions(self, bank: str) -> list[Suppression]:
        return alerting.suppressions_from(bank, self._suppressions_item(bank))

    def delete_suppression(self, bank: str, suppression_id: str) -> bool:
        if not any(s.id == suppression_id for s in self.list_suppressions(bank)):
            return False  # read first: a 404 writes nothing, not even a failed condition
        try:
            self.db.on_table("update_item", expect={_FAILED},
                             Key=alerting.suppressions_key(bank), UpdateExpression="REMOVE #n",
                             ConditionExpression="attribute_exists(#n)",
                             ExpressionAttributeNames={
                                 "#n": alerting.suppression_attribute(suppression_id)})
        except t.Rejected:
            return False
        return True

    def pending_events(self, limit: int) -> list[Event]:
        # the dispatcher's read, off the request path: a few index partitions, oldest first
        streams = [self.db.query(limit, IndexName=codec.FLAGGED,
                                 KeyConditionExpression="g2pk = :p",
                                 ExpressionAttributeValues={":p": {"S": alerting.outbox_pk(n)}})
                   for n in range(alerting.OUTBOX_SHARDS)]
        merged = heapq.merge(*streams, key=lambda w: str(w["g2sk"]["S"]))
        return [alerting.event_from(w) for _, w in zip(range(limit), merged, strict=False)]

    def mark_dispatched(self, events: list[Event]) -> None:
        # the same item without its index keys: out of the pending index, still there, so a
        # repeated conditional put of it (a redelivered commit) writes nothing; 25 a call
        items = []
        for event in {e.id: e for e in events}.values():  # a batch may not name one item twice
            item = alerting.event_item(event)
            del item["g2pk"], item["g2sk"]
            items.append({**item, "dispatched": {"BOOL": True}})
        self.db.batch_write([{"PutRequest": {"Item": item}} for item in items])
