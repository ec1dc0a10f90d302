"""Webhooks and their deliveries' log in a SQLite file of their own (beside the ledger's)."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.adapters.sqlite.sqlite_file import SqliteFile, create_tables
from chalicelib.domain.webhooks import Delivery, Webhook
from chalicelib.ports.store import StoreError
from chalicelib.ports.webhooks import WebhookStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS webhooks (
    bank TEXT NOT NULL, id TEXT NOT NULL, url TEXT NOT NULL, events TEXT NOT NULL,
    created_at TEXT NOT NULL, deleted_at TEXT, PRIMARY KEY (bank, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS deliveries (
    bank TEXT NOT NULL, webhook_id TEXT NOT NULL, created TEXT NOT NULL, event_id TEXT NOT NULL,
    line TEXT NOT NULL, PRIMARY KEY (bank, webhook_id, created, event_id)) WITHOUT ROWID;
"""
HOOK_COLUMNS = "id, url, events, created_at"


def _hook(bank: str, row: tuple[Any, ...]) -> Webhook:
    return Webhook(bank, str(row[0]), str(row[1]), tuple(json.loads(row[2])), str(row[3]))


def _line(text: str) -> Delivery:
    return Delivery(**json.loads(text))


class SqliteWebhooks(WebhookStore):
    """One file; the cap is checked and the webhook written in one write transaction."""

    def __init__(self, path: str, synchronous: str = "FULL") -> None:
        self.file = SqliteFile(path, lambda conn: create_tables(conn, SCHEMA), StoreError,
                               synchronous)
        self.path = path

    def create_webhook(self, hook: Webhook, cap: int) -> bool:
        with self.file.write() as conn:
            (count,) = conn.execute("SELECT count(*) FROM webhooks WHERE bank=? AND"
                                    " deleted_at IS NULL", (hook.bank,)).fetchone()
            if count >= cap:
                return False
            conn.execute("INSERT INTO webhooks (bank, id, url, events, created_at)"
                         " VALUES (?, ?, ?, ?, ?)", (hook.bank, hook.id, hook.url,
                                                     json.dumps(list(hook.events)),
                                                     hook.created_at))
        return True

    def list_webhooks(self, bank: str) -> list[Webhook]:
        rows = self.file.read(f"SELECT {HOOK_COLUMNS} FROM webhooks WHERE bank=? AND deleted_at"
                              " IS NULL ORDER BY created_at, id", (bank,))
        return [_hook(bank, r) for r in rows]

    def get_webhook(self, bank: str, webhook_id: str) -> Webhook | None:
        rows = self.file.read(f"SELECT {HOOK_COLUMNS} FROM webhooks WHERE bank=? AND id=? AND"
                              " deleted_at IS NULL", (bank, webhook_id))
        return _hook(bank, rows[0]) if rows else None

    def delete_webhook(self, bank: str, webhook_id: str, at: str) -> bool:
        with self.file.write() as conn:
            gone = conn.execute("UPDATE webhooks SET deleted_at=? WHERE bank=? AND id=? AND"
                                " deleted_at IS NULL",
                                (at, bank, webhook_id)).rowcount
        return bool(gone)

    def get_delivery(self, bank: str, webhook_id: str, created: str,
                     event_id: str) -> Delivery | None:
        rows = self.file.read("SELECT line FROM deliveries WHERE bank=? AND webhook_id=? AND"
                              " created=? AND event_id=?", (bank, webhook_id, created, event_id))
        return _line(rows[0][0]) if rows else None

    def put_delivery(self, bank: str, delivery: Delivery) -> None:
        with self.file.write() as conn:
            conn.execute("INSERT OR REPLACE INTO deliveries (bank, webhook_id, created, event_id,"
                         " line) VALUES (?, ?, ?, ?, ?)",
                         (bank, delivery.webhook_id, delivery.created, delivery.event_id,
                          json.dumps(delivery.__dict__, separators=(",", ":"))))

    def list_deliveries(self, bank: str, webhook_id: str, limit: int) -> list[Delivery]:
        rows = self.file.read("SELECT line FROM deliveries WHERE bank=? AND webhook_id=? ORDER BY"
                              " created DESC, event_id DESC LIMIT ?", (bank, webhook_id, limit))
        return [_line(r[0]) for r in rows]
