"""Faults injected below boto3 (botocore's before-send hook answers instead of DynamoDB):
throttling is retried, spent retries answer 503 with Retry-After, and no aggregate is ever
applied without its transactions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError
from chalice.test import Client

from app import app
from chalicelib.adapters.dynamo.dynamo_store import DynamoStore
from chalicelib.adapters.sqlite.sqlite_store import SqliteStore
from chalicelib.bootstrap import bootstrap, set_runtime
from chalicelib.config import Settings
from chalicelib.domain.aggregates import ACCOUNT, BANK_KEY, AggKey, Bucket
from chalicelib.domain.rules import VELOCITY, RuleConfig
from chalicelib.ports.store import StoreError
from chalicelib.usecases.ledger import CREATED, DUPLICATE, ingest
from chalicelib.usecases.reconcile import find_drift
from tests.conftest import NOW
from tests.integration.adapters.dynamo.test_dynamo_store import BANK, batch
from tests.support.aws_calls import moto_dynamo_store, operations, record_aws_calls
from tests.support.dynamodb_local import dynamodb_local_store
from tests.support.factories import raw_tx

pytestmark = [pytest.mark.emulator]

FAST_RETRIES = Config(retries={"mode": "standard", "max_attempts": 1})  # one retry
HEADERS = {"x-api-key": "fault-key", "content-type": "application/json"}


def on_send(store: DynamoStore, handler: Any) -> None:
    """Run `handler` before each HTTP send. botocore calls every before-send handler and sends
    the first answer; moto answers there too, so a failed send is also pointed at a host moto
    does not serve, or moto would still apply the request."""
    def send(request: Any, **kwargs: Any) -> AWSResponse | None:
        answer: AWSResponse | None = handler(request=request, **kwargs)
        if answer is not None:
            request.url = "https://fault.invalid/"
        return answer

    store.client.meta.events.register_first("before-send", send)  # type: ignore[arg-type]


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


def error_response(code: str, status: int = 400) -> AWSResponse:
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}",
                       "message": "injected"}).encode()
    headers = HTTPHeaders()
    headers["x-amzn-ErrorType"] = code
    headers["content-type"] = "application/x-amz-json-1.0"
    return AWSResponse("https://dynamodb.invalid", status, headers, _Raw(body))


class Faults:
    """Fails chosen sends of one operation; counts every send (retries included)."""

    def __init__(self, store: DynamoStore, operation: str) -> None:
        self.sends = 0
        self.fail: set[int] = set()  # 1-based send numbers to fail
        self.fail_from: int | None = None  # ... or every send from this one on
        self.code = "ThrottlingException"
        self.target = f"DynamoDB_20120810.{operation}"
        on_send(store, self.send)

    def send(self, request: Any, **_: Any) -> AWSResponse | None:
        if request.headers.get("X-Amz-Target", b"").decode() != self.target:
            return None
        self.sends += 1
        if self.sends in self.fail or (self.fail_from and self.sends >= self.fail_from):
            status = 500 if self.code == "InternalServerError" else 400
            return error_response(self.code, status)
        return None


def fault_store(request: pytest.FixtureRequest, where: str) -> AbstractContextManager[DynamoStore]:
    """A store on moto, or on DynamoDB Local for tests that write hundreds of items (moto copies
    the table on each TransactWriteItems); the injected faults work the same on either."""
    if where == "moto":
        return moto_dynamo_store(config=FAST_RETRIES)
    request.getfixturevalue("dynamodb_local")
    return dynamodb_local_store(config=FAST_RETRIES)


@pytest.fixture(params=["moto"])
def api(request: pytest.FixtureRequest) -> Iterator[tuple[DynamoStore, Client]]:
    with fault_store(request, request.param) as store:
        set_runtime(bootstrap(Settings(store="dynamodb", table_name=store.table,
                                     demo_api_key=HEADERS["x-api-key"]), store))
        try:
            with Client(app) as client:
                yield store, client
        finally:
            set_runtime(None)


def post(client: Client, items: list[dict[str, Any]]) -> Any:
    return client.http.post("/transactions", headers=HEADERS,
                            body=json.dumps({"transactions": items}))


@pytest.mark.parametrize("code", ["ThrottlingException", "ProvisionedThroughputExceededException",
                                  "InternalServerError"])
def test_a_transient_error_is_retried_by_botocore_and_the_write_succeeds(
        api: tuple[DynamoStore, Client], code: str) -> None:
    store, client = api
    faults = Faults(store, "TransactWriteItems")
    faults.code, faults.fail = code, {1}
    response = post(client, batch("t", 3, 2))
    assert response.status_code == 200
    assert json.loads(response.body)["summary"]["created"] == 3
    assert faults.sends == 2  # the failed send and its retry
    assert store.get_buckets(BANK, [BANK_KEY])[BANK_KEY].count == 3


def test_spent_retries_answer_503_with_retry_after_never_500(
        api: tuple[DynamoStore, Client]) -> None:
    store, client = api
    faults = Faults(store, "BatchGetItem")
    faults.fail_from = 1
    calls = record_aws_calls(store.client)
    response = post(client, batch("t", 3, 2))
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert json.loads(response.body)["Code"] == "ServiceUnavailableError"
    reads = client.http.get("/analytics", headers=HEADERS)
    assert reads.status_code == 503
    assert faults.sends == 2 * operations(calls).count("BatchGetItem")  # each call tried twice


@pytest.mark.parametrize("api", ["dynamodb-local"], indirect=True)
def test_a_failure_between_chunks_leaves_only_whole_chunks_and_a_retry_completes(
        api: tuple[DynamoStore, Client]) -> None:
    store, client = api
    faults = Faults(store, "TransactWriteItems")
    faults.fail_from = 2  # the first chunk commits, every send of the second one is throttled
    items = batch("t", 150, 60, hours=3)
    response = post(client, items)
    assert response.status_code == 503 and response.headers["Retry-After"]
    stored = list(store.iter_transactions(BANK))
    assert 0 < len(stored) < 150  # one chunk landed ...
    assert find_drift(store, BANK) == []  # ... with exactly its own aggregates
    faults.fail_from = None
    retry = post(client, items)
    statuses = [r["status"] for r in json.loads(retry.body)["results"]]
    assert statuses.count(DUPLICATE) == len(stored)
    assert statuses.count(CREATED) == 150 - len(stored)
    assert store.get_buckets(BANK, [BANK_KEY])[BANK_KEY].count == 150
    assert find_drift(store, BANK) == []


def test_a_throttled_cancellation_is_a_store_error_not_a_conflict(
        api: tuple[DynamoStore, Client]) -> None:
    store, client = api

    def cancel(request: Any, **_: Any) -> AWSResponse | None:
        if not request.headers.get("X-Amz-Target", b"").endswith(b"TransactWriteItems"):
            return None
        body = json.dumps({
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "message": "Transaction cancelled", "CancellationReasons": [
                {"Code": "ThrottlingError", "Message": "Throughput exceeds the limit"},
                {"Code": "None"}]}).encode()
        headers = HTTPHeaders()
        headers["x-amzn-ErrorType"] = "TransactionCanceledException"
        return AWSResponse("https://dynamodb.invalid", 400, headers, _Raw(body))

    on_send(store, cancel)
    response = post(client, batch("t", 1, 1))
    assert response.status_code == 503
    assert list(store.iter_transactions(BANK)) == []


@pytest.mark.parametrize("kind", ["boto", "client"])
def test_a_failed_call_in_the_bucket_repair_is_a_store_error(kind: str) -> None:
    with moto_dynamo_store(config=FAST_RETRIES) as store:
        def fail(request: Any, **_: Any) -> AWSResponse | None:
            if not request.headers.get("X-Amz-Target", b"").endswith(b"UpdateItem"):
                return None
            if kind == "boto":  # endpoint unreachable: botocore raises, no answer at all
                raise EndpointConnectionError(endpoint_url="https://dynamodb.invalid")
            return error_response("ValidationException")
        on_send(store, fail)
        with pytest.raises(StoreError) as raised:
            store.replace_buckets(BANK, {AggKey(ACCOUNT, "AC0"): Bucket()}, [])
        assert isinstance(raised.value.__cause__, BotoCoreError | ClientError)


def test_a_retry_after_a_failure_between_chunks_flags_with_the_configured_rules(
        tmp_path: Path, request: pytest.FixtureRequest) -> None:
    rules = RuleConfig(velocity_count=60)  # not the default 10
    start = NOW - timedelta(minutes=50)
    items = [raw_tx(f"v{i}", account="V1", timestamp=(start + timedelta(seconds=20 * i))
                    .strftime("%Y-%m-%dT%H:%M:%SZ")) for i in range(120)]  # 3 chunks, one hour
    reference = SqliteStore(str(tmp_path / "reference.db"))
    expected = {r.id for r in ingest(reference, BANK, items, NOW, rules)
                if r.transaction and VELOCITY in r.transaction.flags}
    assert expected == {f"v{i}" for i in range(60, 120)}
    with fault_store(request, "dynamodb-local") as store:  # 120 items in 3 chunks
        faults = Faults(store, "TransactWriteItems")
        faults.fail_from = 2  # the first chunk commits, the second is refused until the retry
        set_runtime(bootstrap(Settings(store="dynamodb", table_name=store.table, rules=rules,
                                     demo_api_key=HEADERS["x-api-key"]), store))
        try:
            with Client(app) as client:
                assert post(client, items).status_code == 503
                written = len(list(store.iter_transactions(BANK)))
                assert 0 < written < 120
                faults.fail_from = None
                assert post(client, items).status_code == 200
        finally:
            set_runtime(None)
        flagged = {tx.id for tx in store.iter_transactions(BANK) if VELOCITY in tx.flags}
    assert flagged == expected
