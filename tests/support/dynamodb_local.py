"""DynamoDB Local for the tests: one emulator per test process (so one per xdist worker),
started on first use and stopped at the session's end, and a fresh table for each test."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config

from chalicelib.adapters.dynamo.dynamo_store import RETRY_CONFIG, DynamoStore
from scripts.dynamodb_local import CREDENTIALS, REGION, DynamoDBLocal, NoJava
from scripts.provision import create_table_request
from tests.support.aws_calls import fake_client, record_aws_calls

_lock = threading.Lock()
_running: DynamoDBLocal | None = None


def emulator() -> DynamoDBLocal:
    """This process's DynamoDB Local, started on first use; skips the test only without java
    (a missing jar is an error: `make install` puts it there)."""
    global _running
    with _lock:
        if _running is None:
            started = DynamoDBLocal()
            try:
                started.start()
            except NoJava as exc:
                pytest.skip(f"DynamoDB Local cannot run: {exc}")
            _running = started
        return _running


def stop() -> None:
    """Stop this process's emulator, if one was started."""
    global _running
    with _lock:
        if _running is not None:
            _running.stop()
            _running = None


def client(running: DynamoDBLocal, config: Config = RETRY_CONFIG) -> Any:
    """A boto3 DynamoDB client on the emulator, retries as in production unless told."""
    assert CREDENTIALS["AWS_ACCESS_KEY_ID"] == CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
    return fake_client("dynamodb", region=REGION, key=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                       endpoint_url=running.endpoint, config=config)


def table_name(prefix: str = "txn-test") -> str:
    """A name no other test in this emulator uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@contextmanager
def dynamodb_local_store(_: Path | None = None, shards: int = 2,
                         config: Config = RETRY_CONFIG) -> Iterator[DynamoStore]:
    """A DynamoStore on a fresh table (infra/resources.json's shape) in DynamoDB Local; the
    table is deleted afterwards. Calls are recorded like moto's (tests/support/aws_calls.py)."""
    made = client(emulator(), config)
    table = table_name()
    made.create_table(**create_table_request(table))
    try:
        record_aws_calls(made)
        yield DynamoStore(table, shards=shards, client=made)
    finally:
        made.delete_table(TableName=table)
