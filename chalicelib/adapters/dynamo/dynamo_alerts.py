"""Alerts, outbox events, alert counters and suppressions as DynamoDB items (one table).

| item | pk | sk | other attributes |
|---|---|---|---|
| alert | `AL#<bank>#<tx id>` | `AL` | `status`, `account`, `rules`, `body` (JSON), index keys |
| outbox event | `EV#<bank>#<tx id>` | `EV` | `id`, `type`, `created`, `data` (JSON), index keys |
| alert counters, shard s | `AO#<bank>#<ss>` | `AO` | `ao` open alerts, `as` suppressed flags |
| a bank's suppressions | `SP#<bank>` | `SP` | `s_<id>` = JSON, one attribute each |

The sparse index `alerts` (g3; only alert items carry its keys, so a transaction writes nothing
to it: the `by_account` index it replaced cost a write per transaction) holds an alert under
`AS#<bank>#<status>` (the queue by status); `flagged` (g2) holds it under `AA#<bank>#<account>`
(an account's alerts), its keys prefixed so they never meet a transaction's; both sorted
`<time key>#<tx id>` like transactions. A pending event sits in
`flagged` under `OB#<n>` (n of OUTBOX_SHARDS, from its id; sorted `<created>#<event id>`): the
dispatcher queries those few partitions oldest first, never scans, and dispatching removes the
index keys (the item stays, so a redelivered commit's conditional put cannot send it again).
Counters live on items of their own (not the bank shards reconcile overwrites), sharded like
the bank's totals so concurrent commits do not contend on one item.

Everything a plan writes here is keyed by transaction id and put on the condition that it is
absent (`plan_puts`): the transactional commit adds those puts to its chunk; a consumer that
writes without transactions can put the same items one by one, and a repeat changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.adapters.dynamo import dynamo_table as t
from chalicelib.domain.alerts import Alert, Event, Suppression
from chalicelib.domain.timeutil import sort_key

ALERTS, G3PK, G3SK = "alerts", "g3pk", "g3sk"  # the sparse index of alerts by status
OUTBOX_SHARDS = 4  # partitions of pending events in the `flagged` index (writes spread)
ALERT_SK, EVENT_SK, COUNT_SK, SUPPRESSIONS_SK = "AL", "EV", "AO", "SP"
SUPPRESSION_PREFIX = "s_"
OPEN_COUNT, SUPPRESSED_COUNT = "ao", "as"


def _dump(body: object) -> str:
    return json.dumps(body, separators=(",", ":"))


def alert_key(bank: str, transaction_id: str) -> t.Wire:
    return t.key(f"AL#{bank}#{transaction_id}", ALERT_SK)


def event_key(bank: str, transaction_id: str) -> t.Wire:
    return t.key(f"EV#{bank}#{transaction_id}", EVENT_SK)


def counter_key(bank: str, shard: int) -> t.Wire:
    return t.key(f"AO#{bank}#{shard:02d}", COUNT_SK)


def suppressions_key(bank: str) -> t.Wire:
    return t.key(f"SP#{bank}", SUPPRESSIONS_SK)


def status_index_pk(bank: str, status: str) -> str:
    """g3pk of an alert: the bank's alerts in one status (index `alerts`)."""
    return f"AS#{bank}#{status}"


def account_alerts_pk(bank: str, account: str) -> str:
    """g2pk of an alert: one account's alerts (index `flagged`)."""
    return f"AA#{bank}#{account}"


def outbox_pk(shard: int) -> str:
    """g2pk of a pending event (index `flagged`), across banks."""
    return f"OB#{shard}"


def outbox_shard(event: Event) -> int:
    return int(event.id.removeprefix("evt_")[:8], 16) % OUTBOX_SHARDS


def alert_position(alert: Alert) -> str:
    tx = alert.transaction
    return t.position(sort_key(tx.timestamp_text), tx.id)


def alert_item(alert: Alert) -> t.Wire:
    """An alert as stored, in wire form, with both index entries for its status."""
    at = alert_position(alert)
    return {**alert_key(alert.bank, alert.transaction_id),
            "status": {"S": alert.status}, "account": {"S": alert.transaction.account},
            "rules": {"L": [{"S": r} for r in alert.rules]},
            "body": {"S": _dump(alert.to_json())},
            G3PK: {"S": status_index_pk(alert.bank, alert.status)}, G3SK: {"S": at},
            "g2pk": {"S": account_alerts_pk(alert.bank, alert.transaction.account)},
            "g2sk": {"S": at}}


def alert_from(bank: str, wire: t.Wire) -> Alert:
    return Alert.from_json(bank, json.loads(wire["body"]["S"]))


def event_transaction(event: Event) -> str:
    """The transaction an event is about (its item's key)."""
    return str(event.data["alert"]["transaction_id"])


def event_item(event: Event) -> t.Wire:
    """A pending outbox event in wire form (in the pending index until dispatched)."""
    return {**event_key(event.bank, event_transaction(event)), "id": {"S": event.id},
            "type": {"S": event.type}, "bank": {"S": event.bank},
            "created": {"S": event.created}, "data": {"S": _dump(event.data)},
            "g2pk": {"S": outbox_pk(outbox_shard(event))},
            "g2sk": {"S": f"{event.created}#{event.id}"}}


def event_from(wire: t.Wire) -> Event:
    return Event(wire["id"]["S"], wire["type"]["S"], wire["bank"]["S"], wire["created"]["S"],
                 json.loads(wire["data"]["S"]))


def plan_puts(table: str, alerts: list[Alert], events: list[Event]) -> list[dict[str, Any]]:
    """The conditional puts of a plan's alerts and events (TransactWriteItems actions; each
    `["Put"]` is also a PutItem request): written only if absent, so a repeat never reopens a
    triaged alert nor records a dispatched event again."""
    items = [alert_item(a) for a in alerts] + [event_item(e) for e in events]
    return [{"Put": {"TableName": table, "Item": item,
                     "ConditionExpression": "attribute_not_exists(pk)"}} for item in items]


def counter_update(table: str, bank: str, shard: int, opened: int,
                   suppressed: int) -> dict[str, Any]:
    """The ADD of a commit's (or a triage's) change to the bank's alert counters."""
    adds = {OPEN_COUNT: opened, SUPPRESSED_COUNT: suppressed}
    names = {f"#{n}": n for n, v in adds.items() if v}
    return {"Update": {"TableName": table, "Key": counter_key(bank, shard),
                       "UpdateExpression": "ADD " + ", ".join(
                           f"#{n} :{n}" for n, v in adds.items() if v),
                       "ExpressionAttributeNames": names,
                       "ExpressionAttributeValues": {f":{n}": {"N": str(v)}
                                                     for n, v in adds.items() if v}}}


def suppression_attribute(suppression_id: str) -> str:
    return SUPPRESSION_PREFIX + suppression_id


def suppressions_from(bank: str, wire: t.Wire | None) -> list[Suppression]:
    """The suppressions held on a bank's item (none when it has no item)."""
    if wire is None:
        return []
    found = [Suppression.from_json(bank, json.loads(value["S"])) for name, value in wire.items()
             if name.startswith(SUPPRESSION_PREFIX)]
    return sorted(found, key=lambda s: (s.created_at, s.id))
