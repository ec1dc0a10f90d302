"""Recording what the code asks of AWS: a hook for any boto3 client, and a DynamoStore on moto.

`record_aws_calls(client)` counts API calls (the call budget tests) and turns each into the IAM
permissions it needs (the policy test). With `AWS_CALLS_LOG=<file>` in the environment every
recorded permission is also appended to that file as a JSON line, which is how the policy test
collects what a whole test run did. Any adapter's test can attach it to its own client (S3 too).
"""

from __future__ import annotations

import functools
import json
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from moto import mock_aws

from chalicelib.adapters.dynamo.dynamo_store import RETRY_CONFIG, DynamoStore
from scripts.provision import create_table_request

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's account id
TEST_TABLE = "txn-test"
LOG_ENV = "AWS_CALLS_LOG"
_TRANSACT_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                     "ConditionCheck": "ConditionCheckItem"}
_S3_ACTIONS = {"HeadObject": "GetObject", "ListObjectsV2": "ListBucket",
               "HeadBucket": "ListBucket"}
_SQS_ACTIONS = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
                "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"}


_STATEMENT = re.compile(r'^\s*(?P<verb>\w+)\s+(?:INTO\s+|FROM\s+)?"(?P<table>[^"]+)"', re.I)
_clients_lock = threading.Lock()


@functools.cache
def _session() -> boto3.session.Session:
    """One boto3 session for every test client: a new session parses botocore's endpoint and
    service models again (~0.1 s a store, most of a moto test's time). Credentials and region
    go to each client, so nothing is shared but the parsed models."""
    return boto3.session.Session()


def fake_client(service: str, region: str = REGION, key: str = "testing",
                endpoint_url: str | None = None, config: Config | None = None) -> Any:
    """A boto3 client on fake credentials (`key` as id and secret) from the one shared session
    (made after moto is imported, so moto's hook is in it; moto answers only in `mock_aws`)."""
    session: Any = _session()  # Any: the stubs type `client` per literal service name
    with _clients_lock:  # a session is not thread-safe; its clients are
        return session.client(service, region_name=region, aws_access_key_id=key,
                              aws_secret_access_key=key, endpoint_url=endpoint_url,
                              config=config)


@dataclass(frozen=True)
class AwsCall:
    """One API call a client made, and the IAM (action, resource ARN) pairs it needs."""

    service: str
    operation: str
    permissions: tuple[tuple[str, str], ...]


def _table_arn(region: str, table: str, index: str | None = None) -> str:
    arn = f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{table}"
    return f"{arn}/index/{index}" if index else arn


def permissions(service: str, operation: str, params: dict[str, Any],
                region: str) -> tuple[tuple[str, str], ...]:
    """The IAM permissions an API call needs (DynamoDB and S3; others by their plain name)."""
    if service == "dynamodb":
        if operation in ("TransactWriteItems", "TransactGetItems"):
            pairs = set()
            for action in params.get("TransactItems", []):
                ((kind, body),) = action.items()
                name = "GetItem" if kind == "Get" else _TRANSACT_ACTIONS[kind]
                pairs.add((f"dynamodb:{name}", _table_arn(region, body["TableName"])))
            return tuple(sorted(pairs))
        if operation == "BatchExecuteStatement":  # IAM checks each statement's PartiQL action
            return tuple(sorted({(f"dynamodb:PartiQL{m['verb'].capitalize()}",
                                  _table_arn(region, m["table"]))
                                 for r in params.get("Statements", [])
                                 if (m := _STATEMENT.match(str(r["Statement"])))}))
        if "RequestItems" in params:
            return tuple(sorted((f"dynamodb:{operation}", _table_arn(region, t))
                                for t in params["RequestItems"]))
        return ((f"dynamodb:{operation}",
                 _table_arn(region, params["TableName"], params.get("IndexName"))),)
    if service == "s3":
        bucket = params.get("Bucket", "*")
        resource = (f"arn:aws:s3:::{bucket}/{params['Key']}" if "Key" in params
                    else f"arn:aws:s3:::{bucket}")
        return ((f"s3:{_S3_ACTIONS.get(operation, operation)}", resource),)
    if service == "events" and operation == "PutEvents":
        buses = {str(e.get("EventBusName") or "default") for e in params.get("Entries", [])}
        return tuple(sorted(("events:PutEvents", f"arn:aws:events:{region}:{ACCOUNT}:event-bus/{b}")
                            for b in buses))
    if service == "sqs" and "QueueUrl" in params:
        name = str(params["QueueUrl"]).rstrip("/").rsplit("/", 1)[-1]
        return ((f"sqs:{_SQS_ACTIONS.get(operation, operation)}",
                 f"arn:aws:sqs:{region}:{ACCOUNT}:{name}"),)
    return ((f"{service}:{operation}", "*"),)


def record_aws_calls(client: Any, sink: list[AwsCall] | None = None) -> list[AwsCall]:
    """Attach a recorder to a boto3 client; every API call (not each retry) lands in the list
    returned, and in $AWS_CALLS_LOG when that is set."""
    calls: list[AwsCall] = [] if sink is None else sink
    service = client.meta.service_model.endpoint_prefix
    region = client.meta.region_name or REGION

    def on_call(model: Any, params: dict[str, Any], **_: Any) -> None:
        call = AwsCall(service, model.name, permissions(service, model.name, params, region))
        calls.append(call)
        log = os.environ.get(LOG_ENV)
        if log:
            with open(log, "a", encoding="utf-8") as out:
                for action, resource in call.permissions:
                    out.write(json.dumps({"action": action, "resource": resource}) + "\n")

    # before-parameter-build fires once per API call with the caller's parameters
    client.meta.events.register(f"before-parameter-build.{service}", on_call)
    return calls


def operations(calls: list[AwsCall]) -> list[str]:
    return [c.operation for c in calls]


@contextmanager
def moto_dynamo_store(_: Path | None = None, shards: int = 2,
                      config: Config = RETRY_CONFIG) -> Iterator[DynamoStore]:
    """A DynamoStore on a fresh, small moto table made from infra/resources.json, its client
    configured as in production (retries) unless `config` says otherwise."""
    with mock_aws():
        client = fake_client("dynamodb", config=config)
        client.create_table(**create_table_request(TEST_TABLE))
        record_aws_calls(client)
        yield DynamoStore(TEST_TABLE, shards=shards, client=client)
