"""Receipts of asynchronous requests in a SQLite file of their own (one row per part)."""

from __future__ import annotations

import json
import sqlite3

from chalicelib.adapters.sqlite.sqlite_file import SqliteFile, create_tables
from chalicelib.domain.receipts import ItemFate, Receipt, ReceiptPart
from chalicelib.ports.store import ReceiptStore, StoreError

SCHEMA = """
CREATE TABLE IF NOT EXISTS receipt_parts (
    bank TEXT NOT NULL, request_id TEXT NOT NULL, part INTEGER NOT NULL,
    created_at TEXT NOT NULL, items TEXT NOT NULL, writing TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (bank, request_id, part)) WITHOUT ROWID;
"""


def _items(text: str) -> list[ItemFate]:
    return [ItemFate.from_json(i) for i in json.loads(text)]


def _dump(items: list[ItemFate]) -> str:
    return json.dumps([i.to_json() for i in items], separators=(",", ":"))


class SqliteReceipts(ReceiptStore):
    """One file; a receipt is a few rows, read with one query."""

    def __init__(self, path: str, synchronous: str = "FULL") -> None:
        self.file = SqliteFile(path, lambda conn: create_tables(conn, SCHEMA), StoreError,
                               synchronous)
        self.path = path

    def create(self, bank: str, request_id: str, created_at: str,
               parts: dict[int, list[ItemFate]]) -> None:
        try:
            with self.file.write() as conn:
                conn.executemany(
                    "INSERT INTO receipt_parts (bank, request_id, part, created_at, items)"
                    " VALUES (?, ?, ?, ?, ?)",
                    [(bank, request_id, n, created_at, _dump(items))
                     for n, items in parts.items()])
        except sqlite3.IntegrityError as exc:
            raise StoreError(f"receipt {request_id} exists already") from exc

    def get(self, bank: str, request_id: str) -> Receipt | None:
        rows = self.file.read("SELECT part, created_at, items, writing FROM receipt_parts"
                              " WHERE bank=? AND request_id=?", (bank, request_id))
        if not rows:
            return None
        return Receipt(request_id, str(rows[0][1]), {
            int(n): ReceiptPart(_items(items), set(json.loads(writing)))
            for n, _, items, writing in rows})

    def get_part(self, bank: str, request_id: str, part: int) -> ReceiptPart | None:
        rows = self.file.read("SELECT items, writing FROM receipt_parts"
                              " WHERE bank=? AND request_id=? AND part=?",
                              (bank, request_id, part))
        return ReceiptPart(_items(rows[0][0]), set(json.loads(rows[0][1]))) if rows else None

    def mark_writing(self, bank: str, request_id: str, part: int, ids: list[str]) -> None:
        self.mark_writing_many(bank, [(request_id, part, ids)])

    def mark_writing_many(self, bank: str, marks: list[tuple[str, int, list[str]]]) -> None:
        with self.file.write() as conn:
            for request_id, part, ids in marks:
                row = conn.execute("SELECT writing FROM receipt_parts WHERE bank=? AND"
                                   " request_id=? AND part=?", (bank, request_id, part)).fetchone()
                if row is None:
                    continue
                writing = sorted(set(json.loads(row[0])) | set(ids))
                conn.execute("UPDATE receipt_parts SET writing=? WHERE bank=? AND request_id=?"
                             " AND part=?", (json.dumps(writing), bank, request_id, part))

    def settle(self, bank: str, request_id: str, part: int, items: list[ItemFate]) -> None:
        self.settle_many(bank, [(request_id, part, items)])

    def settle_many(self, bank: str, settles: list[tuple[str, int, list[ItemFate]]]) -> None:
        with self.file.write() as conn:
            conn.executemany("UPDATE receipt_parts SET items=? WHERE bank=? AND request_id=?"
                             " AND part=?", [(_dump(items), bank, request_id, part)
                                             for request_id, part, items in settles])
