"""Alerts, their counters, the outbox and the suppressions in the SQLite file (schema v5).

`write_alerts` runs inside the ledger commit's transaction, so an alert and its event exist
exactly when their transaction does. `SqliteAlerts` is the AlertStore and OutboxStore half of
the SQLite store (mixed into it), every read an index range, never a scan.
"""

from __future__ import annotations

import json
import sqlite3
from abc import abstractmethod
from contextlib import AbstractContextManager
from typing import Any

from chalicelib.domain.alerts import OPEN, Alert, AlertChange, Event, Suppression, suppressed_flags
from chalicelib.domain.timeutil import sort_key
from chalicelib.ports.store import (
    AlertChanged,
    AlertCounts,
    AlertStore,
    OutboxStore,
    StoreError,
    WritePlan,
)


def _dump(body: object) -> str:
    return json.dumps(body, separators=(",", ":"))


def _alert_row(alert: Alert) -> tuple[str, ...]:
    tx = alert.transaction
    return (alert.bank, tx.id, tx.account, sort_key(tx.timestamp_text), alert.status,
            _dump(list(alert.rules)), _dump(alert.to_json()))


def _bump(conn: sqlite3.Connection, bank: str, opened: int, suppressed: int) -> None:
    """Move the bank's counters (in the caller's write transaction)."""
    if opened or suppressed:
        conn.execute("INSERT INTO alert_counts (bank, open, suppressed) VALUES (?, ?, ?)"
                     " ON CONFLICT (bank) DO UPDATE SET open = open + excluded.open,"
                     " suppressed = suppressed + excluded.suppressed",
                     (bank, opened, suppressed))


def write_alerts(conn: sqlite3.Connection, bank: str, plan: WritePlan) -> None:
    """The plan's alerts, events and counters, in the commit's transaction. Keyed by
    transaction id (alerts) and event id (outbox): written again, nothing changes."""
    opened = 0
    if plan.alerts:
        opened = conn.executemany(
            "INSERT OR IGNORE INTO alerts (bank, transaction_id, account, ts, status, rules,"
            " body) VALUES (?, ?, ?, ?, ?, ?, ?)", [_alert_row(a) for a in plan.alerts]).rowcount
    if plan.events:
        conn.executemany(
            "INSERT OR IGNORE INTO outbox (id, bank, type, created, data) VALUES (?, ?, ?, ?, ?)",
            [(e.id, e.bank, e.type, e.created, _dump(e.data)) for e in plan.events])
    _bump(conn, bank, opened, suppressed_flags(plan.transactions))


class SqliteAlerts(AlertStore, OutboxStore):
    """The alert and outbox ports over the store's connections (see SqliteStore)."""

    @abstractmethod
    def _query(self, sql: str, args: tuple[object, ...]) -> list[tuple[object, ...]]:
        """Rows of a read on this thread's connection (StoreError when SQLite fails)."""

    @abstractmethod
    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        """A write transaction."""

    def get_alert(self, bank: str, transaction_id: str) -> Alert | None:
        rows = self._query("SELECT body FROM alerts WHERE bank=? AND transaction_id=?",
                           (bank, transaction_id))
        return Alert.from_json(bank, json.loads(str(rows[0][0]))) if rows else None

    def list_alerts(self, bank: str, status: str | None, rule: str | None, account: str | None,
                    limit: int, after: tuple[str, str] | None) -> list[Alert]:
        where, args = ["bank=?", "(ts, transaction_id) < (?, ?)"], [bank, *(after or ("~", "~"))]
        if status is not None:
            where.append("status=?")
            args.append(status)
        if account is not None:
            where.append("account=?")
            args.append(account)
        if rule is not None:  # a filter on rows the index already narrowed, never a scan
            # `rules` is a JSON list of names ([a-z0-9_]): the quoted name matches exactly one
            where.append("instr(rules, ?) > 0")
            args.append(json.dumps(rule))
        rows = self._query(f"SELECT body FROM alerts WHERE {' AND '.join(where)}"
                           " ORDER BY ts DESC, transaction_id DESC LIMIT ?", (*args, limit))
        return [Alert.from_json(bank, json.loads(str(r[0]))) for r in rows]

    def change_alert(self, bank: str, alert: Alert, change: AlertChange) -> Alert:
        changed = alert.changed(change)
        with self._write() as conn:
            updated = conn.execute(
                "UPDATE alerts SET status=?, body=? WHERE bank=? AND transaction_id=? AND body=?",
                (changed.status, _dump(changed.to_json()), bank, alert.transaction_id,
                 _dump(alert.to_json()))).rowcount
            if not updated:
                raise AlertChanged(f"alert {alert.transaction_id} changed since it was read")
            _bump(conn, bank, (change.status == OPEN) - (alert.status == OPEN), 0)
        return changed

    def alert_counts(self, bank: str) -> AlertCounts:
        rows = self._query("SELECT open, suppressed FROM alert_counts WHERE bank=?", (bank,))
        return AlertCounts(int(str(rows[0][0])), int(str(rows[0][1]))) if rows else AlertCounts()

    def put_suppression(self, suppression: Suppression) -> None:
        with self._write() as conn:
            conn.execute("INSERT INTO suppressions (bank, id, account, body) VALUES (?, ?, ?, ?)",
                         (suppression.bank, suppression.id, suppression.account,
                          _dump(suppression.to_json())))

    def list_suppressions(self, bank: str) -> list[Suppression]:
        rows = self._query("SELECT body FROM suppressions WHERE bank=?", (bank,))
        found = [Suppression.from_json(bank, json.loads(str(r[0]))) for r in rows]
        return sorted(found, key=lambda s: (s.created_at, s.id))

    def delete_suppression(self, bank: str, suppression_id: str) -> bool:
        with self._write() as conn:
            return conn.execute("DELETE FROM suppressions WHERE bank=? AND id=?",
                                (bank, suppression_id)).rowcount > 0

    def pending_events(self, limit: int) -> list[Event]:
        rows = self._query("SELECT id, type, bank, created, data FROM outbox WHERE dispatched=0"
                           " ORDER BY seq LIMIT ?", (limit,))
        return [Event(str(i), str(k), str(b), str(c), json.loads(str(d)))
                for i, k, b, c, d in rows]

    def mark_dispatched(self, events: list[Event]) -> None:
        if not events:
            return
        try:
            with self._write() as conn:
                conn.executemany("UPDATE outbox SET dispatched=1 WHERE id=?",
                                 [(e.id,) for e in events])
        except sqlite3.OperationalError as exc:
            raise StoreError(f"SQLite write failed: {exc}") from exc


def suppressions_of(conn: sqlite3.Connection, bank: str, accounts: list[str]
                    ) -> list[Suppression]:
    """The suppressions of these accounts (read in the unit of work's transaction)."""
    found: list[Suppression] = []
    for start in range(0, len(accounts), 500):
        part = accounts[start:start + 500]
        rows: Any = conn.execute("SELECT body FROM suppressions WHERE bank=? AND account IN"
                                 f" ({','.join('?' * len(part))})", (bank, *part))
        found += [Suppression.from_json(bank, json.loads(r[0])) for r in rows]
    return found
