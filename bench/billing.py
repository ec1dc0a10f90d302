"""AWS's on-demand billing rules as pure functions, and the list prices the cost figures use.

DynamoDB (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/
CapacityUnitCalculations.html, .../CostOptimization_..., .../GSI.html#GSI.ThroughputConsiderations):
an item's size is its attribute names plus its values; a write is billed on the larger of the
item's old and new size, rounded up to 1 KB (at least 1 unit); inside TransactWriteItems every
action costs twice (a ConditionCheck too); a write whose condition fails still consumes (on
the stored item's size); every global secondary index an item is in costs a write of its own
(two when the index key changes), on the index entry's size (projected attributes + 100 bytes);
a strongly consistent read is 1 unit per 4 KB, half that eventually consistent, and a key that
is not there still costs the minimum. A Query is billed on the summed size of what it returns.
DynamoDB Local's ConsumedCapacity does not follow these rules (one item's worth per
transaction, missing keys free), so bench.meter counts units from the calls with these.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

KB, READ_BLOCK = 1024, 4096
INDEX_OVERHEAD = 100  # bytes an index entry carries besides its attributes
SQS_CHUNK = 64 * 1024  # an SQS request is billed per 64 KB of payload

# On-demand list prices, us-east-1, looked up 2026-01 (the sources say which tier):
# https://aws.amazon.com/dynamodb/pricing/on-demand/ (standard table class)
WRITE_PER_M = Decimal("0.625")  # per million write request units
READ_PER_M = Decimal("0.125")  # per million read request units
# https://aws.amazon.com/api-gateway/pricing/ (REST API, first 333 million a month)
APIGW_REST_PER_M = Decimal("3.50")
# https://aws.amazon.com/lambda/pricing/ (x86)
LAMBDA_REQUEST_PER_M = Decimal("0.20")
LAMBDA_GB_S = Decimal("0.0000166667")
# https://aws.amazon.com/sqs/pricing/ (FIFO queues, past the free tier)
SQS_FIFO_PER_M = Decimal("0.50")


def number_size(text: str) -> int:
    """A Number's bytes: about 1 per 2 significant digits, plus 1 (sign and zeros trimmed)."""
    digits = text.lstrip("+-").replace(".", "").split("e")[0].split("E")[0]
    significant = digits.strip("0")
    return math.ceil(max(1, len(significant)) / 2) + 1


def value_size(value: dict[str, Any]) -> int:
    """The bytes of one wire AttributeValue ({"S": ...}, {"N": ...}, {"M": {...}} ...)."""
    ((kind, v),) = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        return number_size(v)
    if kind == "B":
        return len(v) if isinstance(v, bytes | bytearray) else len(str(v).encode())
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in v)
    if kind == "NS":
        return sum(number_size(n) for n in v)
    if kind == "BS":
        return sum(len(b) for b in v)
    if kind == "L":  # 3 bytes for the list, 1 per element
        return 3 + sum(1 + value_size(e) for e in v)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(e) for k, e in v.items())
    raise ValueError(f"unknown attribute type {kind!r}")


def item_size(item: dict[str, Any] | None) -> int:
    """An item's bytes (wire form): each attribute's name plus its value; 0 if there is none."""
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(old: int, new: int, transactional: bool = False) -> int:
    """A write's units: the larger size rounded up to 1 KB, at least 1; twice in a transaction."""
    units = max(1, math.ceil(max(old, new) / KB))
    return 2 * units if transactional else units


def failed_write_units(old: int, transactional: bool = False) -> int:
    """A write whose condition failed: billed on the stored item (at least 1 unit)."""
    return write_units(old, 0, transactional)


def index_entry(item: dict[str, Any] | None, keys: tuple[str, str]) -> int | None:
    """The size of an item's entry in an index with projection ALL (the item, which holds the
    table's keys, plus the overhead), or None if the item has no value for the index's keys
    (a sparse index leaves it out)."""
    if not item or any(k not in item for k in keys):
        return None
    return item_size(item) + INDEX_OVERHEAD


def index_write_units(old: dict[str, Any] | None, new: dict[str, Any] | None,
                      keys: tuple[str, str]) -> int:
    """An index's own write units for a base-table write from `old` to `new`: none if the item
    is in the index neither before nor after or did not change; one write to add, update or
    remove an entry; two (a delete and a put) when the index key changed."""
    before, after = index_entry(old, keys), index_entry(new, keys)
    if (before is None and after is None) or old == new:
        return 0
    if before is None or after is None:
        return write_units(before or 0, after or 0)
    assert old is not None and new is not None
    if any(old[k] != new[k] for k in keys):
        return write_units(before, 0) + write_units(0, after)
    return write_units(before, after)


def read_units(size: int, consistent: bool = True) -> Decimal:
    """One item read: 1 unit per 4 KB (0.5 eventually consistent); a missing key (size 0)
    still costs the minimum."""
    blocks = max(1, math.ceil(size / READ_BLOCK))
    return Decimal(blocks) if consistent else Decimal(blocks) / 2


def query_units(sizes: list[int], consistent: bool = True) -> Decimal:
    """A Query or Scan page: the summed size of the items it returns, rounded up to 4 KB."""
    return read_units(sum(sizes), consistent)


def sqs_requests(payload_bytes: int) -> int:
    """An SQS API call's billed requests: one per 64 KB of payload, at least one."""
    return max(1, math.ceil(payload_bytes / SQS_CHUNK))


def per_million(units: Decimal | int, price_per_m: Decimal) -> Decimal:
    """Dollars for `units` at a price per million."""
    return Decimal(units) * price_per_m / 1_000_000


def lambda_cost(invocations: Decimal | int, seconds: Decimal, memory_gb: Decimal) -> Decimal:
    """Lambda's price: per request plus per GB-second (x86)."""
    return (per_million(invocations, LAMBDA_REQUEST_PER_M)
            + Decimal(invocations) * seconds * memory_gb * LAMBDA_GB_S)
