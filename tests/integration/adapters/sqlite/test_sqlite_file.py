"""The SQLite file itself: created on first use (not before), versioned, WAL, never misread."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from chalice.test import Client

from app import app
from chalicelib.adapters.sqlite.sqlite_schema import SCHEMA_VERSION
from chalicelib.adapters.sqlite.sqlite_store import SqliteStore
from chalicelib.bootstrap import bootstrap, open_store, set_runtime
from chalicelib.config import ConfigError, load_settings
from chalicelib.domain.rules import RuleConfig
from chalicelib.ports.store import StoreError, UnitOfWork
from chalicelib.usecases.ledger import ingest
from tests.conftest import NOW
from tests.support.factories import raw_tx
from tests.support.settings import dev_settings


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


class FailingMidWrite(SqliteStore):
    """A store whose SQLite aborts every statement once the write transaction has begun (a
    progress handler that interrupts, standing in for 'database is locked' or an I/O error)."""

    @contextmanager
    def unit_of_work(self, bank: str) -> Iterator[UnitOfWork]:
        with super().unit_of_work(bank) as uow:
            conn = self._conn()
            conn.set_progress_handler(lambda: 1, 1)
            try:
                yield uow
            finally:
                conn.set_progress_handler(None, 1)


def test_an_sqlite_error_after_begin_is_a_store_error_and_writes_nothing(tmp_path: Path) -> None:
    store = FailingMidWrite(str(tmp_path / "ledger.db"))
    with pytest.raises(StoreError) as raised:
        ingest(store, "acme", [raw_tx("a")], NOW, RuleConfig())
    assert isinstance(raised.value.__cause__, sqlite3.OperationalError)
    assert SqliteStore(store.path).get_transaction("acme", "a") is None
    assert store.banks() == []  # rolled back, and the connection is usable again


def test_an_sqlite_error_after_begin_answers_503_not_500(tmp_path: Path) -> None:
    store = FailingMidWrite(str(tmp_path / "ledger.db"))
    set_runtime(bootstrap(dev_settings(sqlite_path=store.path, demo_api_key="k"), store))
    try:
        with Client(app) as client:
            response = client.http.post("/transactions", body=json.dumps(raw_tx("a")),
                                        headers={"x-api-key": "k",
                                                 "content-type": "application/json"})
    finally:
        set_runtime(None)
    assert response.status_code == 503
    assert json.loads(response.body)["Code"] == "ServiceUnavailableError"


@pytest.mark.parametrize(("env", "mode", "pragma"), [
    ({}, "FULL", 2), ({"SQLITE_SYNCHRONOUS": "normal"}, "NORMAL", 1),
    ({"SQLITE_SYNCHRONOUS": "FULL"}, "FULL", 2)])
def test_commits_are_fsynced_by_default_and_the_setting_relaxes_it(
        tmp_path: Path, env: dict[str, str], mode: str, pragma: int) -> None:
    settings = load_settings({"SQLITE_PATH": str(tmp_path / "ledger.db"), **env})
    assert settings.sqlite_synchronous == mode
    store = open_store(settings)
    assert isinstance(store, SqliteStore)
    store.ping()
    assert store._conn().execute("PRAGMA synchronous").fetchone()[0] == pragma


@pytest.mark.parametrize("raw", ["OFF", "EXTRA", "full; DROP TABLE agg", "1"])
def test_an_unknown_synchronous_mode_is_refused_at_startup(raw: str) -> None:
    with pytest.raises(ConfigError, match="SQLITE_SYNCHRONOUS"):
        load_settings({"SQLITE_SYNCHRONOUS": raw})
