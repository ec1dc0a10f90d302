"""X-Ray: with TRACING=on each AWS call of a request is a subsegment of the invocation's trace,
sent to the X-Ray daemon's UDP address as on Lambda; with tracing off the SDK is never loaded."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chalicelib.config import ConfigError, load_settings

pytestmark = [pytest.mark.e2e, pytest.mark.emulator]

ROOT = Path(__file__).resolve().parents[3]
TRACE_ROOT = "1-5759e988-bd862e3fe1be46a994272793"
PARENT = "53995c3f42cd8ad8"

# One POST /transactions and one GET /analytics through the Lambda entry point, on moto, in a
# child process: patching botocore is process-wide and must not leak into other tests.
CHILD = """
import json, sys
import boto3
from moto import mock_aws
with mock_aws():
    from scripts.provision import create_table_request
    boto3.client("dynamodb").create_table(**create_table_request("txn-trace"))
    from app import app
    from chalicelib.usecases.api_keys import create_key
    from chalicelib.bootstrap import get_runtime
    from tests.support.factories import SEED_SAMPLE
    from tests.integration.api.test_lambda_event import LambdaContext, rest_event
    key, _ = create_key(get_runtime().store, "acme")
    post = app(rest_event("POST", "/transactions", "/transactions", key, SEED_SAMPLE.encode()),
               LambdaContext())
    read = app(rest_event("GET", "/analytics", "/analytics", key), LambdaContext())
    print(json.dumps({"post": post["statusCode"], "read": read["statusCode"],
                      "sdk": "aws_xray_sdk" in sys.modules}))
"""


def run_child(tracing: str, daemon: socket.socket, lambda_env: bool = True) -> dict[str, Any]:
    port = daemon.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "_X_AMZN"))}
    env.update({"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing", "STORE": "dynamodb",
                "TABLE_NAME": "txn-trace", "STAGE": "prod", "TRACING": tracing,
                "CURSOR_SECRET": "tracing-test-cursor-secret-of-32-chars-or-more",
                # what the Lambda runtime sets for an invocation with active tracing
                "LAMBDA_TASK_ROOT": str(ROOT), "AWS_LAMBDA_FUNCTION_NAME": "txn-stream-prod",
                "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{port}",
                "_X_AMZN_TRACE_ID": f"Root={TRACE_ROOT};Parent={PARENT};Sampled=1"})
    env.pop("DEMO_API_KEY", None)
    if not lambda_env:
        env.pop("LAMBDA_TASK_ROOT")
    done = subprocess.run([sys.executable, "-c", CHILD], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def received(daemon: socket.socket) -> list[dict[str, Any]]:
    """Every segment document the 'daemon' got: a JSON header line, then the document."""
    documents: list[dict[str, Any]] = []
    daemon.settimeout(0.5)
    while True:
        try:
            packet = daemon.recv(65536)
        except TimeoutError:
            return documents
        header, _, body = packet.decode().partition("\n")
        assert json.loads(header) == {"format": "json", "version": 1}
        documents.append(json.loads(body))


def subsegments(document: dict[str, Any]) -> list[dict[str, Any]]:
    found = [document]
    for child in document.get("subsegments", []):
        found += subsegments(child)
    return found


@pytest.fixture
def daemon() -> Any:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


def test_tracing_on_sends_a_dynamodb_subsegment_per_call_in_the_invocations_trace(
        daemon: socket.socket) -> None:
    result = run_child("on", daemon)
    assert result == {"post": 201, "read": 200, "sdk": True}
    parts = [s for d in received(daemon) for s in subsegments(d)]
    dynamodb = [s for s in parts if s.get("name") == "dynamodb"]
    operations = {s["aws"]["operation"] for s in dynamodb}
    # the ingest's reads and its atomic write, and the analytics read
    assert {"BatchGetItem", "TransactWriteItems"} <= operations, operations
    # in the invocation's trace, under the segment Lambda made for it
    assert all(s["trace_id"] == TRACE_ROOT and s["parent_id"] == PARENT for s in dynamodb)
    assert all(s["aws"]["table_name"] == "txn-trace" for s in dynamodb
               if s["aws"]["operation"] in ("GetItem", "Query"))


def test_tracing_off_never_loads_the_sdk_nor_sends_anything(daemon: socket.socket) -> None:
    result = run_child("off", daemon)
    assert result == {"post": 201, "read": 200, "sdk": False}
    assert received(daemon) == []


def test_tracing_on_outside_lambda_loads_nothing_there_is_no_daemon_to_send_to(
        daemon: socket.socket) -> None:
    # chalice local --stage prod: the stage says TRACING=on, but no trace and no daemon exist
    result = run_child("on", daemon, lambda_env=False)
    assert result == {"post": 201, "read": 200, "sdk": False}
    assert received(daemon) == []


def test_tracing_is_on_or_off_and_anything_else_is_a_config_error() -> None:
    assert load_settings({"TRACING": "on"}).tracing is True
    assert load_settings({"TRACING": "OFF"}).tracing is False
    assert load_settings({}).tracing is False
    with pytest.raises(ConfigError, match="TRACING"):
        load_settings({"TRACING": "yes"})
