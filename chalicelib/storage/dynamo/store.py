"""The DynamoDB store (boto3): one table, conditional transactional writes, no scan on a request.

The table layout is in `codec`, the commit's chunks and conditions in `writes`.
Throttling and transient errors are retried by botocore's standard retry mode; when retries are
spent the store raises StoreError (the API answers 503 with Retry-After). The client is created
on first use and reused; its endpoint and region come from the environment
(`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_REGION`/`AWS_DEFAULT_REGION`).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.aggregates import ACCOUNT, BANK, HOUR, AggKey, Bucket, merged
from chalicelib.config import Settings
from chalicelib.model import Transaction
from chalicelib.storage.dynamo import codec, writes
from chalicelib.storage.dynamo.unit import DynamoUnitOfWork, error_code
from chalicelib.storage.port import (
    ApiKeyRecord,
    Store,
    StoreError,
    UnitOfWork,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

BATCH_GET = 100  # BatchGetItem's limit per call
BATCH_WRITE = 25  # BatchWriteItem's limit per call
RETRY_CONFIG = Config(retries={"mode": "standard", "max_attempts": 2},  # 2 retries, 3 tries
                      connect_timeout=2, read_timeout=5)
class DynamoStore(Store):
    """A DynamoDB table (injected by name); a boto3 client made on first use and reused."""

    name = "dynamodb"

    def __init__(self, table: str, shards: int = 8, client: DynamoDBClient | None = None,
                 config: Config = RETRY_CONFIG) -> None:
        self.table = table
        self.shards = shards
        self._client = client
        self._config = config
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> DynamoStore:
        if not settings.table_name:
            raise StoreError("TABLE_NAME is required with STORE=dynamodb")
        return cls(settings.table_name, settings.aggregate_shards)

    @property
    def client(self) -> DynamoDBClient:
        """The low-level client (region and endpoint from the environment)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = boto3.session.Session().client("dynamodb",
                                                                  config=self._config)
        return self._client

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """One API call; whatever is left after botocore's retries becomes StoreError."""
        method: Callable[..., dict[str, Any]] = getattr(self.client, operation)
        try:
            return method(**params)
        except ClientError as exc:
            raise StoreError(f"DynamoDB {operation} failed: {error_code(exc)}") from exc
        except BotoCoreError as exc:
            raise StoreError(f"DynamoDB {operation} failed: {exc}") from exc

    def on_table(self, operation: str, **params: Any) -> dict[str, Any]:
        """`call` on this store's table."""
        return self.call(operation, TableName=self.table, **params)

    # --- reads -------------------------------------------------------------------------------

    def batch_get(self, keys: list[codec.Wire]) -> dict[writes.ItemKey, codec.Item]:
        """The items at `keys` (absent ones left out), strongly consistent, 100 a call."""
        unique = {writes.item_key(k): k for k in keys}
        found: dict[writes.ItemKey, codec.Item] = {}
        pending = list(unique.values())
        for attempt in range(8):
            if not pending:
                return found
            batch, pending = pending[:BATCH_GET], pending[BATCH_GET:]
            out = self.call("batch_get_item", RequestItems={
                self.table: {"Keys": batch, "ConsistentRead": True}})
            for wire in out.get("Responses", {}).get(self.table, []):
                item = codec.from_wire(wire)
                found[(str(item[codec.PK]), str(item[codec.SK]))] = item
            left = out.get("UnprocessedKeys", {}).get(self.table, {}).get("Keys", [])
            if left:
                pending.extend(left)
                time.sleep(min(0.05 * 2 ** attempt, 1.0) * random.random())
        if pending:
            raise StoreError("DynamoDB left keys unprocessed after retries")
        return found

    def query(self, limit: int | None = None, **params: Any) -> Iterator[codec.Item]:
        """Items of a Query (or Scan with `scan=True`), page after page."""
        operation = "scan" if params.pop("scan", False) else "query"
        seen = 0
        while True:
            out = self.on_table(operation, **({"Limit": limit - seen} if limit else {}), **params)
            for wire in out.get("Items", []):
                seen += 1
                yield codec.from_wire(wire)
            start = out.get("LastEvaluatedKey")
            if not start or (limit is not None and seen >= limit):
                return
            params["ExclusiveStartKey"] = start

    def shard_keys(self, bank: str, agg: AggKey) -> list[codec.Wire]:
        if agg.kind == BANK:
            return [codec.shard_key(bank, s) for s in range(self.shards)]
        if agg.kind == HOUR:
            return [codec.hour_key(bank, s, agg.name) for s in range(self.shards)]
        return [codec.account_key(bank, agg.name)]

    def get_transaction(self, bank: str, tx_id: str) -> Transaction | None:
        out = self.on_table("get_item", Key=codec.tx_key(bank, tx_id), ConsistentRead=True)
        return codec.tx_from(codec.from_wire(out["Item"])) if "Item" in out else None

    def get_buckets(self, bank: str, keys: list[AggKey]) -> dict[AggKey, Bucket]:
        wanted = {k: self.shard_keys(bank, k) for k in keys}
        items = self.batch_get([w for ws in wanted.values() for w in ws])
        found: dict[AggKey, Bucket] = {}
        for agg, wires in wanted.items():
            present = [items[writes.item_key(w)] for w in wires if writes.item_key(w) in items]
            if agg.kind == ACCOUNT:
                bucket = codec.account_bucket_from(present[0] if present else None)
                if bucket is not None:
                    found[agg] = bucket
            elif present:
                found[agg] = merged(codec.flat_from(i) for i in present)
        return found

    def get_hour_buckets(self, bank: str, first_hour: str, last_hour: str) -> list[Bucket]:
        hours: dict[str, Bucket] = {}
        for shard in range(self.shards):  # one Query per shard, whatever the window's length
            for item in self.query(
                    KeyConditionExpression="pk = :p AND sk BETWEEN :a AND :b",
                    ExpressionAttributeValues={":p": {"S": f"HR#{bank}#{shard:02d}"},
                                               ":a": {"S": first_hour}, ":b": {"S": last_hour}},
                    ConsistentRead=True):
                hours.setdefault(str(item[codec.SK]), Bucket()).merge(codec.flat_from(item))
        return [hours[h] for h in sorted(hours)]

    def recent_flagged(self, bank: str, since: str | None, until: str | None,
                       limit: int) -> list[Transaction]:
        values: dict[str, Any] = {":p": {"S": f"F#{bank}"}}
        condition = "g2pk = :p"
        if since is not None:
            values[":a"] = {"S": since}
        if until is not None:
            values[":b"] = {"S": until}
        if since is not None and until is not None:
            condition += " AND g2sk BETWEEN :a AND :b"  # `<ts>#<id>` never equals a bare time
        elif since is not None:
            condition += " AND g2sk >= :a"
        elif until is not None:
            condition += " AND g2sk < :b"
        items = self.query(limit, IndexName=codec.FLAGGED, KeyConditionExpression=condition,
                           ExpressionAttributeValues=values, ScanIndexForward=False)
        return [codec.tx_from(i) for i in items]

    def account_transactions(self, bank: str, account: str, limit: int,
                             after: tuple[str, str] | None) -> list[Transaction]:
        values: dict[str, Any] = {":p": {"S": f"A#{bank}#{account}"}}
        condition = "g1pk = :p"
        if after is not None:
            values[":c"] = {"S": codec.position(*after)}
            condition += " AND g1sk < :c"
        items = self.query(limit, IndexName=codec.BY_ACCOUNT, KeyConditionExpression=condition,
                           ExpressionAttributeValues=values, ScanIndexForward=False)
        return [codec.tx_from(i) for i in items]

    def _scan_prefixes(self, *prefixes: str) -> Iterator[codec.Item]:
        values = {f":p{i}": {"S": p} for i, p in enumerate(prefixes)}
        return self.query(scan=True, FilterExpression=" OR ".join(
            f"begins_with(pk, :p{i})" for i in range(len(prefixes))),
            ExpressionAttributeValues=values)

    def iter_transactions(self, bank: str) -> Iterator[Transaction]:
        for item in self._scan_prefixes(f"TX#{bank}#"):
            yield codec.tx_from(item)

    def iter_buckets(self, bank: str) -> Iterator[tuple[AggKey, Bucket]]:
        found: dict[AggKey, Bucket] = {}
        for item in self._scan_prefixes(f"BS#{bank}#", f"HR#{bank}#", f"AC#{bank}#"):
            _, agg = codec.agg_of(str(item[codec.PK]), str(item[codec.SK])) or ("", None)
            if agg is None:
                continue
            if agg.kind == ACCOUNT:
                bucket = codec.account_bucket_from(item)
                if bucket is not None:
                    found[agg] = bucket
            else:
                found.setdefault(agg, Bucket()).merge(codec.flat_from(item))
        yield from sorted(found.items())

    def replace_buckets(self, bank: str, buckets: dict[AggKey, Bucket],
                        remove: list[AggKey]) -> None:
        puts: list[codec.Item] = []
        deletes: list[codec.Wire] = []
        for agg in [*buckets, *remove]:
            if agg.kind == ACCOUNT:
                bucket = buckets.get(agg)
                update = ("SET b = :b" if bucket is not None else "REMOVE b")
                params: dict[str, Any] = {"Key": codec.account_key(bank, agg.name),
                                          "UpdateExpression": update}
                if bucket is not None:
                    params["ExpressionAttributeValues"] = {
                        ":b": {"S": codec.dump_bucket(bucket)}}
                else:
                    params["ConditionExpression"] = "attribute_exists(pk)"
                try:
                    self.client.update_item(TableName=self.table, **params)
                except ClientError as exc:
                    if error_code(exc) != "ConditionalCheckFailedException":
                        raise StoreError(f"DynamoDB update_item failed: {error_code(exc)}") from exc
                continue
            every = [codec.shard_key(bank, s) if agg.kind == BANK
                     else codec.hour_key(bank, s, agg.name) for s in range(codec.MAX_SHARDS)]
            if agg in buckets:
                first = writes.item_key(every[0])
                puts.append(codec.flat_item(*first, buckets[agg]))
                every = every[1:]
            deletes.extend(every)
        requests = ([{"PutRequest": {"Item": codec.to_wire(i)}} for i in puts]
                    + [{"DeleteRequest": {"Key": k}} for k in deletes])
        for start in range(0, len(requests), BATCH_WRITE):
            self._batch_write(requests[start:start + BATCH_WRITE])

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        for attempt in range(8):
            out = self.call("batch_write_item", RequestItems={self.table: requests})
            requests = out.get("UnprocessedItems", {}).get(self.table, [])
            if not requests:
                return
            time.sleep(min(0.05 * 2 ** attempt, 1.0) * random.random())
        raise StoreError("DynamoDB left writes unprocessed after retries")

    def banks(self) -> list[str]:
        return sorted({str(i[codec.PK]).split("#")[1] for i in self._scan_prefixes("BS#", "TX#")})

    # --- API keys ----------------------------------------------------------------------------

    def put_api_key(self, record: ApiKeyRecord) -> None:
        index = {**codec.bank_key_key(record.bank, record.key_id),
                 "key_hash": {"S": record.key_hash}}
        self.call("transact_write_items", TransactItems=[
            {"Put": {"TableName": self.table, "Item": codec.to_wire(codec.api_key_item(record)),
                     "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Put": {"TableName": self.table, "Item": index,
                     "ConditionExpression": "attribute_not_exists(pk)"}}])

    def find_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        out = self.on_table("get_item", Key=codec.api_key_key(key_hash), ConsistentRead=True)
        return codec.api_key_from(codec.from_wire(out["Item"])) if "Item" in out else None

    def list_api_keys(self, bank: str) -> list[ApiKeyRecord]:
        hashes = [str(i["key_hash"]) for i in self.query(
            KeyConditionExpression="pk = :p", ConsistentRead=True,
            ExpressionAttributeValues={":p": {"S": f"KB#{bank}"}})]
        items = self.batch_get([codec.api_key_key(h) for h in hashes])
        records = [codec.api_key_from(i) for i in items.values()]
        return sorted(records, key=lambda r: (r.created_at, r.key_id))

    def revoke_api_key(self, bank: str, key_id: str) -> bool:
        out = self.on_table("get_item", Key=codec.bank_key_key(bank, key_id), ConsistentRead=True)
        if "Item" not in out:
            return False
        self.on_table("update_item", Key=codec.api_key_key(out["Item"]["key_hash"]["S"]),
                  UpdateExpression="SET revoked = :t",
                  ExpressionAttributeValues={":t": {"BOOL": True}})
        return True

    def ping(self) -> None:
        self.on_table("get_item", Key=codec.key("PING", "PING"))

    # --- ingest ------------------------------------------------------------------------------

    @contextmanager
    def unit_of_work(self, bank: str) -> Iterator[UnitOfWork]:
        yield DynamoUnitOfWork(self, bank, random.randrange(self.shards))
