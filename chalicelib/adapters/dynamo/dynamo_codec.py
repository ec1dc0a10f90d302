"""The DynamoDB single-table layout, and items to and from domain values (keys: `table`).

Every item has a string partition key `pk` and sort key `sk`:

| item | pk | sk | other attributes |
|---|---|---|---|
| transaction | `TX#<bank>#<id>` | `TX` | fields (amount a Number), `g2pk/g2sk`, `w` |
| account: state, totals, history | `AC#<bank>#<account>` | `AC` | `ver st b hwm h hb` |
| account history page | `AH#<bank>#<account>` | its newest pointer | `p` (dynamo_account) |
| a queue group's bank totals | `GB#<bank>` | `<group:04d>` | flat counters, `hwm` |
| a queue group's hour | `GH#<bank>` | `<hour>#<group:04d>` | flat counters, `hwm` |
| bank totals, shard s | `BS#<bank>#<ss>` | `BANK` | flat counters (below) |
| an hour, shard s | `HR#<bank>#<ss>` | `<hour>` | flat counters (below) |
| API key | `AK#<sha256>` | `AK` | `bank`, `key_id`, `created_at`, `revoked` |
| a bank's key ids | `KB#<bank>` | `<key_id>` | `key_hash` |
| async receipt, part n | `RC#<bank>#<request>` | `P#<n+1:05d>` | `created_at`, `items`, `writing` |

An account's history is read from its account item and history pages (dynamo_account: no index,
which cost a write per transaction); sparse index `flagged` (`g2pk` = `F#<bank>`, `g2sk` =
`<sort_key(ts)>#<id>`) serves the newest flagged transactions. Bank and hour items take
concurrent `ADD`s (the queue groups' own are put whole by their one writer), so their counters
are flat top-level Numbers: `n`, `na`, `nf`, per currency `cc_/ct_/dc_/dt_<CUR>` and the
largest transaction `mx_<CUR>` (a map) with `mxa_/mxk_/mxi_<CUR>` (amount, time key, id) that
the conditional update compares; per rule `f_<rule>`; `last` and its time key `lastk`.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from chalicelib.adapters.dynamo import dynamo_account
from chalicelib.adapters.dynamo import dynamo_compact as compact
from chalicelib.adapters.dynamo.dynamo_account import AccountDoc
from chalicelib.adapters.dynamo.dynamo_table import (
    KEY_SK,
    PK,
    SK,
    TX_SK,
    Wire,
    api_key_pk,
    flagged_index_pk,
    key_hash_of,
    position,
    tx_pk,
)
from chalicelib.domain.aggregates import Bucket, CurrencyTotals, MaxRef
from chalicelib.domain.model import Transaction
from chalicelib.domain.money import ZERO, quantize, to_text
from chalicelib.domain.rules import AccountState
from chalicelib.domain.timeutil import sort_key
from chalicelib.ports.store import ApiKeyRecord

FLAGGED, G2PK, G2SK = "flagged", "g2pk", "g2sk"
G1PK, G1SK = "g1pk", "g1sk"  # the keys of the `by_account` index items written before it went
WRITER = "w"  # a transaction item's writing message
_NOT_FIELDS = (PK, SK, G1PK, G1SK, G2PK, G2SK, WRITER)

Item = dict[str, Any]  # attribute name -> plain Python value (Decimal for numbers)

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_wire(item: Item) -> Wire:
    """Plain values (str, Decimal, int, bool, list, dict) to DynamoDB's wire form."""
    return {name: _serializer.serialize(value) for name, value in item.items()}


def from_wire(wire: Wire) -> Item:
    """DynamoDB's wire form to plain values; numbers come back as Decimal."""
    return {name: _deserializer.deserialize(value) for name, value in wire.items()}


# --- transactions ---------------------------------------------------------------------------

def tx_item(bank: str, tx: Transaction, writer: str | None = None) -> Item:
    """A transaction as stored: its fields, the `flagged` index keys when flagged, and the
    token of the queue message that wrote it (`w`, the consumer's; none from a transaction)."""
    item: Item = {k: v for k, v in tx.to_json().items()
                  if k != "amount" and (v or k not in ("flag_details", "flags"))}
    item.update({PK: tx_pk(bank, tx.id), SK: TX_SK, "amount": tx.amount})
    if tx.flags:
        item.update({G2PK: flagged_index_pk(bank),
                     G2SK: position(sort_key(tx.timestamp_text), tx.id)})
    if writer is not None:
        item[WRITER] = writer
    return item


def tx_from(item: Item) -> Transaction:
    """Rebuild a stored transaction; DynamoDB drops trailing zeros, so amounts are quantized."""
    body = {k: v for k, v in item.items() if k not in _NOT_FIELDS}
    body["amount"] = to_text(quantize(Decimal(str(body["amount"])), str(body["currency"])))
    return Transaction.from_json(body)


def writer_of(item: Item) -> str | None:
    """The token of the queue message that wrote a transaction item (None: a transaction)."""
    value = item.get(WRITER)
    return None if value is None else str(value)


# --- account items: the rules' state, the account's totals, history (dynamo_account) ---------

def account_item(bank: str, account: str, state: AccountState, version: int,
                 bucket: Bucket | None, doc: AccountDoc | None = None) -> Item:
    """The account item with `state` at `version` and `bucket`, keeping the rest of `doc` (its
    high-water mark and history) as read."""
    base = doc or AccountDoc()
    return dynamo_account.account_item(bank, account, replace(
        base, state=replace(state, version=version), bucket=bucket, created_by=""))


def state_from(item: Item | None) -> AccountState:
    return dynamo_account.doc_from(item).state


def account_bucket_from(item: Item | None) -> Bucket | None:
    return dynamo_account.doc_from(item).bucket


def dump_bucket(bucket: Bucket) -> str:
    return compact.encode_bucket(bucket)


# --- bank shard and hour items: flat counters ------------------------------------------------

def flat_from(item: Item) -> Bucket:
    """A bank shard or hour item as a Bucket."""
    bucket = Bucket(int(item.get("n", 0)), int(item.get("na", 0)), int(item.get("nf", 0)))
    for name, value in item.items():
        prefix, _, rest = name.partition("_")
        if prefix == "f" and rest:
            bucket.flags[rest] = int(value)
        elif prefix in ("cc", "ct", "dc", "dt", "mx"):
            totals = bucket.currencies.setdefault(rest, CurrencyTotals())
            if prefix == "cc":
                totals.credit_count = int(value)
            elif prefix == "ct":
                totals.credit_total = _money(value, rest)
            elif prefix == "dc":
                totals.debit_count = int(value)
            elif prefix == "dt":
                totals.debit_total = _money(value, rest)
            else:
                totals.max = maxref_from(value, rest)
    last = item.get("last")
    bucket.last_activity = None if last is None else str(last)
    return bucket


def _money(value: Decimal, currency: str) -> Decimal:
    """DynamoDB drops trailing zeros (250.50 -> 250.5): give back the currency's digits, as the
    domain computes them (a total never added to stays a bare 0)."""
    return quantize(Decimal(value), currency) if value else ZERO


def maxref_item(ref: MaxRef) -> Item:
    return {"id": ref.id, "account": ref.account, "amount": ref.amount, "type": ref.type,
            "timestamp": ref.timestamp}


def maxref_from(value: dict[str, Any], currency: str) -> MaxRef:
    return MaxRef(str(value["id"]), str(value["account"]),
                  quantize(Decimal(str(value["amount"])), currency), str(value["type"]),
                  str(value["timestamp"]))


def flat_item(pk: str, sk: str, bucket: Bucket) -> Item:
    """A whole bucket as a flat item (reconcile's repair writes these)."""
    item: Item = {PK: pk, SK: sk, "n": bucket.count, "na": bucket.accounts,
                  "nf": bucket.flagged}
    for code, totals in bucket.currencies.items():
        item.update({f"cc_{code}": totals.credit_count, f"dc_{code}": totals.debit_count})
        item.update({name: total for name, total in ((f"ct_{code}", totals.credit_total),
                                                     (f"dt_{code}", totals.debit_total)) if total})
        if totals.max is not None:
            item.update(max_attributes(code, totals.max))
    for rule, count in bucket.flags.items():
        item[f"f_{rule}"] = count
    if bucket.last_activity is not None:
        item.update({"last": bucket.last_activity, "lastk": sort_key(bucket.last_activity)})
    return item


def max_attributes(code: str, ref: MaxRef) -> Item:
    """The largest transaction of a currency: the map and the three compared attributes."""
    return {f"mx_{code}": maxref_item(ref), f"mxa_{code}": ref.amount,
            f"mxk_{code}": sort_key(ref.timestamp), f"mxi_{code}": ref.id}


# --- API keys -------------------------------------------------------------------------------

def api_key_item(record: ApiKeyRecord) -> Item:
    return {PK: api_key_pk(record.key_hash), SK: KEY_SK, "bank": record.bank,
            "key_id": record.key_id, "created_at": record.created_at, "revoked": record.revoked}


def api_key_from(item: Item) -> ApiKeyRecord:
    return ApiKeyRecord(key_hash_of(str(item[PK])), str(item["bank"]), str(item["key_id"]),
                        str(item["created_at"]), bool(item.get("revoked", False)))
