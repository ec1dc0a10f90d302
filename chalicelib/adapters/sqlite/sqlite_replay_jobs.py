"""Replay jobs' records in the receipts' SQLite file (a table of their own, one row a job)."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.adapters.sqlite.sqlite_file import SqliteFile, create_tables
from chalicelib.ports.store import ReplayJobStore, StoreError

SCHEMA = """
CREATE TABLE IF NOT EXISTS replay_jobs (
    bank TEXT NOT NULL, job_id TEXT NOT NULL, record TEXT NOT NULL,
    PRIMARY KEY (bank, job_id)) WITHOUT ROWID;
"""


class SqliteReplayJobs(ReplayJobStore):
    """One row per job, beside the receipts (written by the request path and the consumer)."""

    def __init__(self, path: str, synchronous: str = "FULL") -> None:
        self.file = SqliteFile(path, lambda conn: create_tables(conn, SCHEMA), StoreError,
                               synchronous)
        self.path = path

    def put_job(self, bank: str, job_id: str, record: dict[str, Any]) -> None:
        with self.file.write() as conn:
            conn.execute("INSERT OR REPLACE INTO replay_jobs (bank, job_id, record)"
                         " VALUES (?, ?, ?)",
                         (bank, job_id, json.dumps(record, separators=(",", ":"))))

    def get_job(self, bank: str, job_id: str) -> dict[str, Any] | None:
        rows = self.file.read("SELECT record FROM replay_jobs WHERE bank=? AND job_id=?",
                              (bank, job_id))
        return dict(json.loads(str(rows[0][0]))) if rows else None
