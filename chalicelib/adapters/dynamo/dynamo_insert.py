"""Puts only if absent, 25 a call: PartiQL INSERTs through one BatchExecuteStatement.

BatchWriteItem takes no condition, and a PutItem per item is a round trip per item (on DynamoDB
Local, CPU-bound on a small machine, six times the emulator's CPU of one call for 25 items:
`bench.contention`). A PartiQL INSERT is a put on the condition that the key is absent; each
statement of a batch succeeds or fails alone (not a transaction) and is billed as the PutItem
it stands for. A statement that finds its key taken fails `DuplicateItem` (DynamoDB Local
returns no item with it, so the caller reads what it needs); a throttled or conflicting one
(a transaction holds the item) is sent again after a pause.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from chalicelib.adapters.dynamo import dynamo_table as t
from chalicelib.ports.store import StoreError

BATCH_STATEMENTS = 25  # BatchExecuteStatement's limit per call
PRESENT = "DuplicateItem"
RETRYABLE = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded",
                       "RequestLimitExceeded", "InternalServerError", "TransactionConflict"})
_NAME = re.compile(r"'((?:[^']|'')*)': \?")


def insert_statement(table: str, item: t.Wire) -> dict[str, Any]:
    """The BatchExecuteStatement request that puts `item` only if its key is absent."""
    names = list(item)
    if '"' in table:
        raise ValueError(f"not a table name: {table!r}")
    pairs = ", ".join("'" + name.replace("'", "''") + "': ?" for name in names)
    return {"Statement": f'INSERT INTO "{table}" VALUE {{{pairs}}}',
            "Parameters": [item[name] for name in names]}


def inserted_item(request: Mapping[str, Any]) -> t.Wire:
    """The item an `insert_statement` request puts (the benches' meter bills it)."""
    names = [n.replace("''", "'") for n in _NAME.findall(str(request["Statement"]))]
    return dict(zip(names, request["Parameters"], strict=True))


def insert_absent(db: t.DynamoTable, items: list[t.Wire]) -> set[t.ItemKey]:
    """Put each item (at most 25) whose key is absent; the keys of those already present.
    Throttled or conflicting statements are sent again, up to `t.BATCH_TRIES` calls."""
    if len(items) > BATCH_STATEMENTS:
        raise ValueError(f"at most {BATCH_STATEMENTS} items a call, not {len(items)}")
    pending = list(items)
    present: set[t.ItemKey] = set()
    for attempt in range(t.BATCH_TRIES):
        out = db.call("batch_execute_statement",
                      Statements=[insert_statement(db.name, i) for i in pending])
        again: list[t.Wire] = []
        for item, answer in zip(pending, out.get("Responses", []), strict=True):
            code = str(answer.get("Error", {}).get("Code", ""))
            if not code:
                continue
            if code == PRESENT:
                present.add(t.item_key(item))
            elif code in RETRYABLE:
                again.append(item)
            else:
                raise StoreError(f"DynamoDB BatchExecuteStatement failed: {code}")
        if not again:
            return present
        pending = again
        db.backoff.pause(attempt)
    raise StoreError("DynamoDB kept throttling the inserts; retry")
