"""The Lambda entry point, called as Lambda calls it: app(event, context) with API Gateway REST
proxy events (payload v1, the body base64-encoded), STORE=dynamodb on moto, settings from the
environment as the deployed stage sets them."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from app import app
from chalicelib.adapters.dynamo.dynamo_store import DynamoStore
from chalicelib.bootstrap import get_runtime, set_runtime
from chalicelib.usecases.api_keys import create_key
from scripts.provision import create_table_request
from tests.support.aws_calls import record_aws_calls
from tests.support.factories import SEED_SAMPLE

pytestmark = [pytest.mark.emulator]

TABLE = "txn-lambda"


class LambdaContext:
    """What the Lambda runtime passes as `context` (the parts a handler may read)."""

    function_name = "txn-stream-prod"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:txn-stream-prod"
    memory_limit_in_mb = 512
    aws_request_id = "3f1e2d4c-0000-4000-8000-000000000001"
    log_group_name = "/aws/lambda/txn-stream-prod"
    log_stream_name = "2026/01/10/[$LATEST]abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def rest_event(method: str, path: str, resource: str, key: str | None, body: bytes | None = None,
               path_parameters: dict[str, str] | None = None,
               query: dict[str, str] | None = None) -> dict[str, Any]:
    """An API Gateway REST API proxy integration event (payload format 1.0)."""
    headers = {"Host": "abc123.execute-api.us-east-1.amazonaws.com",
               "User-Agent": "bank-client/1.0", "X-Forwarded-For": "203.0.113.9",
               "X-Forwarded-Proto": "https", "X-Forwarded-Port": "443"}
    if key:
        headers["x-api-key"] = key
    if body is not None:
        headers["Content-Type"] = "application/json"
    return {
        "resource": resource, "path": path, "httpMethod": method,
        "headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": path_parameters, "stageVariables": None,
        "requestContext": {
            "resourceId": "r3s0ur", "resourcePath": resource, "httpMethod": method,
            "extendedRequestId": "Xyz=", "requestTime": "10/Jan/2026:14:00:00 +0000",
            "path": f"/api{path}", "accountId": "123456789012", "protocol": "HTTP/1.1",
            "stage": "api", "domainPrefix": "abc123", "requestTimeEpoch": 1768053600000,
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "identity": {"sourceIp": "203.0.113.9", "userAgent": "bank-client/1.0",
                         "apiKey": None, "user": None, "accountId": None, "caller": None},
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com", "apiId": "abc123"},
        "body": base64.b64encode(body).decode() if body is not None else None,
        "isBase64Encoded": body is not None,
    }


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The prod stage's environment on moto; yields a bank's API key."""
    with mock_aws():
        for name, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                            "AWS_SECRET_ACCESS_KEY": "testing", "STORE": "dynamodb",
                            "TABLE_NAME": TABLE, "AGGREGATE_SHARDS": "4",
                            "STAGE": "prod",
                            # CloudFormation resolves it from Secrets Manager on AWS
                            "CURSOR_SECRET": "lambda-cursor-secret-" + "x" * 32}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("DEMO_API_KEY", raising=False)
        boto3.client("dynamodb").create_table(**create_table_request(TABLE))
        set_runtime(None)  # built from the environment on the first event, as on Lambda
        try:
            store = get_runtime().store
            assert isinstance(store, DynamoStore)
            record_aws_calls(store.client)  # for the policy test's collection
            key, _ = create_key(store, "acme-bank")
            yield key
        finally:
            set_runtime(None)


def test_base64_proxy_event_creates_the_transaction_in_dynamodb(deployed: str) -> None:
    event = rest_event("POST", "/transactions", "/transactions", deployed,
                       SEED_SAMPLE.encode())
    response = app(event, LambdaContext())
    assert response["statusCode"] == 201, response
    body = json.loads(response["body"])
    assert body["status"] == "created"
    assert body["transaction"]["amount"] == "250.50"
    store = get_runtime().store
    assert isinstance(store, DynamoStore) and store.table == TABLE
    stored = store.get_transaction("acme-bank", "1")
    assert stored is not None and str(stored.amount) == "250.50"


def test_replayed_event_is_a_duplicate_and_analytics_count_it_once(deployed: str) -> None:
    event = rest_event("POST", "/transactions", "/transactions", deployed,
                       SEED_SAMPLE.encode())
    app(event, LambdaContext())
    assert app(event, LambdaContext())["statusCode"] == 200
    analytics = app(rest_event("GET", "/analytics", "/analytics", deployed), LambdaContext())
    assert analytics["statusCode"] == 200
    body = json.loads(analytics["body"])
    assert body["count"] == 1
    assert body["totals"]["USD"]["credits"]["total"] == "250.50"
    path = rest_event("GET", "/transactions/1", "/transactions/{tx_id}", deployed,
                      path_parameters={"tx_id": "1"})
    assert json.loads(app(path, LambdaContext())["body"])["id"] == "1"


def test_unknown_key_is_403_and_health_names_dynamodb(deployed: str) -> None:
    denied = app(rest_event("GET", "/analytics", "/analytics", "wrong"), LambdaContext())
    assert denied["statusCode"] == 403
    health = app(rest_event("GET", "/health", "/health", None), LambdaContext())
    assert json.loads(health["body"]) == {"status": "ok", "store": "dynamodb"}


def test_two_keys_in_one_request_are_400_whichever_api_gateway_keeps(deployed: str) -> None:
    """API Gateway keeps the last of a repeated header in `headers`, all in multiValueHeaders:
    two keys for two banks must not act for either, whichever comes last."""
    event = rest_event("GET", "/analytics", "/analytics", deployed)
    event["multiValueHeaders"]["x-api-key"] = ["tsk_other-bank-key", deployed]
    answer = app(event, LambdaContext())
    assert answer["statusCode"] == 400
    body = json.loads(answer["body"])
    assert body["Code"] == "BadRequestError" and "more than once" in body["Message"]
    bearer = rest_event("GET", "/analytics", "/analytics", None)
    bearer["multiValueHeaders"]["Authorization"] = ["Bearer a.b.c", "Bearer d.e.f"]
    bearer["headers"]["Authorization"] = "Bearer d.e.f"
    assert app(bearer, LambdaContext())["statusCode"] == 400
