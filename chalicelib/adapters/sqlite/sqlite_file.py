"""One SQLite file on disk: WAL, a connection per thread, writers serialised in-process by a
lock and across processes by BEGIN IMMEDIATE. The ledger store, the embedded queue and the
receipts each own one (their own file, their own schema)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from chalicelib.support.backoff import Backoff

OPEN_RETRIES = 50  # brief waits for a file another process is opening (about 12 s at most)
OPEN_BACKOFF = Backoff(0.01, 0.5)


def create_tables(conn: sqlite3.Connection, script: str) -> None:
    """Run a schema script of `CREATE ... IF NOT EXISTS` statements in one write transaction,
    so processes opening a new file at the same moment never see it half made."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in script.split(";"):
            if statement.strip():
                conn.execute(statement)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class SqliteFile:
    """A file and its schema (`create`, run once per process on the first connection).

    An `sqlite3.OperationalError` (locked, I/O error, disk full) becomes `error(message)`, the
    owner's own exception (StoreError, QueueError); other errors (an IntegrityError the owner
    expects, a bug) pass through, after the write transaction is rolled back.
    """

    def __init__(self, path: str, create: Callable[[sqlite3.Connection], None],
                 error: Callable[[str], Exception], synchronous: str = "FULL",
                 pragmas: tuple[str, ...] = (),
                 after_write: Callable[[], None] | None = None) -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
        self.path = path
        self.synchronous = synchronous  # FULL: acknowledged commits survive a power loss
        self.create = create
        self.error = error
        self.pragmas = pragmas
        self.after_write = after_write
        self._local = threading.local()
        # Writers of this process queue on a lock instead of in SQLite's busy handler, which
        # sleeps in growing steps; other processes still meet BEGIN IMMEDIATE + busy timeout.
        self._writer = threading.Lock()
        self._schema_lock = threading.Lock()
        self._schema_ready = False

    def conn(self) -> sqlite3.Connection:
        """This thread's connection, opened (and the schema made) on first use."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                if self.path != ":memory:":
                    Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
                self._prepare(conn)
            except (sqlite3.Error, OSError) as exc:
                raise self.error(f"cannot open SQLite store at {self.path}: {exc}") from exc
            self._local.conn = conn
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        """WAL and the schema. Switching a new file to WAL answers "database is locked" at once,
        without waiting, while another connection is opening it: retry that briefly."""
        for attempt in range(OPEN_RETRIES):
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == OPEN_RETRIES - 1:
                    raise
                OPEN_BACKOFF.pause(attempt)
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        for pragma in self.pragmas:
            conn.execute(pragma)
        with self._schema_lock:
            if not self._schema_ready:
                self.create(conn)
                self._schema_ready = True

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, committed when the block ends, rolled back if it raises."""
        conn = self.conn()
        with self._writer:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise self.error(f"the SQLite file {self.path} is busy: {exc}") from exc
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:  # SQLite rolls back by itself after some I/O errors
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError):  # locked, I/O error, disk full
                    raise self.error(f"the SQLite write failed: {exc}") from exc
                raise
        if self.after_write is not None:
            self.after_write()

    def read(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """All rows of one query."""
        try:
            return self.conn().execute(sql, args).fetchall()
        except sqlite3.OperationalError as exc:
            raise self.error(f"SQLite query failed: {exc}") from exc
