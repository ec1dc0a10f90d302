"""End to end, asynchronously: the local server on SQLite with its embedded queue and consumer
threads (or a bare `chalice local` with `scripts.worker` beside it), the simulator with --async
--verify (it polls every Location until done)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from scripts.demo import PROJECT_DIR, LocalServer, stop_process

pytestmark = [pytest.mark.e2e]


def simulate(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "simulator", "--url", url, "--no-progress",
                           "--verify", "--async", *args], cwd=PROJECT_DIR, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=180, check=False)


@contextmanager
def worker_beside(kind: str, sqlite_path: str) -> Iterator[None]:
    """A bare `chalice local` starts no consumer (a request never starts a thread): `make
    worker` consumes beside it, on the same files. `serve_local` starts its own."""
    if kind != "chalice":
        yield
        return
    worker = subprocess.Popen([sys.executable, "-m", "scripts.worker"], cwd=PROJECT_DIR,
                              env={**os.environ, "SQLITE_PATH": sqlite_path, "STAGE": "dev"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    try:
        yield
    finally:
        stop_process(worker)


@pytest.mark.parametrize("kind", ["serve_local", "chalice"])
def test_simulator_async_against_the_local_server_verifies_exactly(tmp_path: Path,
                                                                   kind: str) -> None:
    ledger = str(tmp_path / "ledger.db")
    with LocalServer(ledger, kind=kind) as server, worker_beside(kind, ledger):
        run = simulate(server.url, "--count", "600", "--batch-size", "50", "--concurrency", "4",
                       "--accounts", "6", "--scenario", "fraud", "--seed", "21",
                       "--output", str(tmp_path / "async.json"))
        assert run.returncode == 0, run.stdout + run.stderr + "".join(server.output)
        assert "verify: OK" in run.stdout
        # single transactions too: each its own request, its own receipt
        single = simulate(server.url, "--count", "40", "--seed", "22", "--concurrency", "4")
        assert single.returncode == 0, single.stdout + single.stderr
    report = json.loads((tmp_path / "async.json").read_text())
    assert report["errors"] == 0 and report["unexpected"] == 0
    assert report["created"] > 500 and report["rejected"] > 0
    assert report["fraud_patterns"]["flagged"] == report["fraud_patterns"]["sent"] > 0
    assert report["done_latency_ms"]["p50"] > 0
    assert (tmp_path / "ledger-queue.db").exists() and (tmp_path / "ledger-receipts.db").exists()
