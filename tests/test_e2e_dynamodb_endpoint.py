"""End to end on the prod stage's configuration against a DynamoDB-compatible endpoint:
moto's server on 127.0.0.1, reached only through boto3's AWS_ENDPOINT_URL_DYNAMODB (nothing in
the code names an endpoint). Provision the table, create a bank's key, serve the prod stage
with real `chalice local`, send the simulator's traffic with --verify."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.dynamodb.responses import DynamoHandler
from moto.server import ThreadedMotoServer

from scripts.demo import PROJECT_DIR, LocalServer, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.emulator, pytest.mark.slow]

PROD_TABLE = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())[
    "stages"]["prod"]["environment_variables"]["TABLE_NAME"]


@pytest.fixture
def isolated_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the in-process moto server answer one DynamoDB call at a time. DynamoDB isolates a
    transaction from every other call; moto does not (see below), so without this a concurrent
    run measures moto's lost updates instead of our conditions and retries."""
    lock = threading.Lock()
    original = DynamoHandler.call_action

    def serialised(self: DynamoHandler) -> Any:
        with lock:
            return original(self)

    monkeypatch.setattr(DynamoHandler, "call_action", serialised)


@pytest.fixture
def endpoint_env() -> Iterator[dict[str, str]]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    # moto keeps its state per process, not per server: start from empty tables, or this
    # test's transactions deep-copy what an earlier test in the same worker left behind
    urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/moto-api/reset",
                                                  method="POST"), timeout=60).close()
    try:
        yield {"AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{port}",
               "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}
    finally:
        server.stop()


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=PROJECT_DIR, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=600, check=False,
                          env={**os.environ, **env})


def serve_prod_and_send(endpoint_env: dict[str, str], tmp_path: Path, *simulator: str
                        ) -> subprocess.CompletedProcess[str]:
    """Provision, create a key, serve the prod stage, run the simulator with --verify."""
    provisioned = run(endpoint_env, "-m", "scripts.provision", "--table", PROD_TABLE)
    assert provisioned.returncode == 0, provisioned.stderr
    store_env = {**endpoint_env, "STORE": "dynamodb", "TABLE_NAME": PROD_TABLE}
    created = run(store_env, "-m", "scripts.keys", "create", "--bank", "e2e-bank")
    assert created.returncode == 0, created.stderr
    key = next(line.split()[-1] for line in created.stdout.splitlines()
               if line.startswith("key:"))
    with LocalServer(str(tmp_path / "unused.db"), kind="chalice", env=endpoint_env,
                     stage="prod") as server:
        health = run({}, "-c", "import sys, urllib.request; print(urllib.request.urlopen("
                     f"'{server.url}/health').read().decode())")
        assert json.loads(health.stdout) == {"status": "ok", "store": "dynamodb"}
        return run({}, "-m", "simulator", "--url", server.url, "--api-key", key, "--verify",
                   "--no-progress", *simulator)


def test_prod_stage_serves_and_verifies_through_the_endpoint_variable(
        endpoint_env: dict[str, str], tmp_path: Path) -> None:
    # One request in flight: moto's TransactWriteItems is not isolated. A cancelled one
    # restores the whole table as it was when it began, wiping what concurrent calls wrote
    # meanwhile (moto/dynamodb/models transact_write_items); DynamoDB has no such effect.
    sent = serve_prod_and_send(endpoint_env, tmp_path, "--count", "300", "--batch-size", "50",
                               "--concurrency", "1", "--seed", "5")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "verify: OK" in sent.stdout


def test_concurrent_writers_on_dynamodb_keep_every_aggregate_exact(
        isolated_moto: None, endpoint_env: dict[str, str], tmp_path: Path) -> None:
    # Four requests in flight over few accounts: account versions, bank shards and maxima
    # collide, so conditions fail and the service re-reads and retries; the totals must still
    # move by exactly what was accepted. Many retries: on a busy machine "too many concurrent
    # writers" (503) may come often; what is checked is the totals, not the speed.
    sent = serve_prod_and_send(endpoint_env, tmp_path, "--count", "400", "--batch-size", "20",
                               "--concurrency", "4", "--accounts", "12", "--seed", "9",
                               "--scenario", "fraud", "--retries", "30")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "verify: OK" in sent.stdout
