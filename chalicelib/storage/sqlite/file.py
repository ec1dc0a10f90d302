"""A small SQLite file of its own (the embedded queue, receipts): WAL, a connection per thread,
writers serialised in-process by a lock and across processes by BEGIN IMMEDIATE."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

OPEN_RETRIES = 50  # brief waits while another connection is creating the same file


class SqliteFile:
    """One file, its schema made on first use; `errors` turns sqlite3 failures into the
    caller's own exception type (StoreError, QueueError)."""

    def __init__(self, path: str, schema: str, error: Callable[[str], Exception]) -> None:
        self.path = path
        self.schema = schema
        self.error = error
        self._local = threading.local()
        self._writer = threading.Lock()
        self._schema_lock = threading.Lock()
        self._schema_ready = False

    def conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                if self.path != ":memory:":
                    Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
                self._prepare(conn)
            except (sqlite3.Error, OSError) as exc:
                raise self.error(f"cannot open SQLite file {self.path}: {exc}") from exc
            self._local.conn = conn
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        # Switching a new file to WAL answers "database is locked" at once while another
        # connection is creating it (DESIGN.md, measured facts): retry that briefly.
        for attempt in range(OPEN_RETRIES):
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == OPEN_RETRIES - 1:
                    raise
                time.sleep(0.01 * (attempt + 1))
        conn.execute("PRAGMA synchronous=NORMAL")
        with self._schema_lock:
            if not self._schema_ready:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for statement in self.schema.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
                self._schema_ready = True

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (rolled back if the block raises)."""
        conn = self.conn()
        with self._writer:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise self.error(f"SQLite file {self.path} is busy: {exc}") from exc
            try:
                yield conn
            except sqlite3.Error as exc:
                conn.execute("ROLLBACK")
                raise self.error(f"SQLite write failed: {exc}") from exc
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def read(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return self.conn().execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise self.error(f"SQLite query failed: {exc}") from exc
