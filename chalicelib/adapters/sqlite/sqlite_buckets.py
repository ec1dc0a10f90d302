"""Aggregates in SQLite as plain columns, so a batch's deltas are applied by upserts in SQL
(money as integer minor units: exact, and added by SQLite itself) instead of decoding,
merging and re-encoding each aggregate in Python.

A money total is two integers, `<x>_minor` (the low 18 digits of its minor units) and `<x>_hi`
(the rest): SQLite's INTEGER is 64-bit and silently turns a larger sum into an inexact REAL,
which 92,234 transactions of the largest amount would reach. With the carry a total is exact
up to 9.2e36 minor units; past that a CHECK refuses the write (TotalTooLargeError), never a
rounded total."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from decimal import Context, Decimal
from typing import Any

from chalicelib.domain.aggregates import (
    AggKey,
    Bucket,
    CurrencyTotals,
    MaxRef,
    beats_expression,
    largest_rank,
)
from chalicelib.domain.money import MINOR_UNITS
from chalicelib.domain.timeutil import sort_key
from chalicelib.errors import TotalTooLargeError

SCHEMA = """
CREATE TABLE IF NOT EXISTS agg (
    bank TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,
    count INTEGER NOT NULL, accounts INTEGER NOT NULL, flagged INTEGER NOT NULL,
    last_activity TEXT, last_key TEXT,
    PRIMARY KEY (bank, kind, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS agg_currency (
    bank TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, currency TEXT NOT NULL,
    credit_count INTEGER NOT NULL, credit_minor INTEGER NOT NULL,
    debit_count INTEGER NOT NULL, debit_minor INTEGER NOT NULL,
    max_minor INTEGER, max_key TEXT, max_id TEXT, max_account TEXT, max_type TEXT, max_ts TEXT,
    credit_hi INTEGER NOT NULL DEFAULT 0 CHECK (typeof(credit_hi) = 'integer'),
    debit_hi INTEGER NOT NULL DEFAULT 0 CHECK (typeof(debit_hi) = 'integer'),
    PRIMARY KEY (bank, kind, name, currency)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS agg_flags (
    bank TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, rule TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (bank, kind, name, rule)) WITHOUT ROWID;
"""

# The incoming maximum wins as the domain's LARGEST rule decides (`beats_expression`).
_BEATS = ("(max_minor IS NULL OR " + beats_expression(
    largest_rank("excluded.max_minor", "excluded.max_key", "excluded.max_id"),
    largest_rank("max_minor", "max_key", "max_id")) + ")")
_MAX_COLUMNS = ("max_minor", "max_key", "max_id", "max_account", "max_type", "max_ts")

UPSERT_AGG = (
    "INSERT INTO agg VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET"
    " count = count + excluded.count, accounts = accounts + excluded.accounts,"
    " flagged = flagged + excluded.flagged,"
    " last_activity = CASE WHEN last_key IS NULL OR excluded.last_key > last_key"
    " THEN excluded.last_activity ELSE last_activity END,"
    " last_key = CASE WHEN last_key IS NULL OR excluded.last_key > last_key"
    " THEN excluded.last_key ELSE last_key END")
# SQLite evaluates every SET expression against the row as it was, so _BEATS holds throughout.
CARRY = 10**18  # a total's low part stays below this; two low parts add up within 64 bits
# A migrated file has the carry columns last: name every column, never rely on their order.
_CURRENCY_COLUMNS = ("bank, kind, name, currency, credit_count, credit_minor, credit_hi,"
                     " debit_count, debit_minor, debit_hi, " + ", ".join(_MAX_COLUMNS))


def _carried(side: str) -> str:
    """SET clauses adding a delta to a two-part total (SQLite reads the old row throughout)."""
    low = f"({side}_minor + excluded.{side}_minor)"
    return (f" {side}_hi = {side}_hi + excluded.{side}_hi + {low} / {CARRY},"
            f" {side}_minor = {low} % {CARRY},")


UPSERT_CURRENCY = (
    f"INSERT INTO agg_currency ({_CURRENCY_COLUMNS}) VALUES ({', '.join('?' * 16)})"
    " ON CONFLICT DO UPDATE SET"
    " credit_count = credit_count + excluded.credit_count," + _carried("credit")
    + " debit_count = debit_count + excluded.debit_count," + _carried("debit") + " "
    + ", ".join(f"{c} = CASE WHEN {_BEATS} THEN excluded.{c} ELSE {c} END" for c in _MAX_COLUMNS))
UPSERT_FLAG = ("INSERT INTO agg_flags VALUES (?, ?, ?, ?, ?)"
               " ON CONFLICT DO UPDATE SET n = n + excluded.n")


# Wide enough for any two-part total (37 digits) and a REAL read back exactly (up to 1e308
# has 309 digits): the default context's 28 digits would round.
_WIDE = Context(prec=400)


def _minor(amount: Decimal, currency: str) -> int:
    # Exact: amounts carry at most the currency's digits; the wide context never rounds.
    return int(amount.scaleb(MINOR_UNITS.get(currency, 2), _WIDE))


def _split(total: Decimal, currency: str) -> tuple[int, int]:
    """A total as (low, high) parts; refused when the high part would not fit 64 bits."""
    high, low = divmod(_minor(total, currency), CARRY)
    if high >= 2**63:
        raise TotalTooLargeError(f"a {currency} total would pass what the SQLite store holds"
                                 " exactly (9.2e36 minor units); nothing was stored")
    return low, high


def _major(minor: int | float, currency: str, high: int | float = 0) -> Decimal:
    digits = MINOR_UNITS.get(currency, 2)
    # A file written before the carry may hold an inexact REAL: read it as the float it is
    # (Decimal(float) is exact), so reconcile sees the drift and --repair rewrites it.
    whole = _WIDE.add(_WIDE.multiply(Decimal(high), CARRY), Decimal(minor))
    return whole.scaleb(-digits, _WIDE).quantize(Decimal(1).scaleb(-digits), context=_WIDE)


def _rows(bank: str, buckets: Iterable[tuple[AggKey, Bucket]]
          ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    aggs, currencies, flags = [], [], []
    for key, b in buckets:
        last = b.last_activity
        aggs.append((bank, key.kind, key.name, b.count, b.accounts, b.flagged, last,
                     None if last is None else sort_key(last)))
        for code, t in b.currencies.items():
            top = t.max
            tail = ((None,) * 6 if top is None else
                    (_minor(top.amount, code), sort_key(top.timestamp), top.id, top.account,
                     top.type, top.timestamp))
            currencies.append((bank, key.kind, key.name, code, t.credit_count,
                               *_split(t.credit_total, code), t.debit_count,
                               *_split(t.debit_total, code), *tail))
        flags += [(bank, key.kind, key.name, rule, n) for rule, n in b.flags.items()]
    return aggs, currencies, flags


def apply_deltas(conn: sqlite3.Connection, bank: str, deltas: dict[AggKey, Bucket]) -> None:
    """Add each delta to its aggregate, creating it if absent: three executemany upserts."""
    aggs, currencies, flags = _rows(bank, deltas.items())
    conn.executemany(UPSERT_AGG, aggs)
    try:
        conn.executemany(UPSERT_CURRENCY, currencies)
    except sqlite3.IntegrityError as exc:
        if exc.sqlite_errorname != "SQLITE_CONSTRAINT_CHECK":
            raise
        raise TotalTooLargeError("a money total would pass what the SQLite store holds exactly"
                                 " (9.2e36 minor units); nothing was stored") from exc
    conn.executemany(UPSERT_FLAG, flags)


def read_buckets(conn: sqlite3.Connection, where: str, args: tuple[Any, ...]
                 ) -> dict[AggKey, Bucket]:
    """The aggregates matching `where` (a condition on bank, kind and name)."""
    found: dict[AggKey, Bucket] = {}
    for kind, name, count, accounts, flagged, last in conn.execute(
            f"SELECT kind, name, count, accounts, flagged, last_activity FROM agg WHERE {where}",
            args):
        found[AggKey(kind, name)] = Bucket(count, accounts, flagged, last_activity=last)
    for kind, name, code, cc, cm, ch, dc, dm, dh, *top in conn.execute(
            "SELECT kind, name, currency, credit_count, credit_minor, credit_hi, debit_count,"
            " debit_minor, debit_hi, max_minor, max_id, max_account, max_type, max_ts"
            f" FROM agg_currency WHERE {where}", args):
        bucket = found.get(AggKey(kind, name))
        if bucket is not None:
            amount, tx_id, account, kind_, ts = top
            bucket.currencies[code] = CurrencyTotals(
                cc, _major(cm, code, ch), dc, _major(dm, code, dh),
                None if amount is None else MaxRef(tx_id, account, _major(amount, code), kind_, ts))
    for kind, name, rule, n in conn.execute(
            f"SELECT kind, name, rule, n FROM agg_flags WHERE {where}", args):
        bucket = found.get(AggKey(kind, name))
        if bucket is not None:
            bucket.flags[rule] = n
    return found


def replace_buckets(conn: sqlite3.Connection, bank: str, buckets: dict[AggKey, Bucket],
                    remove: list[AggKey]) -> None:
    """Overwrite whole aggregates (reconcile --repair)."""
    for key in [*remove, *buckets]:
        for table in ("agg", "agg_currency", "agg_flags"):
            conn.execute(f"DELETE FROM {table} WHERE bank=? AND kind=? AND name=?",
                         (bank, key.kind, key.name))
    apply_deltas(conn, bank, buckets)
