"""A replay's read on DynamoDB: a bank's transactions in a time window by a parallel Scan.

No index serves "every transaction of a bank by time", and one would cost a write per
transaction, so the replay scans (never ingest). Measured (bench/rules_replay.py, cProfile), a
Scan page's time was three quarters botocore walking each AttributeValue through the service
model in Python; the emulator's answer and the socket were the rest. So the read asks only for
what a replay evaluates (a projection: no keys, no index attributes but the time key, no
evidence), takes the page's items as DynamoDB sent them (JSON, already in the wire form
botocore would rebuild; `raw_scan_items`), and builds each transaction straight from the wire.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.dynamo import dynamo_table as t
from chalicelib.domain.model import OPTIONAL_TEXT_FIELDS, Transaction
from chalicelib.domain.money import quantize
from chalicelib.domain.timeutil import parse_timestamp
from chalicelib.ports.store import ReplayJobStore

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

SEGMENTS = 8  # parallel scan segments: measured best of 1, 4, 8, 16 on DynamoDB Local
G1SK = "g1sk"  # the by_account index's sort key: `<sort_key(ts)>#<id>` (codec)
# What a replay needs of a stored transaction: its content, its flags, and the time key the
# filter compares. Every name through a placeholder (`type` and `timestamp` are reserved words).
FIELDS = ("id", "account", "amount", "currency", "type", "timestamp", *OPTIONAL_TEXT_FIELDS,
          "flags", G1SK)
_NAMES = {f"#f{i}": name for i, name in enumerate(FIELDS)}
_HANDLER_ID = "txn-stream-raw-scan-items"


def raw_scan_items(response_dict: dict[str, Any], customized_response_dict: dict[str, Any],
                   **_: Any) -> None:
    """botocore's `before-parse` hook for Scan: hand the items over as sent, and leave
    botocore only the rest of the page (counts, LastEvaluatedKey) to parse. DynamoDB's JSON
    already is the wire form but for binary values (base64 text that botocore decodes): a page
    that may hold one (`"B":` or `"BS":` as a key; inside a string the quote would be escaped)
    is left to botocore whole, as is any error answer."""
    body = response_dict.get("body")
    if (response_dict.get("status_code") != 200 or not isinstance(body, bytes)
            or b'"B":' in body or b'"BS":' in body):
        return
    page = json.loads(body)
    items = page.pop("Items", None)
    if not isinstance(items, list):
        return
    customized_response_dict["Items"] = items
    response_dict["body"] = json.dumps(page).encode()


def raw_items_on(client: DynamoDBClient) -> DynamoDBClient:
    """The client with the Scan hook registered (once, however often asked)."""
    client.meta.events.register("before-parse.dynamodb.Scan", raw_scan_items,
                                unique_id=_HANDLER_ID)
    return client


def _text(wire: t.Wire, name: str) -> str | None:
    value = wire.get(name)
    return None if value is None else str(value["S"])


def tx_from_wire(wire: t.Wire) -> Transaction:
    """A projected transaction item (FIELDS) to a Transaction: its content and flag names; its
    evidence is not read. Amounts are quantized (DynamoDB drops trailing zeros)."""
    currency = str(wire["currency"]["S"])
    flags = wire.get("flags", {}).get("L", ())
    return Transaction(
        id=str(wire["id"]["S"]), account=str(wire["account"]["S"]),
        amount=quantize(Decimal(wire["amount"]["N"]), currency), currency=currency,
        type=str(wire["type"]["S"]), timestamp=parse_timestamp(str(wire["timestamp"]["S"])),
        description=_text(wire, "description"), merchant=_text(wire, "merchant"),
        counterparty=_text(wire, "counterparty"), channel=_text(wire, "channel"),
        flags=tuple(str(f["S"]) for f in flags))


def transactions_between(db: t.DynamoTable, bank: str, since: str,
                         until: str) -> Iterator[Transaction]:
    """The bank's transactions with since <= time key < until, in no particular order."""
    raw_items_on(db.client)
    names = {v: k for k, v in _NAMES.items()}
    for wire in db.scan_segments(
            SEGMENTS, ProjectionExpression=", ".join(_NAMES),
            ExpressionAttributeNames=_NAMES,
            FilterExpression=f"begins_with(pk, :p) AND {names[G1SK]} BETWEEN :a AND :b",
            ExpressionAttributeValues={":p": {"S": t.tx_prefixes(bank)[0]},
                                       ":a": {"S": since}, ":b": {"S": until}}):
        # BETWEEN includes `until`; the time key is `<sort key>#<id>`, so compare the text
        if str(wire[G1SK]["S"]) < until:
            yield tx_from_wire(wire)


class DynamoReplayJobs(ReplayJobStore):
    """Replay jobs' records in the ledger table: one item each (`RJ#<bank>#<job>`), the record
    as JSON text (its size is bounded by the replay's id cap: well under 400 KB)."""

    def __init__(self, db: t.DynamoTable) -> None:
        self.db = db

    def put_job(self, bank: str, job_id: str, record: dict[str, Any]) -> None:
        self.db.on_table("put_item", Item={**t.replay_job_key(bank, job_id), "record": {
            "S": json.dumps(record, separators=(",", ":"))}})

    def get_job(self, bank: str, job_id: str) -> dict[str, Any] | None:
        out = self.db.on_table("get_item", ConsistentRead=True,
                               Key=t.replay_job_key(bank, job_id))
        item = out.get("Item")
        return None if item is None else dict(json.loads(item["record"]["S"]))
