"""The DynamoDB store (boto3): one table, conditional transactional writes, no scan on a request.

The table's calls and item keys are in `table`, the item layout in `codec`, the commit's chunks
and conditions in `writes`, one ingest attempt in `unit`. Throttling and transient errors are
retried by botocore's standard retry mode; when retries are spent the store raises StoreError
(the API answers 503 with Retry-After).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from botocore.config import Config

from chalicelib.adapters.dynamo import dynamo_codec as codec
from chalicelib.adapters.dynamo import dynamo_table as t
from chalicelib.adapters.dynamo.dynamo_alert_store import DynamoAlerts
from chalicelib.adapters.dynamo.dynamo_table import RETRY_CONFIG, DynamoTable
from chalicelib.adapters.dynamo.dynamo_unit import DynamoUnitOfWork
from chalicelib.config import Settings
from chalicelib.domain.aggregates import ACCOUNT, AggKey, Bucket, merged
from chalicelib.domain.model import Transaction
from chalicelib.ports.store import (
    ApiKeyRecord,
    AppClientRecord,
    ReceiptStore,
    ReplayJobStore,
    RuleSetRecord,
    Store,
    StoreError,
    UnitOfWork,
)
from chalicelib.ports.webhooks import WebhookStore

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["RETRY_CONFIG", "DynamoStore"]


class DynamoStore(DynamoAlerts, Store):
    """A DynamoDB table (injected by name); a boto3 client made on first use and reused."""

    name = "dynamodb"

    def __init__(self, table: str, shards: int = 8, client: DynamoDBClient | None = None,
                 config: Config = RETRY_CONFIG) -> None:
        self.db = DynamoTable(table, client, config)
        self.shards = shards

    @classmethod
    def from_settings(cls, settings: Settings) -> DynamoStore:
        if not settings.table_name:
            raise StoreError("TABLE_NAME is required with STORE=dynamodb")
        return cls(settings.table_name, settings.aggregate_shards)

    @property
    def table(self) -> str:
        """The table's name."""
        return self.db.name

    def receipts(self) -> ReceiptStore:
        """The receipts of asynchronous requests, kept in this store's table."""
        from chalicelib.adapters.dynamo.dynamo_receipts import DynamoReceipts

        return DynamoReceipts(self.db)

    def webhooks(self) -> WebhookStore:
        """Banks' webhooks and their deliveries' log, kept in this store's table."""
        from chalicelib.adapters.dynamo.dynamo_webhooks import DynamoWebhooks

        return DynamoWebhooks(self.db)

    def replay_jobs(self) -> ReplayJobStore:
        """Replay jobs' records, kept in this store's table."""
        from chalicelib.adapters.dynamo.dynamo_replay import DynamoReplayJobs

        return DynamoReplayJobs(self.db)

    @property
    def client(self) -> DynamoDBClient:
        """The low-level client (region and endpoint from the environment)."""
        return self.db.client

    def _items(self, keys: list[t.Wire]) -> dict[t.ItemKey, codec.Item]:
        return {at: codec.from_wire(w) for at, w in self.db.batch_get(keys).items()}

    def _query(self, limit: int | None = None, **params: Any) -> Iterator[codec.Item]:
        return (codec.from_wire(w) for w in self.db.query(limit, **params))

    def _scan(self, prefixes: list[str]) -> Iterator[codec.Item]:
        return (codec.from_wire(w) for w in self.db.scan_prefixes(prefixes))

    # --- reads -------------------------------------------------------------------------------

    def get_transaction(self, bank: str, tx_id: str) -> Transaction | None:
        out = self.db.on_table("get_item", Key=t.tx_key(bank, tx_id), ConsistentRead=True)
        return codec.tx_from(codec.from_wire(out["Item"])) if "Item" in out else None

    def get_buckets(self, bank: str, keys: list[AggKey]) -> dict[AggKey, Bucket]:
        wanted = {k: t.aggregate_keys(bank, k, self.shards) for k in keys}
        items = self._items([w for ws in wanted.values() for w in ws])
        found: dict[AggKey, Bucket] = {}
        for agg, wires in wanted.items():
            present = [items[t.item_key(w)] for w in wires if t.item_key(w) in items]
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
            for item in self._query(
                    KeyConditionExpression="pk = :p AND sk BETWEEN :a AND :b",
                    ExpressionAttributeValues={":p": {"S": t.hour_pk(bank, shard)},
                                               ":a": {"S": first_hour}, ":b": {"S": last_hour}},
                    ConsistentRead=True):
                hours.setdefault(str(item[t.SK]), Bucket()).merge(codec.flat_from(item))
        return [hours[h] for h in sorted(hours)]

    def recent_flagged(self, bank: str, since: str | None, until: str | None,
                       limit: int) -> list[Transaction]:
        values: dict[str, Any] = {":p": {"S": t.flagged_index_pk(bank)}}
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
        items = self._query(limit, IndexName=codec.FLAGGED, KeyConditionExpression=condition,
                            ExpressionAttributeValues=values, ScanIndexForward=False)
        return [codec.tx_from(i) for i in items]

    def account_transactions(self, bank: str, account: str, limit: int,
                             after: tuple[str, str] | None) -> list[Transaction]:
        values: dict[str, Any] = {":p": {"S": t.account_index_pk(bank, account)}}
        condition = "g1pk = :p"
        if after is not None:
            values[":c"] = {"S": t.position(*after)}
            condition += " AND g1sk < :c"
        items = self._query(limit, IndexName=codec.BY_ACCOUNT, KeyConditionExpression=condition,
                            ExpressionAttributeValues=values, ScanIndexForward=False)
        return [codec.tx_from(i) for i in items]

    def iter_transactions(self, bank: str) -> Iterator[Transaction]:
        for item in self._scan(t.tx_prefixes(bank)):
            yield codec.tx_from(item)

    def iter_buckets(self, bank: str) -> Iterator[tuple[AggKey, Bucket]]:
        found: dict[AggKey, Bucket] = {}
        for item in self._scan(t.aggregate_prefixes(bank)):
            _, agg = t.agg_of(str(item[t.PK]), str(item[t.SK])) or ("", None)
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
        deletes: list[t.Wire] = []
        for agg in [*buckets, *remove]:
            if agg.kind == ACCOUNT:
                self._replace_account_bucket(bank, agg.name, buckets.get(agg))
                continue
            # every shard this aggregate may have been written to, whatever AGGREGATE_SHARDS was
            every = t.aggregate_keys(bank, agg, t.MAX_SHARDS)
            if agg in buckets:
                puts.append(codec.flat_item(*t.item_key(every[0]), buckets[agg]))
                every = every[1:]
            deletes.extend(every)
        self.db.batch_write([{"PutRequest": {"Item": codec.to_wire(i)}} for i in puts]
                            + [{"DeleteRequest": {"Key": k}} for k in deletes])

    def _replace_account_bucket(self, bank: str, account: str, bucket: Bucket | None) -> None:
        """Set an account item's aggregate, or remove it (the item keeps its rule state)."""
        params: dict[str, Any] = {"Key": t.account_key(bank, account)}
        if bucket is not None:
            params.update(UpdateExpression="SET b = :b",
                          ExpressionAttributeValues={":b": {"S": codec.dump_bucket(bucket)}})
        else:  # nothing to remove from an account that has no item
            params.update(UpdateExpression="REMOVE b", ConditionExpression="attribute_exists(pk)")
        try:
            self.db.on_table("update_item", expect={"ConditionalCheckFailedException"}, **params)
        except t.Rejected:
            pass

    def banks(self) -> list[str]:
        prefixes = [*t.aggregate_prefixes()[:1], *t.tx_prefixes()]  # bank shards, transactions
        return sorted({t.bank_of(str(i[t.PK])) for i in self._scan(prefixes)})

    def describe(self) -> str:
        meta = self.client.meta  # endpoint and region as boto3 resolved them from the environment
        return f"DynamoDB table {self.table} at {meta.endpoint_url} (region {meta.region_name})"

    # --- API keys ----------------------------------------------------------------------------

    def put_api_key(self, record: ApiKeyRecord) -> None:
        index = {**t.bank_key_key(record.bank, record.key_id),
                 "key_hash": {"S": record.key_hash}}
        self.db.call("transact_write_items", TransactItems=[
            {"Put": {"TableName": self.table, "Item": codec.to_wire(codec.api_key_item(record)),
                     "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Put": {"TableName": self.table, "Item": index,
                     "ConditionExpression": "attribute_not_exists(pk)"}}])

    def find_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        out = self.db.on_table("get_item", Key=t.api_key_key(key_hash), ConsistentRead=True)
        return codec.api_key_from(codec.from_wire(out["Item"])) if "Item" in out else None

    def list_api_keys(self, bank: str) -> list[ApiKeyRecord]:
        hashes = [str(i["key_hash"]) for i in self._query(
            KeyConditionExpression="pk = :p", ConsistentRead=True,
            ExpressionAttributeValues={":p": {"S": t.bank_keys_pk(bank)}})]
        items = self._items([t.api_key_key(h) for h in hashes])
        records = [codec.api_key_from(i) for i in items.values()]
        return sorted(records, key=lambda r: (r.created_at, r.key_id))

    def revoke_api_key(self, bank: str, key_id: str) -> bool:
        out = self.db.on_table("get_item", Key=t.bank_key_key(bank, key_id),
                               ConsistentRead=True)
        if "Item" not in out:
            return False
        self.db.on_table("update_item", Key=t.api_key_key(out["Item"]["key_hash"]["S"]),
                         UpdateExpression="SET revoked = :t",
                         ExpressionAttributeValues={":t": {"BOOL": True}})
        return True

    # --- Cognito app clients ------------------------------------------------------------------

    def map_app_client(self, record: AppClientRecord) -> bool:
        mapping = {**t.app_client_key(record.client_id), "bank": {"S": record.bank},
                   "created_at": {"S": record.created_at}}
        index = {**t.bank_client_key(record.bank, record.client_id),
                 "created_at": {"S": record.created_at}}
        try:  # both items or neither; the mapping only if the client has none yet
            self.db.call("transact_write_items", expect=("TransactionCanceledException",),
                         TransactItems=[
                             {"Put": {"TableName": self.table, "Item": mapping,
                                      "ConditionExpression": "attribute_not_exists(pk)"}},
                             {"Put": {"TableName": self.table, "Item": index}}])
        except t.Rejected as exc:
            if "TransactionConflict" in _cancellation_codes(exc):  # a concurrent write
                raise StoreError("mapping the app client was cancelled; retry") from exc
            return False
        return True

    def find_app_client(self, client_id: str) -> AppClientRecord | None:
        out = self.db.on_table("get_item", Key=t.app_client_key(client_id), ConsistentRead=True)
        if "Item" not in out:
            return None
        item = out["Item"]
        return AppClientRecord(client_id, item["bank"]["S"], item["created_at"]["S"])

    def list_app_clients(self, bank: str) -> list[AppClientRecord]:
        records = [AppClientRecord(str(i[t.SK]), bank, str(i["created_at"])) for i in self._query(
            KeyConditionExpression="pk = :p", ConsistentRead=True,
            ExpressionAttributeValues={":p": {"S": t.bank_clients_pk(bank)}})]
        return sorted(records, key=lambda r: (r.created_at, r.client_id))

    def unmap_app_client(self, bank: str, client_id: str) -> bool:
        try:  # the mapping goes only if it names this bank; its index entry with it
            self.db.call("transact_write_items", expect=("TransactionCanceledException",),
                         TransactItems=[
                             {"Delete": {"TableName": self.table,
                                         "Key": t.app_client_key(client_id),
                                         "ConditionExpression": "#b = :b",
                                         "ExpressionAttributeNames": {"#b": "bank"},
                                         "ExpressionAttributeValues": {":b": {"S": bank}}}},
                             {"Delete": {"TableName": self.table,
                                         "Key": t.bank_client_key(bank, client_id)}}])
        except t.Rejected as exc:
            if "TransactionConflict" in _cancellation_codes(exc):  # a concurrent write
                raise StoreError("unmapping the app client was cancelled; retry") from exc
            return False
        return True

    def ping(self) -> None:
        self.db.on_table("get_item", Key=t.ping_key())

    # --- rule sets and replay ----------------------------------------------------------------

    def put_rule_set(self, record: RuleSetRecord) -> bool:
        item = {**t.key(t.rule_set_pk(record.bank), t.rule_set_sk(record.version)),
                "updated_at": {"S": record.updated_at}, "updated_by": {"S": record.updated_by},
                "body": {"S": json.dumps(record.rules, separators=(",", ":"))}}
        try:
            self.db.on_table("put_item", expect={"ConditionalCheckFailedException"}, Item=item,
                             ConditionExpression="attribute_not_exists(pk)")
        except t.Rejected:
            return False
        return True

    def get_rule_set(self, bank: str, version: int | None = None) -> RuleSetRecord | None:
        if version is not None:
            out = self.db.on_table("get_item", ConsistentRead=True,
                                   Key=t.key(t.rule_set_pk(bank), t.rule_set_sk(version)))
            wire = out.get("Item")
        else:
            wire = next(self.db.query(1, KeyConditionExpression="pk = :p",
                                      ExpressionAttributeValues={":p": {"S": t.rule_set_pk(bank)}},
                                      ScanIndexForward=False, ConsistentRead=True), None)
        if wire is None:
            return None
        return RuleSetRecord(bank, int(wire[t.SK]["S"][2:]), wire["updated_at"]["S"],
                             wire["updated_by"]["S"], json.loads(wire["body"]["S"]))

    def transactions_between(self, bank: str, since: str, until: str) -> Iterator[Transaction]:
        from chalicelib.adapters.dynamo import dynamo_replay  # replay only: not ingest's path

        return dynamo_replay.transactions_between(self.db, bank, since, until)

    # --- ingest ------------------------------------------------------------------------------

    @contextmanager
    def unit_of_work(self, bank: str) -> Iterator[UnitOfWork]:
        yield DynamoUnitOfWork(self.db, bank, random.randrange(self.shards))


def _cancellation_codes(exc: t.Rejected) -> set[str]:
    """Why DynamoDB cancelled a transaction, one code per action."""
    return {str(r.get("Code")) for r in exc.response.get("CancellationReasons", [])}
