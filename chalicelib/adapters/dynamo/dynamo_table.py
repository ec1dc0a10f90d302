"""The DynamoDB table: its client, the one call helper (errors -> StoreError), and item keys.

Every request to DynamoDB goes through `DynamoTable.call`: botocore retries throttling and
transient errors (standard mode); what is left, a `ClientError` or a `BotoCoreError` (endpoint
unreachable, timeout), becomes `StoreError` (the API answers 503), unless the caller named the
error code as an expected answer (`expect`), which comes back as `Rejected`. The loops that
resend what a batch call left unprocessed pause with the one `Backoff`. Every item key and
partition key prefix of the single-table layout (see `codec`) is spelled here and nowhere else.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterator
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.aggregates import ACCOUNT, BANK, HOUR, AggKey
from chalicelib.errors import TotalTooLargeError
from chalicelib.ports.store import StoreError, StoreRefused
from chalicelib.support.backoff import Backoff

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

BATCH_GET = 100  # BatchGetItem's limit per call
BATCH_WRITE = 25  # BatchWriteItem's limit per call
BATCH_TRIES = 8  # calls of one BatchWriteItem chunk that leave items unprocessed, then StoreError
BATCH_STALLS = 8  # BatchGetItem calls in a row that process no key, then StoreError
RETRY_CONFIG = Config(retries={"mode": "standard", "max_attempts": 2},  # 2 retries, 3 tries
                      connect_timeout=2, read_timeout=5)
UNPROCESSED_BACKOFF = Backoff(0.05, 1.0)

# --- keys ------------------------------------------------------------------------------------

PK, SK = "pk", "sk"
TX_SK, ACCOUNT_SK, BANK_SK, KEY_SK, CLIENT_SK = "TX", "AC", "BANK", "AK", "CL"
MAX_SHARDS = 100  # AGGREGATE_SHARDS' upper bound (config.py)

Wire = dict[str, Any]  # attribute name -> DynamoDB AttributeValue ({"S": ...})
ItemKey = tuple[str, str]  # (pk, sk)


def key(pk: str, sk: str) -> Wire:
    return {PK: {"S": pk}, SK: {"S": sk}}


def item_key(wire: Wire) -> ItemKey:
    """The (pk, sk) of a wire key or item."""
    return str(wire[PK]["S"]), str(wire[SK]["S"])


def tx_pk(bank: str, tx_id: str) -> str:
    return f"TX#{bank}#{tx_id}"


def account_pk(bank: str, account: str) -> str:
    return f"AC#{bank}#{account}"


def shard_pk(bank: str, shard: int) -> str:
    return f"BS#{bank}#{shard:02d}"


def hour_pk(bank: str, shard: int) -> str:
    return f"HR#{bank}#{shard:02d}"


def api_key_pk(key_hash: str) -> str:
    return f"AK#{key_hash}"


def key_hash_of(pk: str) -> str:
    """The key hash in an API key item's pk."""
    return pk.removeprefix("AK#")


def bank_keys_pk(bank: str) -> str:
    return f"KB#{bank}"


def account_index_pk(bank: str, account: str) -> str:
    """Partition key of index `by_account`: one account's transactions."""
    return f"A#{bank}#{account}"


def flagged_index_pk(bank: str) -> str:
    """Partition key of the sparse index `flagged`: a bank's flagged transactions."""
    return f"F#{bank}"


def receipt_pk(bank: str, request_id: str) -> str:
    """Partition key of an asynchronous request's receipt (one item per part)."""
    return f"RC#{bank}#{request_id}"


def receipt_part_sk(part: int) -> str:
    """Sort key of a receipt's part; part -1 (the rejected items) is `P#00000`, and the rejected
    items' further parts -2, -3 ... (when they need more than one item) `P#-0001`, `P#-0002`."""
    return f"P#{part + 1:05d}"


def receipt_part_of(sk: str) -> int:
    return int(sk[2:]) - 1


def receipt_part_key(bank: str, request_id: str, part: int) -> Wire:
    return key(receipt_pk(bank, request_id), receipt_part_sk(part))


def webhooks_pk(bank: str) -> str:
    """Partition of a bank's webhooks (`H#<id>`) and their count (`COUNT`, the cap's guard)."""
    return f"WH#{bank}"


def webhook_key(bank: str, webhook_id: str) -> Wire:
    return key(webhooks_pk(bank), f"H#{webhook_id}")


def webhook_count_key(bank: str) -> Wire:
    return key(webhooks_pk(bank), "COUNT")


def deliveries_pk(bank: str, webhook_id: str) -> str:
    """Partition of one webhook's deliveries' log, sorted by event time (`<created>#<id>`)."""
    return f"WD#{bank}#{webhook_id}"


def delivery_key(bank: str, webhook_id: str, created: str, event_id: str) -> Wire:
    return key(deliveries_pk(bank, webhook_id), f"{created}#{event_id}")


def tx_prefixes(bank: str | None = None) -> list[str]:
    """pk prefixes of the transactions of a bank (or of every bank), for a scan."""
    return ["TX#" if bank is None else f"TX#{bank}#"]


def aggregate_prefixes(bank: str | None = None) -> list[str]:
    """pk prefixes of the aggregate items (bank shards, hours, accounts), for a scan."""
    rest = "" if bank is None else f"{bank}#"
    return [f"BS#{rest}", f"HR#{rest}", f"AC#{rest}"]


def bank_of(pk: str) -> str:
    """The bank in a transaction's or an aggregate's pk."""
    return pk.split("#")[1]


def tx_key(bank: str, tx_id: str) -> Wire:
    return key(tx_pk(bank, tx_id), TX_SK)


def account_key(bank: str, account: str) -> Wire:
    return key(account_pk(bank, account), ACCOUNT_SK)


def shard_key(bank: str, shard: int) -> Wire:
    return key(shard_pk(bank, shard), BANK_SK)


def hour_key(bank: str, shard: int, hour: str) -> Wire:
    return key(hour_pk(bank, shard), hour)


def api_key_key(key_hash: str) -> Wire:
    return key(api_key_pk(key_hash), KEY_SK)


def bank_key_key(bank: str, key_id: str) -> Wire:
    return key(bank_keys_pk(bank), key_id)


def app_client_key(client_id: str) -> Wire:
    """A Cognito app client's mapping to its bank (read by the auth middleware)."""
    return key(f"CL#{client_id}", CLIENT_SK)


def bank_clients_pk(bank: str) -> str:
    return f"CB#{bank}"


def bank_client_key(bank: str, client_id: str) -> Wire:
    """The bank's index entry of one of its app clients (list and unmap without a scan)."""
    return key(bank_clients_pk(bank), client_id)


def rule_set_pk(bank: str) -> str:
    """Partition key of a bank's rule sets: one item per version."""
    return f"RS#{bank}"


def rule_set_sk(version: int) -> str:
    return f"V#{version:010d}"


def replay_job_key(bank: str, job_id: str) -> Wire:
    """A replay job's record (one item; written at submission, then with its outcome)."""
    return key(f"RJ#{bank}#{job_id}", "RJ")


def ping_key() -> Wire:
    return key("PING", "PING")


def aggregate_keys(bank: str, agg: AggKey, shards: int) -> list[Wire]:
    """The items an aggregate is stored in: one per shard for the bank and an hour."""
    if agg.kind == BANK:
        return [shard_key(bank, s) for s in range(shards)]
    if agg.kind == HOUR:
        return [hour_key(bank, s, agg.name) for s in range(shards)]
    return [account_key(bank, agg.name)]


def position(ts_key: str, tx_id: str) -> str:
    """The index sort key: time key (fixed width) then id, so string order is (time, id)."""
    return f"{ts_key}#{tx_id}"


def agg_of(pk: str, sk: str) -> tuple[str, AggKey] | None:
    """The bank and aggregate key an aggregate item stands for, or None for other items."""
    prefix, _, rest = pk.partition("#")
    bank, _, name = rest.partition("#")
    if prefix == "BS":
        return bank, AggKey(BANK)
    if prefix == "HR":
        return bank, AggKey(HOUR, sk)
    if prefix == "AC":
        return bank, AggKey(ACCOUNT, name)
    return None


# --- calls -----------------------------------------------------------------------------------

def error_code(exc: ClientError) -> str:
    """The AWS error code of a ClientError ("" when it has none)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


# DynamoDB's words for a number it cannot hold: more than 38 significant digits, or past its
# magnitude. Only money totals grow without bound, so this is a total too large to keep exact.
_NUMBER_LIMIT = ("38 digits", "significant digits", "number overflow", "magnitude larger")


def refusal(operation: str, message: str) -> Exception:
    """What a ValidationException means: a money total past 38 digits (refused whole, 422), or
    a request we should never have sent (StoreRefused: a bug, 500)."""
    if any(words in message.lower() for words in _NUMBER_LIMIT):
        return TotalTooLargeError("a money total would pass what DynamoDB holds exactly"
                                  " (38 significant digits); nothing was stored")
    return StoreRefused(f"DynamoDB refused the {operation} as invalid: ValidationException")


class Rejected(Exception):
    """DynamoDB answered with an error code the caller expects (a failed condition)."""

    def __init__(self, code: str, response: dict[str, Any]) -> None:
        super().__init__(code)
        self.code = code
        self.response = response


class DynamoTable:
    """One table by name and a low-level client made on first use and reused (endpoint and
    region from the environment: `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_REGION`)."""

    def __init__(self, name: str, client: DynamoDBClient | None = None,
                 config: Config = RETRY_CONFIG, backoff: Backoff = UNPROCESSED_BACKOFF) -> None:
        self.name = name
        self._client = client
        self._config = config
        self._lock = threading.Lock()
        self.backoff = backoff

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = boto3.session.Session().client("dynamodb",
                                                                  config=self._config)
        return self._client

    def call(self, operation: str, *, expect: Collection[str] = (), **params: Any
             ) -> dict[str, Any]:
        """One API call; an error code in `expect` raises Rejected, any other error that is
        left after botocore's retries raises StoreError."""
        try:
            method: Callable[..., dict[str, Any]] = getattr(self.client, operation)
            return method(**params)
        except ClientError as exc:
            code = error_code(exc)
            if code in expect:
                raise Rejected(code, dict(exc.response)) from exc
            if code == "ValidationException":
                message = str(exc.response.get("Error", {}).get("Message", ""))
                raise refusal(operation, message) from exc
            raise StoreError(f"DynamoDB {operation} failed: {code}") from exc
        except BotoCoreError as exc:
            raise StoreError(f"DynamoDB {operation} failed: {exc}") from exc

    def on_table(self, operation: str, *, expect: Collection[str] = (), **params: Any
                 ) -> dict[str, Any]:
        """`call` on this table."""
        return self.call(operation, expect=expect, TableName=self.name, **params)

    def batch_get(self, keys: list[Wire]) -> dict[ItemKey, Wire]:
        """The items at `keys` (absent ones left out), strongly consistent, 100 a call.

        What a call leaves unprocessed (DynamoDB throttled part of it) is resent, and only
        that, in the next call, topped up with keys not yet asked, after a pause that grows
        with the calls in a row that processed nothing. Any number of keys can be read; only
        `BATCH_STALLS` such calls in a row raise StoreError."""
        pending = list({item_key(k): k for k in keys}.values())
        found: dict[ItemKey, Wire] = {}
        stalls = 0
        while pending:
            batch, pending = pending[:BATCH_GET], pending[BATCH_GET:]
            out = self.call("batch_get_item", RequestItems={
                self.name: {"Keys": batch, "ConsistentRead": True}})
            for wire in out.get("Responses", {}).get(self.name, []):
                found[item_key(wire)] = wire
            left: list[Wire] = out.get("UnprocessedKeys", {}).get(self.name, {}).get("Keys", [])
            stalls = stalls + 1 if len(left) >= len(batch) else 0
            if not left:
                continue
            if stalls >= BATCH_STALLS:
                raise StoreError(f"DynamoDB left keys unprocessed in {stalls} calls in a row")
            self.backoff.pause(stalls)
            pending = left + pending
        return found

    def batch_write(self, requests: list[dict[str, Any]]) -> None:
        """Puts and deletes, 25 a call, resending what DynamoDB leaves unprocessed."""
        for start in range(0, len(requests), BATCH_WRITE):
            pending = requests[start:start + BATCH_WRITE]
            for attempt in range(BATCH_TRIES):
                out = self.call("batch_write_item", RequestItems={self.name: pending})
                pending = out.get("UnprocessedItems", {}).get(self.name, [])
                if not pending:
                    break
                self.backoff.pause(attempt)
            else:
                raise StoreError("DynamoDB left writes unprocessed after retries")

    def query(self, limit: int | None = None, **params: Any) -> Iterator[Wire]:
        """Items of a Query (or Scan with `scan=True`), page after page."""
        operation = "scan" if params.pop("scan", False) else "query"
        seen = 0
        while True:
            page = {**params, **({"Limit": limit - seen} if limit else {})}
            out = self.on_table(operation, **page)
            for wire in out.get("Items", []):
                seen += 1
                yield wire
            start = out.get("LastEvaluatedKey")
            if not start or (limit is not None and seen >= limit):
                return
            params["ExclusiveStartKey"] = start

    def scan_segments(self, segments: int, **params: Any) -> Iterator[Wire]:
        """A parallel Scan: `segments` segments read at once by threads, items as they come."""
        from concurrent.futures import ThreadPoolExecutor  # replay only: not on ingest's path

        def segment(number: int) -> list[Wire]:
            return list(self.query(scan=True, Segment=number, TotalSegments=segments,
                                   **params))

        with ThreadPoolExecutor(segments) as pool:
            for items in pool.map(segment, range(segments)):
                yield from items

    def scan_prefixes(self, prefixes: list[str]) -> Iterator[Wire]:
        """Every item whose pk starts with one of `prefixes` (a scan: reconcile and scripts)."""
        values = {f":p{i}": {"S": p} for i, p in enumerate(prefixes)}
        return self.query(scan=True, FilterExpression=" OR ".join(
            f"begins_with(pk, :p{i})" for i in range(len(prefixes))),
            ExpressionAttributeValues=values)
