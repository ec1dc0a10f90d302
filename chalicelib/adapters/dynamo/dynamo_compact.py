"""Compact text forms of what the account item holds, so a busy account stays within 1 KB.

DynamoDB bills a write on the item's size rounded up to 1 KB, and the account item is written
once per batch that touches the account: its size is the price. JSON spent ~35 bytes on each
remembered transaction (`[1768033620.0,"3220.87","USD",true]`); here a row is ~9 bytes: its time
as an offset in base 36 from the newest row, credit or debit as the separator, the amount's
coefficient in base 36 (its exponent only when not -2), the currency as an index only when not
the first. The running statistics keep their exact decimal text (Welford's state must replay to
the same digits). Every form round-trips exactly (tests/unit/adapters).

History pointers (`pointer`) are `<time in microseconds, 11 base-36 digits><id>`: fixed width,
so string order is (time, id) order, the order the account's history is read in.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from chalicelib.domain.account_stats import Welford
from chalicelib.domain.aggregates import Bucket, CurrencyTotals, MaxRef
from chalicelib.domain.rules import AccountState, Seen

DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
TIME_WIDTH = 11  # base-36 digits of a pointer's time: microseconds until the year 6000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def b36(n: int) -> str:
    """A non-negative integer in base 36 (lower case)."""
    if n < 0:
        raise ValueError("base 36 of a negative number")
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = DIGITS[r] + out
        if not n:
            return out


def _micros(epoch: float) -> int:
    return round(epoch * 1_000_000)


# --- the rules' state -------------------------------------------------------------------------

def _amount(value: Decimal) -> str:
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int) and not sign
    coefficient = b36(int("".join(map(str, digits)) or "0"))
    return coefficient if exponent == -2 else f"{coefficient}~{exponent}"


def _amount_from(text: str) -> Decimal:
    coefficient, _, exponent = text.partition("~")
    return Decimal(int(coefficient, 36)).scaleb(int(exponent) if exponent else -2)


def encode_state(state: AccountState) -> str:
    """`rows|currencies|stats|first|merchants` (see the module's docstring)."""
    codes: list[str] = []
    for code in [c for c, _ in state.stats] + [s.currency for s in state.seen]:
        if code not in codes:
            codes.append(code)
    rows = ""
    if state.seen:
        base = max(_micros(s.epoch) for s in state.seen)
        parts = [b36(base)]
        for s in state.seen:
            delta = base - _micros(s.epoch)
            when = b36(delta // 1_000_000) if delta % 1_000_000 == 0 else "." + b36(delta)
            where = codes.index(s.currency)
            parts.append(f"{when}{'+' if s.credit else '-'}{_amount(s.amount)}"
                         + (f"@{where}" if where else ""))
        rows = " ".join(parts)
    stats = ";".join(f"{codes.index(c)},{w.n},{w.mean},{w.m2}" for c, w in state.stats)
    first = "" if state.first is None else str(state.first)
    return "|".join([rows, ",".join(codes), stats, first, "".join(state.merchants)])


def decode_state(text: str, version: int) -> AccountState:
    """The state `encode_state` wrote, with the item's version."""
    rows, codes_text, stats_text, first, merchants = text.split("|")
    codes = codes_text.split(",") if codes_text else []
    seen: list[Seen] = []
    if rows:
        head, *rest = rows.split(" ")
        base = int(head, 36)
        for row in rest:
            sign = "+" if "+" in row else "-"
            when, _, what = row.partition(sign)
            amount, _, where = what.partition("@")
            delta = int(when[1:], 36) if when.startswith(".") else int(when, 36) * 1_000_000
            seen.append(Seen((base - delta) / 1_000_000, _amount_from(amount),
                             codes[int(where) if where else 0], sign == "+"))
    stats: list[tuple[str, Welford]] = []
    for entry in stats_text.split(";") if stats_text else []:
        index, n, mean, m2 = entry.split(",")
        stats.append((codes[int(index)], Welford(int(n), Decimal(mean), Decimal(m2))))
    return AccountState(tuple(seen), version, tuple(stats), int(first) if first else None,
                        tuple(merchants[i:i + 8] for i in range(0, len(merchants), 8)))


# --- an account's own totals ------------------------------------------------------------------

def encode_bucket(bucket: Bucket) -> str:
    """`[count, accounts, flagged, last, {cur: [cc, ct, dc, dt, max]}, flags]`; the largest
    transaction without its account (it is the item's)."""
    currencies: dict[str, list[Any]] = {}
    for code, t in sorted(bucket.currencies.items()):
        top = t.max
        currencies[code] = [t.credit_count, str(t.credit_total), t.debit_count,
                            str(t.debit_total),
                            0 if top is None else [top.id, str(top.amount), top.type,
                                                   top.timestamp]]
    return json.dumps([bucket.count, bucket.accounts, bucket.flagged, bucket.last_activity,
                       currencies, dict(sorted(bucket.flags.items()))], separators=(",", ":"))


def decode_bucket(text: str, account: str) -> Bucket:
    count, accounts, flagged, last, currencies, flags = json.loads(text)
    totals = {}
    for code, (cc, ct, dc, dt, top) in currencies.items():
        totals[code] = CurrencyTotals(cc, Decimal(ct), dc, Decimal(dt), None if not top else
                                      MaxRef(top[0], account, Decimal(top[1]), top[2], top[3]))
    return Bucket(count, accounts, flagged, totals, dict(flags), last)


# --- history pointers -------------------------------------------------------------------------

def pointer(when: datetime, tx_id: str) -> str:
    """A transaction's place in its account's history: time (fixed width) then id."""
    delta = when - _EPOCH
    micros = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    return b36(max(0, micros)).rjust(TIME_WIDTH, "0") + tx_id


def pointer_of_position(ts_key: str, tx_id: str) -> str:
    """The pointer of a cursor's (timeutil.sort_key, id) position."""
    when = datetime.strptime(ts_key[:19], "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=UTC, microsecond=int(ts_key[19:25] or 0))
    return pointer(when, tx_id)


def pointer_id(p: str) -> str:
    return p[TIME_WIDTH:]


def item_bytes(item: dict[str, Any]) -> int:
    """An item's billed size when its values are strings and small integers: names plus values
    (a number ~1 byte per 2 digits + 1), as bench.billing counts it."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        if isinstance(value, str):
            size += len(value.encode())
        else:
            size += (len(str(abs(int(value))).strip("0") or "0") + 1) // 2 + 1
    return size
