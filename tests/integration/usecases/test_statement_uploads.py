"""Large statement files through S3 (moto): a presigned PUT, then the creation event queues the
import and its receipt answers at GET /ingest/{request_id}."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, unquote, urlparse

import boto3
import jsonschema_rs
import pytest
import requests
from chalice.test import Client
from moto import mock_aws

from app import app
from chalicelib.adapters.s3_uploads import S3Uploads
from chalicelib.adapters.sqlite.sqlite_store import SqliteStore
from chalicelib.bootstrap import Runtime, bootstrap, set_runtime
from chalicelib.config import Settings
from chalicelib.usecases.consumer import drain
from tests.integration.api.test_openapi import response_schema
from tests.support.asyncing import install
from tests.support.aws_calls import record_aws_calls
from tests.support.edges import refused

pytestmark = [pytest.mark.emulator]

SAMPLES = Path(__file__).resolve().parents[2] / "unit" / "domain" / "statements_samples"
KEY = "uploads-test-key"
BUCKET = "txn-uploads-test"


class Env:
    """The API on SQLite with an upload bucket on moto's S3, and the embedded queue."""

    def __init__(self, client: Client, rt: Runtime, parts: Runtime, s3: Any) -> None:
        self.client, self.rt, self.parts, self.s3 = client, rt, parts, s3

    def ask(self, query: str = "", key: str = KEY) -> tuple[int, Any]:
        answer = self.client.http.post(f"/statements/uploads{query}", body=b"",
                                       headers={"x-api-key": key})
        return answer.status_code, json.loads(answer.body)

    def notify(self, key: str, size: int, bucket: str = BUCKET) -> Any:
        event = {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                              "s3": {"bucket": {"name": bucket},
                                     "object": {"key": quote_plus(key), "size": size}}}]}
        return self.client.lambda_.invoke("import_statement_upload", event).payload

    def receipt(self, request_id: str) -> Any:
        drain(self.parts)
        return json.loads(self.client.http.get(f"/ingest/{request_id}",
                                               headers={"x-api-key": KEY}).body)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        store = SqliteStore(str(tmp_path / "ledger.db"))
        rt = bootstrap(Settings(sqlite_path=store.path, demo_api_key=KEY, upload_bucket=BUCKET,
                                max_upload_bytes=4096, upload_expiry_s=300), store)
        parts = install(rt, tmp_path)  # the runtime installed, with its queue beside the ledger
        assert isinstance(parts.uploads, S3Uploads)
        record_aws_calls(parts.uploads.client)  # the policy test collects these
        try:
            with Client(app) as client:
                yield Env(client, parts, parts, s3)
        finally:
            set_runtime(None)


def put(answer: dict[str, Any], raw: bytes) -> int:
    return requests.put(answer["url"], data=raw, headers=answer["headers"],
                        timeout=10).status_code


def test_presigned_put_then_event_imports_the_file_and_the_receipt_answers(env: Env) -> None:
    raw = (SAMPLES / "camt053_v08.xml").read_bytes()
    status, answer = env.ask(f"?size={len(raw)}")
    assert status == 201 and answer["method"] == "PUT"
    schema = response_schema("/statements/uploads", "POST", 201)
    assert jsonschema_rs.validator_for(schema).is_valid(answer)  # as openapi.yaml documents
    key = unquote(urlparse(answer["url"]).path).removeprefix(f"/{BUCKET}").lstrip("/")
    assert key == f"uploads/bank=demo/{answer['request_id']}.stmt"  # the caller's bank only
    assert answer["headers"]["content-length"] == str(len(raw))
    assert "X-Amz-Expires=300" in answer["url"]
    assert put(answer, raw) == 200
    stored = env.s3.head_object(Bucket=BUCKET, Key=key)
    assert stored["ServerSideEncryption"] == "AES256"
    assert env.notify(key, len(raw)) == {"queued": 1, "refused": 0, "skipped": 0}
    receipt = env.receipt(answer["request_id"])
    assert receipt["status"] == "done" and receipt["summary"] == {"created": 2}
    assert env.notify(key, len(raw)) == {"queued": 0, "refused": 0, "skipped": 1}  # again


def test_a_refused_upload_has_a_receipt_saying_why_and_stores_nothing(env: Env) -> None:
    raw = (SAMPLES / "mt940_bare.sta").read_bytes().replace(b"C300,", b"C301,")
    _, answer = env.ask(f"?size={len(raw)}")
    key = f"uploads/bank=demo/{answer['request_id']}.stmt"
    assert put(answer, raw) == 200
    assert env.notify(key, len(raw))["refused"] == 1
    receipt = env.receipt(answer["request_id"])
    assert receipt["status"] == "done" and receipt["summary"] == {"rejected": 1}
    assert receipt["results"][0]["errors"][0]["message"].startswith("StatementBalanceError")
    refused(env.client.http.get("/accounts/JP12345678", headers={"x-api-key": KEY}), 404,
            "NotFoundError")


def test_an_object_over_the_cap_is_refused_without_reading_it(env: Env) -> None:
    key = "uploads/bank=demo/" + "a" * 32 + ".stmt"
    assert env.notify(key, 5000)["refused"] == 1
    receipt = env.receipt("a" * 32)
    assert "over 4096" in receipt["results"][0]["errors"][0]["message"]


def test_foreign_keys_and_buckets_are_ignored(env: Env) -> None:
    assert env.notify("raw/bank=demo/x.json", 10)["skipped"] == 1
    assert env.notify("uploads/bank=demo/" + "b" * 32 + ".stmt", 10,
                      bucket="other")["skipped"] == 1


def test_size_is_required_and_capped(env: Env) -> None:
    assert env.ask()[0] == 400
    assert env.ask("?size=abc")[0] == 400
    assert env.ask("?size=0")[0] == 400
    status, body = env.ask("?size=4097")
    assert status == 413 and "at most 4096 bytes" in body["Message"]
    assert env.ask("?size=10&x=1")[0] == 400
    assert env.ask("?size=10", key="nobody")[0] == 403


def test_without_an_upload_bucket_the_route_says_where_to_send_the_file(
        tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "ledger.db"))
    set_runtime(bootstrap(Settings(sqlite_path=store.path, demo_api_key=KEY), store))
    try:
        with Client(app) as client:
            answer = client.http.post("/statements/uploads?size=10", body=b"",
                                      headers={"x-api-key": KEY})
        assert answer.status_code == 404
        assert "POST /statements" in json.loads(answer.body)["Message"]
    finally:
        set_runtime(None)
