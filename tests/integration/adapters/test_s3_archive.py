"""The raw archive on S3 (moto): accepted bodies land as received, encrypted; S3 failing
never fails a request whose transactions are committed."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from chalice.test import Client
from moto import mock_aws

from app import app
from chalicelib.adapters.s3_archive import S3Archive, object_key
from chalicelib.adapters.sqlite.sqlite_store import SqliteStore
from chalicelib.bootstrap import bootstrap, get_runtime, set_runtime
from chalicelib.config import Settings
from tests.support.aws_calls import record_aws_calls
from tests.support.factories import raw_tx

pytestmark = [pytest.mark.emulator]

KEY = "archive-test-key"
HEADERS = {"x-api-key": KEY, "content-type": "application/json"}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto's S3 with fake credentials; yields a client to look at what was written."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield boto3.client("s3", region_name="us-east-1")


def make_client(tmp_path: Path, bucket: str | None) -> Client:
    store = SqliteStore(str(tmp_path / "ledger.db"))
    set_runtime(bootstrap(Settings(sqlite_path=store.path, demo_api_key=KEY, stage="dev",
                                 archive_bucket=bucket), store))
    return Client(app)


@pytest.fixture
def bucket(aws: Any) -> str:
    name = f"raw-{uuid.uuid4().hex[:12]}"
    aws.create_bucket(Bucket=name)
    return name


def the_archive() -> S3Archive:
    """The runtime's archive (one client per warm process, built by the composition root)."""
    archive = get_runtime().archive
    assert isinstance(archive, S3Archive)
    return archive


def objects(aws: Any, bucket: str) -> list[str]:
    return [o["Key"] for o in aws.list_objects_v2(Bucket=bucket).get("Contents", [])]


def printed(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def request_ids(records: list[dict[str, Any]]) -> list[str]:
    return [r["request_id"] for r in records if r.get("event") == "request"]


def archive_failures(records: list[dict[str, Any]]) -> list[int]:
    return [r["ArchiveFailures"] for r in records if "ArchiveFailures" in r]


def test_each_accepted_body_is_one_encrypted_object_as_received(
        tmp_path: Path, aws: Any, bucket: str, capsys: pytest.CaptureFixture[str]) -> None:
    single = b'{ "id":"t1","account":"A123","amount":250.50,  "type":"credit",' \
             b'"timestamp":"2026-01-10T14:00:00Z"}'
    batch = json.dumps({"transactions": [raw_tx("t2"), raw_tx("t3", amount="x")]}).encode()
    made = make_client(tmp_path, bucket)
    calls = record_aws_calls(the_archive().client)  # for the call budget and the policy
    capsys.readouterr()
    with made as client:
        assert client.http.post("/transactions", body=single, headers=HEADERS).status_code == 201
        assert client.http.post("/transactions", body=batch, headers=HEADERS).status_code == 200
        assert client.http.post("/transactions", body=single, headers=HEADERS).status_code == 200
    set_runtime(None)
    records = printed(capsys)
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    keys = [f"raw/bank=demo/date={today}/{rid}.json" for rid in request_ids(records)]
    assert sorted(objects(aws, bucket)) == sorted(keys)
    for key, sent in zip(keys, (single, batch, single), strict=True):
        stored = aws.get_object(Bucket=bucket, Key=key)
        assert stored["Body"].read() == sent
        assert stored["ServerSideEncryption"] == "AES256"
    assert archive_failures(records) == [0, 0, 0]
    assert [c.permissions for c in calls] == [
        (("s3:PutObject", f"arn:aws:s3:::{bucket}/{key}"),) for key in keys]  # one call each


def test_refused_requests_and_reads_are_not_archived(
        tmp_path: Path, aws: Any, bucket: str) -> None:
    made = make_client(tmp_path, bucket)
    calls = record_aws_calls(the_archive().client)
    with made as client:
        client.http.post("/transactions", body=json.dumps(raw_tx(amount="0")), headers=HEADERS)
        client.http.post("/transactions", body="{bad", headers=HEADERS)
        client.http.post("/transactions", body=json.dumps(raw_tx()),
                         headers={"content-type": "application/json"})  # no key: 401
        client.http.get("/analytics", headers=HEADERS)
    set_runtime(None)
    assert objects(aws, bucket) == [] and calls == []


def test_an_accepted_statement_file_is_archived_under_its_own_prefix(
        tmp_path: Path, aws: Any, bucket: str) -> None:
    raw = (Path(__file__).resolve().parents[2] / "unit" / "domain" / "statements_samples"
           / "camt054_v02.xml").read_bytes()
    headers = {"x-api-key": KEY, "content-type": "application/xml"}
    with make_client(tmp_path, bucket) as client:
        assert client.http.post("/statements", body=raw, headers=headers).status_code == 200
        refused = raw.replace(b"75.25", b"75.255")
        assert client.http.post("/statements", body=refused, headers=headers).status_code == 400
    set_runtime(None)
    (key,) = objects(aws, bucket)
    assert key.startswith("statements/bank=demo/date=") and key.endswith(".stmt")
    stored = aws.get_object(Bucket=bucket, Key=key)
    assert stored["Body"].read() == raw and stored["ServerSideEncryption"] == "AES256"


def test_without_a_bucket_nothing_is_written(tmp_path: Path, aws: Any, bucket: str) -> None:
    with make_client(tmp_path, None) as client:
        response = client.http.post("/transactions", body=json.dumps(raw_tx()), headers=HEADERS)
        assert response.status_code == 201
    set_runtime(None)
    assert objects(aws, bucket) == []


def test_missing_bucket_still_commits_logs_an_error_and_counts_a_failure(
        tmp_path: Path, aws: Any, capsys: pytest.CaptureFixture[str]) -> None:
    missing = f"missing-{uuid.uuid4().hex[:12]}"
    with make_client(tmp_path, missing) as client:
        capsys.readouterr()
        response = client.http.post("/transactions", body=json.dumps(raw_tx("t1")),
                                    headers=HEADERS)
        assert response.status_code == 201
        assert client.http.get("/transactions/t1", headers=HEADERS).status_code == 200
    set_runtime(None)
    records = printed(capsys)
    (error,) = [r for r in records if r.get("event") == "archive_failed"]
    assert error["level"] == "ERROR" and "NoSuchBucket" in error["error"]
    assert error["request_id"] == request_ids(records)[0]
    assert archive_failures(records) == [1]


def test_s3_unreachable_does_not_fail_the_request(
        tmp_path: Path, aws: Any, bucket: str, capsys: pytest.CaptureFixture[str]) -> None:
    def unreachable(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="https://s3.amazonaws.com")

    made = make_client(tmp_path, bucket)
    the_archive().client.meta.events.register("before-call.s3.PutObject", unreachable)
    with made as client:
        capsys.readouterr()
        batch = {"transactions": [raw_tx("t1"), raw_tx("t2")]}
        response = client.http.post("/transactions", body=json.dumps(batch), headers=HEADERS)
        assert response.status_code == 200
        assert json.loads(response.body)["summary"]["created"] == 2
        count = json.loads(client.http.get("/analytics", headers=HEADERS).body)["count"]
    set_runtime(None)
    assert count == 2
    assert archive_failures(printed(capsys)) == [1]
    assert objects(aws, bucket) == []


def test_client_is_created_once_and_reused(aws: Any, bucket: str) -> None:
    archive = S3Archive(bucket)
    assert archive._client is None  # nothing at construction: no cold-start cost
    now = datetime.now(UTC)
    archive.put("demo", "r1", b"{}", now)
    first = archive._client
    archive.put("demo", "r2", b"{}", now)
    assert archive._client is first
    assert len(objects(aws, bucket)) == 2


def test_endpoint_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    assert S3Archive("b").client.meta.endpoint_url == "http://127.0.0.1:9"


def test_key_is_partitioned_by_bank_and_utc_day() -> None:
    late = datetime(2026, 11, 25, 23, 30, tzinfo=timezone(timedelta(hours=-2)))
    assert object_key("demo", "abc-123", late) == "raw/bank=demo/date=2026-11-26/abc-123.json"
    assert object_key("demo", "../x y", late).endswith("/.._x_y.json")
