"""The SQLite file's tables (besides the aggregates'), its version, and transaction rows."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from chalicelib.adapters.sqlite import sqlite_buckets as buckets
from chalicelib.domain.model import FlagDetail, Transaction
from chalicelib.domain.money import to_text
from chalicelib.domain.timeutil import sort_key
from chalicelib.ports.store import StoreError

SCHEMA_VERSION = 5  # PRAGMA user_version of a file this code wrote; bump on any table change
SCHEMA = """
CREATE TABLE IF NOT EXISTS transactions (
    bank TEXT NOT NULL, id TEXT NOT NULL, account TEXT NOT NULL,
    ts TEXT NOT NULL,            -- timeutil.sort_key of the timestamp: orders by time
    flagged INTEGER NOT NULL,
    -- the transaction as columns (no JSON to encode on the hot path); flags comma-separated
    amount TEXT NOT NULL, currency TEXT NOT NULL, type TEXT NOT NULL, timestamp TEXT NOT NULL,
    description TEXT, merchant TEXT, counterparty TEXT, channel TEXT, flags TEXT NOT NULL,
    flag_details TEXT,           -- JSON list of {rule, version, evidence}; NULL when unflagged
    PRIMARY KEY (bank, id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tx_by_account ON transactions (bank, account, ts DESC, id DESC);
CREATE INDEX IF NOT EXISTS tx_flagged ON transactions (bank, ts DESC, id DESC) WHERE flagged = 1;
CREATE TABLE IF NOT EXISTS account_states (
    bank TEXT NOT NULL, account TEXT NOT NULL, version INTEGER NOT NULL, seen TEXT NOT NULL,
    PRIMARY KEY (bank, account)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS api_keys (
    key_hash TEXT PRIMARY KEY, bank TEXT NOT NULL, key_id TEXT NOT NULL,
    created_at TEXT NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);
CREATE UNIQUE INDEX IF NOT EXISTS api_keys_by_bank ON api_keys (bank, key_id);
"""
# Version 2: Cognito app clients of banks' systems, beside the keys.
APP_CLIENTS = """
CREATE TABLE IF NOT EXISTS app_clients (
    client_id TEXT PRIMARY KEY, bank TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS app_clients_by_bank ON app_clients (bank, created_at, client_id);
"""
# Version 3: each flag's evidence on its transaction, and the banks' rule sets (every version).
RULE_SETS = """
CREATE TABLE IF NOT EXISTS rule_sets (
    bank TEXT NOT NULL, version INTEGER NOT NULL, updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (bank, version)) WITHOUT ROWID;
"""
FLAG_DETAILS = "ALTER TABLE transactions ADD COLUMN flag_details TEXT;"
# Version 4: money totals in two parts (sqlite_buckets: low 18 digits, and a carry), so they stay
# exact past 64 bits. A version-3 total that is still an integer moves its high digits over; one
# already turned REAL is left as it is, for reconcile to report and --repair to rewrite.
CARRY_COLUMNS = f"""
ALTER TABLE agg_currency ADD COLUMN credit_hi INTEGER NOT NULL DEFAULT 0
    CHECK (typeof(credit_hi) = 'integer');
ALTER TABLE agg_currency ADD COLUMN debit_hi INTEGER NOT NULL DEFAULT 0
    CHECK (typeof(debit_hi) = 'integer');
UPDATE agg_currency SET credit_hi = credit_minor / {buckets.CARRY},
    credit_minor = credit_minor % {buckets.CARRY} WHERE typeof(credit_minor) = 'integer';
UPDATE agg_currency SET debit_hi = debit_minor / {buckets.CARRY},
    debit_minor = debit_minor % {buckets.CARRY} WHERE typeof(debit_minor) = 'integer';
"""
# Version 5: alerts (one per flagged transaction, the body its JSON; rules a JSON list), their
# counters, the outbox of events recorded with the commit, and the suppressions.
ALERTS = """
CREATE TABLE IF NOT EXISTS alerts (
    bank TEXT NOT NULL, transaction_id TEXT NOT NULL, account TEXT NOT NULL,
    ts TEXT NOT NULL,            -- the transaction's sort key: the queue is newest first
    status TEXT NOT NULL, rules TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (bank, transaction_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS alerts_by_time ON alerts (bank, ts DESC, transaction_id DESC);
CREATE INDEX IF NOT EXISTS alerts_by_status
    ON alerts (bank, status, ts DESC, transaction_id DESC);
CREATE INDEX IF NOT EXISTS alerts_by_account
    ON alerts (bank, account, ts DESC, transaction_id DESC);
CREATE TABLE IF NOT EXISTS alert_counts (
    bank TEXT PRIMARY KEY, open INTEGER NOT NULL DEFAULT 0,
    suppressed INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, bank TEXT NOT NULL,
    type TEXT NOT NULL, created TEXT NOT NULL, data TEXT NOT NULL,
    dispatched INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (seq) WHERE dispatched = 0;
CREATE TABLE IF NOT EXISTS suppressions (
    bank TEXT NOT NULL, id TEXT NOT NULL, account TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (bank, id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS suppressions_by_account ON suppressions (bank, account);
"""
# What brings a file of an older version to the next one: only additive changes, applied in
# the same write transaction as the version bump.
MIGRATIONS = {1: APP_CLIENTS, 2: FLAG_DETAILS + RULE_SETS, 3: CARRY_COLUMNS, 4: ALERTS}


TX_COLUMNS = ("id, account, amount, currency, type, timestamp, description, merchant,"
              " counterparty, channel, flags, flag_details")


def tx_from_row(row: tuple[Any, ...]) -> Transaction:
    """A stored row back into a transaction (it was validated on the way in)."""
    tx_id, account, amount, currency, kind, stamp, description, merchant, counterparty, \
        channel, flags, details = row
    return Transaction(tx_id, account, Decimal(amount), currency, kind,
                       datetime.fromisoformat(stamp), description, merchant, counterparty,
                       channel, tuple(flags.split(",")) if flags else (),
                       tuple(FlagDetail.from_json(d) for d in json.loads(details))
                       if details else ())


def tx_row(bank: str, t: Transaction) -> tuple[Any, ...]:
    """The row stored for a transaction, in INSERT order: bank, ts, flagged, TX_COLUMNS."""
    return (bank, sort_key(t.timestamp_text), 1 if t.flags else 0, t.id, t.account,
            to_text(t.amount), t.currency, t.type, t.timestamp_text, t.description, t.merchant,
            t.counterparty, t.channel, ",".join(t.flags),
            json.dumps([d.to_json() for d in t.flag_details], separators=(",", ":"))
            if t.flag_details else None)


def _statements(script: str) -> Iterator[str]:
    """The script's statements one by one (a `;` inside a comment does not end one)."""
    buffer = ""
    for part in script.split(";"):
        buffer += part + ";"
        if sqlite3.complete_statement(buffer):
            if buffer.strip(" \n;"):
                yield buffer
            buffer = ""


def create_schema(conn: sqlite3.Connection, path: str) -> None:
    """Create the tables in a new file; refuse a file another schema version wrote, rather
    than answer from half-matching tables. One write transaction, so that processes opening
    a new file at the same moment never see it half made."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type='table'"
                              ).fetchone()[0]
        while version in MIGRATIONS and version < SCHEMA_VERSION:
            for statement in _statements(MIGRATIONS[version]):
                conn.execute(statement)
            version += 1
            conn.execute(f"PRAGMA user_version={version}")
        if version != SCHEMA_VERSION:
            if version or tables:
                raise StoreError(f"{path} holds schema version {version}, this code needs "
                                 f"{SCHEMA_VERSION}: move the file away (or point SQLITE_PATH"
                                 " elsewhere)")
            for statement in _statements(SCHEMA + APP_CLIENTS + RULE_SETS + buckets.SCHEMA
                                            + ALERTS):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
