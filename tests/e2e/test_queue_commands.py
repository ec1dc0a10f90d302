"""`make worker` and `make redrive` as an operator runs them: child processes on the files the
app would use, reading the same environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.adapters.sqlite import SqliteStore
from chalicelib.bootstrap import bootstrap
from chalicelib.config import QueueSettings, Settings
from chalicelib.usecases import ingest_async
from chalicelib.usecases.consumer import poll_once
from scripts.demo import PROJECT_DIR
from tests.conftest import NOW
from tests.support.asyncing import store_down_for
from tests.support.factories import raw_tx


def command(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STORE": "sqlite", "SQLITE_PATH": str(tmp_path / "ledger.db"),
           "QUEUE_MAX_RECEIVES": "1"}
    return subprocess.run([sys.executable, "-m", *args], cwd=PROJECT_DIR, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.e2e
def test_worker_once_drains_and_redrive_moves_dead_letters_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUEUE_MAX_RECEIVES", "1")
    store = SqliteStore(str(tmp_path / "ledger.db"))
    # the queue's and receipts' files beside the ledger, as the app finds them
    parts = bootstrap(Settings(sqlite_path=store.path, queue=QueueSettings(max_receives=1)),
                      store)
    body = json.dumps({"transactions": [raw_tx("q1", amount="3.00")]}).encode()
    ingest_async.submit(parts, "b1", body, NOW, "req1")
    # its one allowed delivery fails (max receives: 1): the consumer settles it failed and moves
    # it to the dead letters
    store_down_for(monkeypatch, "id", {"q1"})
    assert poll_once(parts) == 1
    assert parts.queue.receive(1, 0) == [] and parts.queue.depth() == (0, 1)
    receipt = parts.receipts.get("b1", "req1")
    assert receipt is not None and [i.status for i in receipt.items()] == ["failed"]
    listed = command(tmp_path, "scripts.redrive", "--list")
    assert listed.returncode == 0 and "1 dead letter" in listed.stdout, listed.stderr
    moved = command(tmp_path, "scripts.redrive")
    assert moved.returncode == 0 and "redrove 1 message" in moved.stdout, moved.stderr
    drained = command(tmp_path, "scripts.worker", "--once")
    assert drained.returncode == 0, drained.stderr
    assert "0 dead letter" in drained.stdout
    receipt = parts.receipts.get("b1", "req1")
    assert receipt is not None and [i.status for i in receipt.items()] == ["created"]
    assert store.get_transaction("b1", "q1") is not None
