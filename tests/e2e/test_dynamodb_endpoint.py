"""End to end on the prod stage's configuration against a DynamoDB-compatible endpoint, reached
only through boto3's AWS_ENDPOINT_URL_DYNAMODB (nothing in the code names an endpoint): provision
the table, create a bank's key, serve the prod stage, send the simulator's traffic with --verify.
Both run on Amazon's DynamoDB Local, which isolates transactions and is fast enough that no
botocore timeout fires. (On moto's server, under load, botocore's read timeout retried a
TransactWriteItems that had committed; moto ignores ClientRequestToken, so the retry was
cancelled and this request's own transactions came back as `duplicate`: a verify DRIFT that
DynamoDB, which honours the token, cannot produce.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.demo import PROJECT_DIR, LocalServer
from scripts.dynamodb_local import DynamoDBLocal
from tests.support import dynamodb_local as ddb_local

pytestmark = [pytest.mark.e2e, pytest.mark.emulator, pytest.mark.slow]

PROD_TABLE = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())[
    "stages"]["prod"]["environment_variables"]["TABLE_NAME"]
TIMEOUT_S = 300  # generous: a busy 2-core machine, and the simulator retries 503s with backoff


@pytest.fixture
def emulator_env(dynamodb_local: DynamoDBLocal) -> Iterator[dict[str, str]]:
    """DynamoDB Local's endpoint; the prod table is dropped afterwards (the emulator is shared
    by this process's tests)."""
    yield {**dynamodb_local.env, "CURSOR_SECRET": "e2e-cursor-secret-" + "x" * 32}
    client = ddb_local.client(dynamodb_local)
    if PROD_TABLE in client.list_tables()["TableNames"]:
        client.delete_table(TableName=PROD_TABLE)


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=PROJECT_DIR, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=TIMEOUT_S, check=False,
                          env={**os.environ, **env})


def serve_prod_and_send(endpoint_env: dict[str, str], tmp_path: Path, kind: str,
                        *simulator: str) -> subprocess.CompletedProcess[str]:
    """Provision, create a key, serve the prod stage, run the simulator with --verify."""
    provisioned = run(endpoint_env, "-m", "scripts.provision", "--table", PROD_TABLE)
    assert provisioned.returncode == 0, provisioned.stderr
    store_env = {**endpoint_env, "STORE": "dynamodb", "TABLE_NAME": PROD_TABLE}
    created = run(store_env, "-m", "scripts.keys", "create", "--bank", "e2e-bank")
    assert created.returncode == 0, created.stderr
    key = next(line.split()[-1] for line in created.stdout.splitlines()
               if line.startswith("key:"))
    with LocalServer(str(tmp_path / "unused.db"), kind=kind, env=endpoint_env,
                     stage="prod") as server:
        health = run({}, "-c", "import sys, urllib.request; print(urllib.request.urlopen("
                     f"'{server.url}/health').read().decode())")
        assert json.loads(health.stdout) == {"status": "ok", "store": "dynamodb"}
        return run({}, "-m", "simulator", "--url", server.url, "--api-key", key, "--verify",
                   "--no-progress", *simulator)


@pytest.mark.e2e
@pytest.mark.emulator
def test_prod_stage_serves_and_verifies_through_the_endpoint_variable(
        emulator_env: dict[str, str], tmp_path: Path) -> None:
    # Real `chalice local --stage prod`, one request in flight.
    sent = serve_prod_and_send(emulator_env, tmp_path, "chalice", "--count", "300",
                               "--batch-size", "50", "--concurrency", "1", "--seed", "5")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "verify: OK" in sent.stdout


@pytest.mark.e2e
@pytest.mark.emulator
def test_concurrent_writers_on_dynamodb_local_keep_every_aggregate_exact(
        emulator_env: dict[str, str], tmp_path: Path) -> None:
    # Six requests in flight over six accounts: account versions, bank shards and maxima
    # collide, so conditions fail and the service re-reads and retries. Some requests may
    # still be answered 503 "too many concurrent writers" (what the asynchronous path fixes);
    # the simulator retries them. The totals must move by exactly what was accepted.
    report = tmp_path / "report.json"
    sent = serve_prod_and_send(emulator_env, tmp_path, "serve_local", "--count", "400",
                               "--batch-size", "20", "--concurrency", "6", "--accounts", "6",
                               "--seed", "9", "--scenario", "fraud", "--output", str(report))
    assert "verify: OK" in sent.stdout, sent.stdout + sent.stderr
    figures: dict[str, Any] = json.loads(report.read_text())
    assert figures["verify"]["ok"] and figures["verify"]["drift"] == []
    assert figures["created"] > 300 and figures["conflicts"] == 0
    # the only thing allowed to go wrong is a request refused 503 on every retry
    for sample in figures["unexpected_samples"]:
        assert "not delivered: POST /transactions: HTTP 503" in sample, sample
    assert sent.returncode == (1 if figures["unexpected"] else 0), sent.stdout + sent.stderr


@pytest.mark.e2e
@pytest.mark.emulator
def test_async_concurrent_senders_on_dynamodb_local_no_client_error_and_exact(
        emulator_env: dict[str, str], tmp_path: Path) -> None:
    # The same kind of load through the queue: nothing undelivered, nothing unexpected, each
    # account applied by one consumer at a time, receipts in the table, totals exact
    # (bench/contention.py counts the server's answers: no 503 there).
    report = tmp_path / "report.json"
    sent = serve_prod_and_send(emulator_env, tmp_path, "serve_local", "--async", "--count",
                               "600", "--batch-size", "50", "--concurrency", "8", "--accounts",
                               "6", "--seed", "19", "--scenario", "fraud", "--output",
                               str(report))
    assert sent.returncode == 0, sent.stdout + sent.stderr
    figures: dict[str, Any] = json.loads(report.read_text())
    assert figures["verify"]["ok"] and figures["verify"]["drift"] == []
    assert figures["errors"] == 0 and figures["unexpected"] == 0
    assert figures["created"] > 500 and figures["conflicts"] == 0
    assert figures["fraud_patterns"]["flagged"] == figures["fraud_patterns"]["sent"] > 0
    assert (tmp_path / "unused-queue.db").exists()  # the embedded queue, beside the server
