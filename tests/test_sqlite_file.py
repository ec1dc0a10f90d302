"""The SQLite file itself: created on first use (not before), versioned, WAL, never misread."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from chalicelib.storage.port import StoreError
from chalicelib.storage.sqlite.schema import SCHEMA_VERSION
from chalicelib.storage.sqlite.store import SqliteStore


def test_file_and_folders_appear_on_first_use_with_wal_and_the_schema_version(
        tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "ledger.db"
    store = SqliteStore(str(path))
    assert not path.parent.exists()  # constructing the store touches nothing
    store.ping()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_file_of_another_schema_version_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE buckets (bank TEXT, body TEXT)")  # an earlier layout
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="schema version 0, this code needs"):
        SqliteStore(str(path)).ping()


def test_an_unwritable_location_is_a_store_error_not_a_crash(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="cannot open SQLite store"):
        SqliteStore(str(blocker / "ledger.db")).ping()


def test_stores_opening_a_new_file_at_once_all_see_the_whole_schema(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.db")
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def open_it() -> None:
        barrier.wait()
        try:
            SqliteStore(path).ping()  # each its own store, as separate processes would be
        except BaseException as exc:  # collected, so the assertion shows what went wrong
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
