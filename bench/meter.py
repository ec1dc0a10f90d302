"""The benches' one counter: a botocore hook that bills a client's DynamoDB and SQS calls.

`Meter.attach(client)` registers on a client's `before-parameter-build` and `after-call` events.
Each DynamoDB write is billed by `bench.billing` on the item's real sizes: the items it touches
are read (strongly consistent, through an unhooked `shadow` client on the same table) before the
call and, for updates, after it; a failed condition or a cancelled transaction is billed on the
stored item. Reads are billed on what they returned (a missing key at the minimum). Units are
kept by part of the table (records, account items, totals, receipts, each index), SQS requests
by 64 KB of payload; `calls` counts every operation and `log` keeps them in order.
"""

from __future__ import annotations

import threading
from collections import Counter
from decimal import Decimal
from typing import Any

from bench import billing
from chalicelib.adapters.dynamo.dynamo_insert import inserted_item

PARTS = {"TX#": "records", "AC#": "accounts", "AH#": "history", "BS#": "totals",
         "HR#": "totals", "GB#": "totals", "GH#": "totals", "RC#": "receipts"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems",
          "BatchExecuteStatement"}  # the INSERTs of dynamo_insert (the only statements sent)
Key = tuple[str, str]


def part_of(pk: str) -> str:
    """The part of the table an item belongs to, from its partition key's prefix."""
    return next((name for prefix, name in PARTS.items() if pk.startswith(prefix)), "other")


def _key(wire: dict[str, Any]) -> Key:
    return str(wire["pk"]["S"]), str(wire["sk"]["S"])


class Meter:
    """Write and read units by part, SQS requests, and the calls, of every hooked client."""

    def __init__(self, shadow: Any, table: str, indexes: dict[str, tuple[str, str]]) -> None:
        self.shadow = shadow  # a client without the hook: reads items' sizes unbilled
        self.table = table
        self.indexes = indexes  # index name -> (hash key, range key) attributes
        self.wru: Counter[str] = Counter()
        self.rru: dict[str, Decimal] = {}
        self.sqs = 0
        self.calls: Counter[str] = Counter()
        self.log: list[str] = []
        self.lock = threading.Lock()

    def attach(self, client: Any) -> None:
        """Bill `client`'s calls from now on (DynamoDB or SQS)."""
        service = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register(f"before-parameter-build.{service}", self._before)
        client.meta.events.register(f"after-call.{service}", self._after)

    def reset(self) -> None:
        with self.lock:
            self.wru.clear()
            self.rru = {}
            self.sqs = 0
            self.calls.clear()
            self.log.clear()

    @property
    def write_units(self) -> int:
        return sum(self.wru.values())

    @property
    def read_units(self) -> Decimal:
        return sum(self.rru.values(), Decimal(0))

    # --- the hook ------------------------------------------------------------------------------

    def _before(self, params: dict[str, Any], model: Any, context: dict[str, Any],
                **_: Any) -> None:
        context["meter"] = (model.name, params, self._stored(self._written_keys(
            model.name, params)))

    def _after(self, parsed: dict[str, Any], model: Any, context: dict[str, Any],
               **_: Any) -> None:
        name, params, before = context.pop("meter", (model.name, {}, {}))
        with self.lock:
            self.calls[name] += 1
            self.log.append(name)
        if model.service_model.service_name == "sqs":
            self._sqs(name, params, parsed)
        elif name in WRITES:
            self._write(name, params, parsed, before)
        else:
            self._read(name, params, parsed)

    # --- DynamoDB writes -----------------------------------------------------------------------

    def _written_keys(self, name: str, params: dict[str, Any]) -> list[Key]:
        if name == "PutItem":
            return [_key(params["Item"])]
        if name in ("UpdateItem", "DeleteItem"):
            return [_key(params["Key"])]
        if name == "BatchWriteItem":
            return [_key(r["PutRequest"]["Item"] if "PutRequest" in r
                         else r["DeleteRequest"]["Key"])
                    for rs in params["RequestItems"].values() for r in rs]
        if name == "TransactWriteItems":
            return [_key(body.get("Item") or body["Key"])
                    for action in params["TransactItems"] for body in action.values()]
        if name == "BatchExecuteStatement":
            return [_key(inserted_item(r)) for r in params["Statements"]]
        return []

    def _stored(self, keys: list[Key]) -> dict[Key, dict[str, Any]]:
        """The items at `keys` as stored now (absent keys left out), unbilled."""
        found: dict[Key, dict[str, Any]] = {}
        unique = sorted(set(keys))
        table = self.table
        for start in range(0, len(unique), 100):
            pending = {table: {"Keys": [{"pk": {"S": p}, "sk": {"S": s}}
                                        for p, s in unique[start:start + 100]],
                               "ConsistentRead": True}}
            while pending:
                out = self.shadow.batch_get_item(RequestItems=pending)
                for item in out["Responses"].get(table, []):
                    found[_key(item)] = item
                pending = out.get("UnprocessedKeys") or {}
        return found

    def _write(self, name: str, params: dict[str, Any], parsed: dict[str, Any],
               before: dict[Key, dict[str, Any]]) -> None:
        failed = "Error" in parsed
        if name == "TransactWriteItems":
            actions = [(kind, body) for a in params["TransactItems"] for kind, body in a.items()]
            after = {} if failed else self._stored([_key(b.get("Item") or b["Key"])
                                                    for k, b in actions if k == "Update"])
            for kind, body in actions:
                at = _key(body.get("Item") or body["Key"])
                old = before.get(at)
                if failed or kind == "ConditionCheck":  # nothing written: the stored item
                    self._bill(at, old, old, transactional=True, indexes=False)
                else:
                    self._bill(at, old, body["Item"] if kind == "Put" else after.get(at),
                               transactional=True)
            return
        if name == "BatchExecuteStatement":  # each INSERT billed as the PutItem it stands for
            for request, answer in zip(params["Statements"], parsed.get("Responses", []),
                                       strict=True):
                inserted = inserted_item(request)
                at = _key(inserted)
                old = before.get(at)
                if "Error" in answer:  # a failed condition: billed on the stored item
                    self._bill(at, old, old, indexes=False)
                else:
                    self._bill(at, old, inserted)
            return
        if name == "BatchWriteItem":
            unprocessed = {_key(r["PutRequest"]["Item"] if "PutRequest" in r
                                else r["DeleteRequest"]["Key"])
                           for rs in (parsed.get("UnprocessedItems") or {}).values() for r in rs}
            for rs in params["RequestItems"].values():
                for r in rs:
                    new = r["PutRequest"]["Item"] if "PutRequest" in r else None
                    at = _key(new or r["DeleteRequest"]["Key"])
                    if at not in unprocessed:
                        self._bill(at, before.get(at), new)
            return
        at = _key(params.get("Item") or params["Key"])
        old = before.get(at)
        if failed:
            self._bill(at, old, old, indexes=False)
        elif name == "PutItem":
            self._bill(at, old, params["Item"])
        elif name == "DeleteItem":
            self._bill(at, old, None)
        else:
            self._bill(at, old, self._stored([at]).get(at))

    def _bill(self, at: Key, old: dict[str, Any] | None, new: dict[str, Any] | None,
              transactional: bool = False, indexes: bool = True) -> None:
        units = billing.write_units(billing.item_size(old), billing.item_size(new),
                                    transactional)
        with self.lock:
            self.wru[part_of(at[0])] += units
            if indexes:
                for index, keys in self.indexes.items():
                    if n := billing.index_write_units(old, new, keys):
                        self.wru[f"index {index}"] += n

    # --- DynamoDB reads ------------------------------------------------------------------------

    def _read(self, name: str, params: dict[str, Any], parsed: dict[str, Any]) -> None:
        if "Error" in parsed:
            return
        units: list[tuple[str, Decimal]] = []
        consistent = bool(params.get("ConsistentRead"))
        if name == "GetItem":
            units.append((part_of(_key(params["Key"])[0]), billing.read_units(
                billing.item_size(parsed.get("Item")), consistent)))
        elif name == "BatchGetItem":
            for table, request in params["RequestItems"].items():
                got = {_key(i): i for i in parsed["Responses"].get(table, [])}
                left = {_key(k) for k in
                        (parsed.get("UnprocessedKeys") or {}).get(table, {}).get("Keys", [])}
                for wire in request["Keys"]:
                    at = _key(wire)
                    if at not in left:
                        units.append((part_of(at[0]), billing.read_units(
                            billing.item_size(got.get(at)), bool(request.get("ConsistentRead")))))
        elif name in ("Query", "Scan"):
            index = params.get("IndexName")
            extra = billing.INDEX_OVERHEAD if index else 0
            sizes = [billing.item_size(i) + extra for i in parsed.get("Items", [])]
            values = [v.get("S", "") for v in params.get("ExpressionAttributeValues", {}).values()]
            where = f"index {index}" if index else part_of(next(iter(values), ""))
            units.append((where, billing.query_units(sizes, consistent and not index)))
        elif name == "TransactGetItems":
            for action, got in zip(params["TransactItems"], parsed.get("Responses", []),
                                   strict=False):
                units.append((part_of(_key(action["Get"]["Key"])[0]), 2 * billing.read_units(
                    billing.item_size(got.get("Item")))))
        with self.lock:
            for where, n in units:
                self.rru[where] = self.rru.get(where, Decimal(0)) + n

    # --- SQS -----------------------------------------------------------------------------------

    def _sqs(self, name: str, params: dict[str, Any], parsed: dict[str, Any]) -> None:
        if name == "SendMessageBatch":
            payload = sum(len(e["MessageBody"].encode()) for e in params["Entries"])
        elif name == "SendMessage":
            payload = len(params["MessageBody"].encode())
        elif name == "ReceiveMessage":
            payload = sum(len(m["Body"].encode()) for m in parsed.get("Messages", []))
        else:
            payload = 0
        with self.lock:
            self.sqs += billing.sqs_requests(payload)
