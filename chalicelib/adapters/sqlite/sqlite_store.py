"""The embedded store: one SQLite file on disk (WAL), safe under chalice local's threads."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from chalicelib.adapters.sqlite import sqlite_buckets as buckets
from chalicelib.adapters.sqlite.sqlite_alerts import SqliteAlerts, suppressions_of, write_alerts
from chalicelib.adapters.sqlite.sqlite_checkpoint import Checkpointer
from chalicelib.adapters.sqlite.sqlite_file import SqliteFile
from chalicelib.adapters.sqlite.sqlite_schema import TX_COLUMNS, create_schema, tx_from_row, tx_row
from chalicelib.domain.aggregates import HOUR, AggKey, Bucket
from chalicelib.domain.alerts import Suppression
from chalicelib.domain.model import Transaction
from chalicelib.domain.rules import AccountState
from chalicelib.ports.store import (
    ApiKeyRecord,
    AppClientRecord,
    CommitConflict,
    RuleSetRecord,
    Store,
    StoreError,
    UnitOfWork,
    WritePlan,
)

STATE_CACHE_SIZE = 100_000  # accounts whose decoded rule state a process keeps


def _dump(body: object) -> str:
    return json.dumps(body, separators=(",", ":"))


def _chunks(items: list[str], size: int = 500) -> Iterator[list[str]]:
    """Slices small enough for SQLite's bound-parameter limit."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _marks(items: list[str]) -> str:
    return ",".join("?" * len(items))


class _SqliteUnitOfWork(UnitOfWork):
    """Runs inside BEGIN IMMEDIATE: reads and the commit see one serialised view.

    Each read is one `IN (...)` statement per 500 keys, not one statement per key: a batch of
    100 transactions costs a handful of statements.
    """

    def __init__(self, conn: sqlite3.Connection, bank: str,
                 states: dict[tuple[str, str], AccountState]) -> None:
        self.conn = conn
        self.bank = bank
        self.states = states  # the store's decoded states, trusted only at the stored version
        self.versions: dict[str, int] = {}  # read under this unit's lock, so still current

    def _rows(self, sql: str, keys: list[str], *lead: str) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = []
        for part in _chunks(keys):
            rows += self.conn.execute(sql.format(_marks(part)), (self.bank, *lead, *part))
        return rows

    def get_transactions(self, ids: list[str]) -> dict[str, Transaction]:
        rows = self._rows(f"SELECT {TX_COLUMNS} FROM transactions WHERE bank=? AND id IN ({{}})",
                          ids)
        return {row[0]: tx_from_row(row) for row in rows}

    def get_account_states(self, accounts: list[str]) -> dict[str, AccountState]:
        versions = dict(self._rows("SELECT account, version FROM account_states"
                                   " WHERE bank=? AND account IN ({})", accounts))
        self.versions.update(dict.fromkeys(accounts, 0) | versions)
        found: dict[str, AccountState] = {}
        stale: list[str] = []
        for account, version in versions.items():
            cached = self.states.get((self.bank, account))
            if cached is not None and cached.version == version:
                found[account] = cached
            else:
                stale.append(account)
        for account, version, seen in self._rows("SELECT account, version, seen FROM"
                                                 " account_states WHERE bank=? AND account"
                                                 " IN ({})", stale):
            found[account] = AccountState.from_json(json.loads(seen), version)
        return {a: found.get(a, AccountState()) for a in accounts}

    def get_suppressions(self, accounts: list[str]) -> list[Suppression]:
        return suppressions_of(self.conn, self.bank, accounts)

    def commit(self, plan: WritePlan) -> None:
        conn, bank = self.conn, self.bank
        unread = [a for a in plan.states if a not in self.versions]
        versions = self.versions | dict(self._rows("SELECT account, version FROM account_states"
                                                   " WHERE bank=? AND account IN ({})", unread))
        for account, state in plan.states.items():
            if versions.get(account, 0) != state.version:
                raise CommitConflict(f"account {account} changed since it was read")
        conn.executemany(
            "INSERT OR REPLACE INTO account_states (bank, account, version, seen)"
            " VALUES (?, ?, ?, ?)",
            [(bank, a, s.version + 1, _dump(s.to_json())) for a, s in plan.states.items()])
        try:
            conn.executemany(
                f"INSERT INTO transactions (bank, ts, flagged, {TX_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [tx_row(bank, t) for t in plan.transactions])
        except sqlite3.IntegrityError as exc:
            if exc.sqlite_errorname != "SQLITE_CONSTRAINT_PRIMARYKEY":
                raise  # a bug, not a race: never retried as if it were one
            raise CommitConflict(str(exc)) from exc
        buckets.apply_deltas(conn, bank, plan.deltas)
        write_alerts(conn, bank, plan)  # in the same transaction: an outbox, never lost
        if len(self.states) > STATE_CACHE_SIZE:
            self.states.clear()
        for account, state in plan.states.items():
            # should the COMMIT fail, the stored version stays behind and this entry is ignored
            # (built directly: dataclasses.replace costs more than the rest of this loop)
            self.states[(bank, account)] = AccountState(state.seen, state.version + 1,
                                                        state.stats, state.first,
                                                        state.merchants)


class SqliteStore(SqliteAlerts, Store):
    """A SQLite file; one connection per thread, writers serialised by BEGIN IMMEDIATE."""

    name = "sqlite"

    def __init__(self, path: str, synchronous: str = "FULL") -> None:
        self.path = path
        self._checkpointer = Checkpointer(path)
        self.file = SqliteFile(path, lambda conn: create_schema(conn, path), StoreError,
                               synchronous, ("PRAGMA wal_autocheckpoint=0",),  # Checkpointer's
                               after_write=self._checkpointer.nudge)
        self.synchronous = synchronous
        # Decoding every account's rule state for every batch costs more than the SQL; states
        # are immutable and versioned, so the last one written is reused while it is current.
        self._states: dict[tuple[str, str], AccountState] = {}

    def _conn(self) -> sqlite3.Connection:
        return self.file.conn()

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        return self.file.write()

    @contextmanager
    def unit_of_work(self, bank: str) -> Iterator[UnitOfWork]:
        with self._write() as conn:
            yield _SqliteUnitOfWork(conn, bank, self._states)

    def _query(self, sql: str, args: tuple[object, ...]) -> list[tuple[object, ...]]:
        try:
            return self._conn().execute(sql, args).fetchall()
        except sqlite3.OperationalError as exc:
            raise StoreError(f"SQLite query failed: {exc}") from exc

    def get_transaction(self, bank: str, tx_id: str) -> Transaction | None:
        rows = self._query(f"SELECT {TX_COLUMNS} FROM transactions WHERE bank=? AND id=?",
                           (bank, tx_id))
        return tx_from_row(rows[0]) if rows else None

    def _buckets(self, where: str, args: tuple[Any, ...]) -> dict[AggKey, Bucket]:
        try:
            return buckets.read_buckets(self._conn(), where, args)
        except sqlite3.OperationalError as exc:
            raise StoreError(f"SQLite query failed: {exc}") from exc

    def get_buckets(self, bank: str, keys: list[AggKey]) -> dict[AggKey, Bucket]:
        found: dict[AggKey, Bucket] = {}
        for key in keys:
            found.update(self._buckets("bank=? AND kind=? AND name=?",
                                       (bank, key.kind, key.name)))
        return found

    def get_hour_buckets(self, bank: str, first_hour: str, last_hour: str) -> list[Bucket]:
        return list(self._buckets("bank=? AND kind=? AND name BETWEEN ? AND ?",
                                  (bank, HOUR, first_hour, last_hour)).values())

    def recent_flagged(self, bank: str, since: str | None, until: str | None,
                       limit: int) -> list[Transaction]:
        rows = self._query(
            f"SELECT {TX_COLUMNS} FROM transactions WHERE bank=? AND flagged=1 AND ts>=? AND ts<?"
            " ORDER BY ts DESC, id DESC LIMIT ?", (bank, since or "", until or "~", limit))
        return [tx_from_row(r) for r in rows]

    def account_transactions(self, bank: str, account: str, limit: int,
                             after: tuple[str, str] | None) -> list[Transaction]:
        ts, tx_id = after or ("~", "~")
        rows = self._query(
            f"SELECT {TX_COLUMNS} FROM transactions"
            " WHERE bank=? AND account=? AND (ts, id) < (?, ?) ORDER BY ts DESC, id DESC LIMIT ?",
            (bank, account, ts, tx_id, limit))
        return [tx_from_row(r) for r in rows]

    def iter_transactions(self, bank: str) -> Iterator[Transaction]:
        try:
            cursor = self._conn().execute(
                f"SELECT {TX_COLUMNS} FROM transactions WHERE bank=?", (bank,))
            for row in cursor:
                yield tx_from_row(row)
        except sqlite3.OperationalError as exc:
            raise StoreError(f"SQLite query failed: {exc}") from exc

    def iter_buckets(self, bank: str) -> Iterator[tuple[AggKey, Bucket]]:
        yield from self._buckets("bank=?", (bank,)).items()

    def replace_buckets(self, bank: str, replacements: dict[AggKey, Bucket],
                        remove: list[AggKey]) -> None:
        with self._write() as conn:
            buckets.replace_buckets(conn, bank, replacements, remove)

    def banks(self) -> list[str]:
        rows = self._query("SELECT DISTINCT bank FROM agg UNION"
                           " SELECT DISTINCT bank FROM transactions", ())
        return sorted(str(r[0]) for r in rows)

    def describe(self) -> str:
        return f"SQLite file {Path(self.path).resolve()}"

    def put_api_key(self, record: ApiKeyRecord) -> None:
        with self._write() as conn:
            conn.execute("INSERT INTO api_keys (key_hash, bank, key_id, created_at, revoked)"
                         " VALUES (?, ?, ?, ?, ?)", (record.key_hash, record.bank, record.key_id,
                                                     record.created_at, int(record.revoked)))

    def find_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        rows = self._query("SELECT key_hash, bank, key_id, created_at, revoked FROM api_keys"
                           " WHERE key_hash=?", (key_hash,))
        return _key_record(rows[0]) if rows else None

    def list_api_keys(self, bank: str) -> list[ApiKeyRecord]:
        rows = self._query("SELECT key_hash, bank, key_id, created_at, revoked FROM api_keys"
                           " WHERE bank=? ORDER BY created_at, key_id", (bank,))
        return [_key_record(r) for r in rows]

    def revoke_api_key(self, bank: str, key_id: str) -> bool:
        with self._write() as conn:
            changed = conn.execute("UPDATE api_keys SET revoked=1 WHERE bank=? AND key_id=?",
                                   (bank, key_id)).rowcount
        return changed > 0

    def map_app_client(self, record: AppClientRecord) -> bool:
        with self._write() as conn:
            added = conn.execute("INSERT OR IGNORE INTO app_clients (client_id, bank, created_at)"
                                 " VALUES (?, ?, ?)",
                                 (record.client_id, record.bank, record.created_at)).rowcount
        return added > 0

    def find_app_client(self, client_id: str) -> AppClientRecord | None:
        rows = self._query("SELECT client_id, bank, created_at FROM app_clients"
                           " WHERE client_id=?", (client_id,))
        return AppClientRecord(*map(str, rows[0])) if rows else None

    def list_app_clients(self, bank: str) -> list[AppClientRecord]:
        rows = self._query("SELECT client_id, bank, created_at FROM app_clients WHERE bank=?"
                           " ORDER BY created_at, client_id", (bank,))
        return [AppClientRecord(*map(str, r)) for r in rows]

    def unmap_app_client(self, bank: str, client_id: str) -> bool:
        with self._write() as conn:
            changed = conn.execute("DELETE FROM app_clients WHERE bank=? AND client_id=?",
                                   (bank, client_id)).rowcount
        return changed > 0

    def ping(self) -> None:
        self._query("SELECT 1", ())

    def put_rule_set(self, record: RuleSetRecord) -> bool:
        with self._write() as conn:
            added = conn.execute(
                "INSERT OR IGNORE INTO rule_sets (bank, version, updated_at, updated_by, body)"
                " VALUES (?, ?, ?, ?, ?)", (record.bank, record.version, record.updated_at,
                                            record.updated_by, _dump(record.rules))).rowcount
        return added > 0

    def get_rule_set(self, bank: str, version: int | None = None) -> RuleSetRecord | None:
        columns = "SELECT version, updated_at, updated_by, body FROM rule_sets WHERE bank=?"
        rows = (self._query(columns + " AND version=?", (bank, version)) if version is not None
                else self._query(columns + " ORDER BY version DESC LIMIT 1", (bank,)))
        if not rows:
            return None
        number, at, by, body = rows[0]
        return RuleSetRecord(bank, int(str(number)), str(at), str(by), json.loads(str(body)))

    def transactions_between(self, bank: str, since: str, until: str) -> Iterator[Transaction]:
        try:
            cursor = self._conn().execute(
                f"SELECT {TX_COLUMNS} FROM transactions WHERE bank=? AND ts>=? AND ts<?",
                (bank, since, until))
            for row in cursor:
                yield tx_from_row(row)
        except sqlite3.OperationalError as exc:
            raise StoreError(f"SQLite query failed: {exc}") from exc


def _key_record(row: tuple[object, ...]) -> ApiKeyRecord:
    return ApiKeyRecord(str(row[0]), str(row[1]), str(row[2]), str(row[3]), bool(row[4]))
