"""The embedded queue: SQS FIFO's semantics in a SQLite file (durable across restarts).

One table holds the queue and its dead letters (`dead` = 1). A group is blocked while any of
its messages is in flight; a group's messages are delivered in send order. The consumer moves a
message to the dead letters itself (`dead_letter`); one received `backstop_receives` times goes
there on its next receive, as SQS's redrive policy moves it (a backstop: BACKSTOP_RECEIVES, as
the template's ingest queue, unless told).
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Callable

from chalicelib.adapters.sqlite.sqlite_file import SqliteFile, create_tables
from chalicelib.ports.queue import (
    BACKSTOP_RECEIVES,
    DEDUP_WINDOW_S,
    OutgoingMessage,
    Queue,
    QueueError,
    ReceivedMessage,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, dead INTEGER NOT NULL DEFAULT 0,
    grp TEXT NOT NULL, body TEXT NOT NULL, receives INTEGER NOT NULL DEFAULT 0,
    visible_at REAL NOT NULL, handle TEXT);
CREATE INDEX IF NOT EXISTS messages_in_order ON messages (dead, seq);
CREATE INDEX IF NOT EXISTS messages_in_flight ON messages (dead, grp, visible_at)
    WHERE handle IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_handle ON messages (handle);
CREATE TABLE IF NOT EXISTS dedup (id TEXT PRIMARY KEY, expires REAL NOT NULL);
"""
POLL_S = 0.2  # how often a waiting receive looks again (a send in this process wakes it at once)
DLQ_VISIBILITY_S = 60  # dead letters taken by `dead_letters` are hidden this long
SCAN_SLACK = 20  # extra rows read per receive, for those that move to the dead letters


class SqliteQueue(Queue):
    """A FIFO queue in its own SQLite file; `clock` is injectable so tests need not sleep."""

    name = "sqlite"

    def __init__(self, path: str, max_receives: int = 5,
                 clock: Callable[[], float] = time.time, synchronous: str = "FULL",
                 backstop_receives: int = BACKSTOP_RECEIVES) -> None:
        # FULL by default: a message acknowledged with a 202 survives a power loss
        self.file = SqliteFile(path, lambda conn: create_tables(conn, SCHEMA), QueueError,
                               synchronous)
        self.path = path
        self.max_receives = max_receives
        self.backstop_receives = backstop_receives
        self.clock = clock
        self._sent = threading.Condition()  # wakes this process's waiting receivers

    def send(self, messages: list[OutgoingMessage]) -> None:
        try:
            self._send(messages)
        except QueueError as exc:  # one transaction: nothing of it was queued
            raise QueueError(str(exc), list(messages)) from exc
        with self._sent:
            self._sent.notify_all()

    def _send(self, messages: list[OutgoingMessage]) -> None:
        now = self.clock()
        with self.file.write() as conn:
            conn.execute("DELETE FROM dedup WHERE expires < ?", (now,))
            for m in messages:
                try:
                    conn.execute("INSERT INTO dedup (id, expires) VALUES (?, ?)",
                                 (m.dedup_id, now + DEDUP_WINDOW_S))
                except sqlite3.IntegrityError:
                    continue  # sent within the window: dropped, as SQS FIFO does
                conn.execute("INSERT INTO messages (grp, body, visible_at) VALUES (?, ?, ?)",
                             (m.group, m.body, now))

    def receive(self, max_messages: int, visibility_timeout_s: int,
                wait_s: float = 0) -> list[ReceivedMessage]:
        deadline = time.monotonic() + wait_s
        while True:
            got = self._receive_now(max_messages, visibility_timeout_s)
            left = deadline - time.monotonic()
            if got or left <= 0:
                return got
            with self._sent:
                self._sent.wait(min(POLL_S, left))

    def _receive_now(self, max_messages: int, visibility_timeout_s: int) -> list[ReceivedMessage]:
        now = self.clock()
        got: list[ReceivedMessage] = []
        with self.file.write() as conn:
            # the oldest messages of groups with nothing in flight, in send order; a group's
            # several messages may come in one receive (in order), as SQS FIFO does
            rows = conn.execute(
                "SELECT seq, grp, body, receives FROM messages WHERE dead=0 AND grp NOT IN"
                " (SELECT grp FROM messages WHERE dead=0 AND handle IS NOT NULL AND visible_at > ?)"
                " ORDER BY seq LIMIT ?", (now, max_messages + SCAN_SLACK)).fetchall()
            for seq, group, body, receives in rows:
                if len(got) >= max_messages:
                    break
                if receives >= self.backstop_receives:
                    conn.execute("UPDATE messages SET dead=1, handle=NULL, visible_at=?"
                                 " WHERE seq=?", (now, seq))
                    continue
                handle = uuid.uuid4().hex
                conn.execute("UPDATE messages SET receives=receives+1, visible_at=?, handle=?"
                             " WHERE seq=?", (now + visibility_timeout_s, handle, seq))
                got.append(ReceivedMessage(str(seq), group, body, receives + 1, handle, str(seq)))
        return got

    def delete(self, handle: str) -> None:
        self.delete_many([handle])

    def delete_many(self, handles: list[str]) -> None:
        with self.file.write() as conn:
            conn.executemany("DELETE FROM messages WHERE handle=?", [(h,) for h in handles])

    def change_visibility(self, handle: str, timeout_s: int) -> None:
        with self.file.write() as conn:
            conn.execute("UPDATE messages SET visible_at=? WHERE handle=?",
                         (self.clock() + timeout_s, handle))
        with self._sent:
            self._sent.notify_all()

    def dead_letter(self, message: ReceivedMessage) -> None:
        with self.file.write() as conn:
            moved = conn.execute("UPDATE messages SET dead=1, handle=NULL, visible_at=?"
                                 " WHERE handle=? AND dead=0",
                                 (self.clock(), message.handle)).rowcount
        if not moved:  # deleted, or delivered again since: SQS's stale receipt handle
            raise QueueError(f"message {message.message_id} is not in flight with this handle")
        with self._sent:
            self._sent.notify_all()  # its group may go on

    def dead_letters(self, max_messages: int) -> list[ReceivedMessage]:
        now = self.clock()
        got: list[ReceivedMessage] = []
        with self.file.write() as conn:
            rows = conn.execute("SELECT seq, grp, body, receives FROM messages WHERE dead=1"
                                " AND visible_at <= ? ORDER BY seq LIMIT ?",
                                (now, max_messages)).fetchall()
            for seq, group, body, receives in rows:
                handle = uuid.uuid4().hex
                conn.execute("UPDATE messages SET handle=?, visible_at=? WHERE seq=?",
                             (handle, now + DLQ_VISIBILITY_S, seq))
                got.append(ReceivedMessage(str(seq), group, body, receives, handle, str(seq)))
        return got

    def redrive(self, messages: list[ReceivedMessage]) -> int:
        moved = 0
        with self.file.write() as conn:
            for m in messages:
                # a new row at the end of the queue, as SQS's redrive sends the message anew
                gone = conn.execute("DELETE FROM messages WHERE handle=? AND dead=1",
                                    (m.handle,)).rowcount
                if gone:
                    conn.execute("INSERT INTO messages (grp, body, visible_at) VALUES (?, ?, ?)",
                                 (m.group, m.body, self.clock()))
                    moved += 1
        with self._sent:
            self._sent.notify_all()
        return moved

    def depth(self) -> tuple[int, int]:
        rows = dict(self.file.read("SELECT dead, count(*) FROM messages GROUP BY dead"))
        return int(rows.get(0, 0)), int(rows.get(1, 0))
