"""WAL checkpoints on a thread of their own, off the request path."""

from __future__ import annotations

import sqlite3
import threading
import time


class Checkpointer:
    """Copies the WAL back into the database on a thread of its own, so that no request waits
    for a checkpoint's writes and fsync (SQLite would otherwise run one inside some COMMIT).
    The thread starts with the first write and ends after a few idle seconds."""

    IDLE_S = 5.0

    def __init__(self, path: str) -> None:
        self.path = path
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def nudge(self) -> None:
        self._wake.set()
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        try:
            while self._wake.wait(self.IDLE_S):
                self._wake.clear()
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                time.sleep(1.0)  # one checkpoint (one fsync) a second at most
        except sqlite3.Error:
            pass  # the next write starts a new thread; SQLite recovers the WAL on open
        finally:
            conn.close()
