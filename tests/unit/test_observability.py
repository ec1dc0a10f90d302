"""What the app prints: JSON log lines without secrets, and CloudWatch EMF metric records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chalice.local import LambdaContext
from chalice.test import Client

from app import app
from chalicelib.adapters.sqlite.sqlite_store import SqliteStore
from chalicelib.bootstrap import bootstrap, set_runtime
from chalicelib.config import Settings
from chalicelib.observability import mask_account, record_outcomes
from tests.support.factories import raw_tx
from tests.support.settings import dev_settings

DEMO_KEY = "demo-secret-key-123456"
IBAN = "GB33BUKB20201555555555"
UNITS = {"Count", "Milliseconds", "Seconds", "Bytes", "None"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    store = SqliteStore(str(tmp_path / "ledger.db"))
    set_runtime(bootstrap(Settings(sqlite_path=store.path, demo_api_key=DEMO_KEY, stage="dev"),
                        store))
    with Client(app) as test_client:
        yield test_client
    set_runtime(None)


def printed(capsys: pytest.CaptureFixture[str]) -> tuple[str, list[dict[str, Any]]]:
    """Everything printed so far, and each line parsed as JSON (every line must be JSON)."""
    text = capsys.readouterr().out
    return text, [json.loads(line) for line in text.splitlines() if line.strip()]


def post(client: Client, body: Any, key: str = DEMO_KEY) -> Any:
    return client.http.post("/transactions", body=json.dumps(body),
                            headers={"x-api-key": key, "content-type": "application/json"})


def requests_logged(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r.get("event") == "request"]


def emf_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if "_aws" in r]


def check_emf(record: dict[str, Any]) -> dict[str, float]:
    """Assert the EMF specification's structure; return the metric values by name."""
    meta = record["_aws"]
    assert isinstance(meta["Timestamp"], int) and meta["Timestamp"] > 1_600_000_000_000
    (directive,) = meta["CloudWatchMetrics"]
    assert directive["Namespace"] == "TxnStream"
    for dimension_set in directive["Dimensions"]:
        for name in dimension_set:
            assert isinstance(record[name], str)
            assert name not in ("bank", "account", "request_id")  # high cardinality
    values: dict[str, float] = {}
    for metric in directive["Metrics"]:
        assert metric["Unit"] in UNITS
        value = record[metric["Name"]]
        assert isinstance(value, (int, float)) and not isinstance(value, bool)
        values[metric["Name"]] = value
    return values


def test_a_request_logs_one_json_line_with_id_bank_route_outcomes_and_latency(
        client: Client, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    post(client, {"transactions": [raw_tx("t1", amount="20000.00"), raw_tx("t2"),
                                   raw_tx("t3", amount="-1")]})
    _, records = printed(capsys)
    (line,) = requests_logged(records)
    assert line["level"] == "INFO"
    assert line["bank"] == "demo" and line["route"] == "/transactions"
    assert line["method"] == "POST" and line["status"] == 200
    assert line["outcomes"] == {"created": 2, "duplicate": 0, "conflict": 0, "rejected": 1,
                                "flagged": 1}
    assert isinstance(line["latency_ms"], float) and line["latency_ms"] >= 0
    assert len(line["request_id"]) >= 16


def test_ingest_prints_emf_metrics_with_stage_as_the_only_dimension(
        client: Client, capsys: pytest.CaptureFixture[str]) -> None:
    post(client, raw_tx("t1"))
    capsys.readouterr()
    post(client, {"transactions": [raw_tx("t1"), raw_tx("t1", amount="2.00"),
                                   raw_tx("t9", amount="15000.00"), {"id": "x"}]})
    _, records = printed(capsys)
    (record,) = emf_records(records)
    assert record["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["stage"]]
    assert record["stage"] == "dev"
    values = check_emf(record)
    assert {k: v for k, v in values.items() if k != "IngestLatency"} == {
        "TransactionsCreated": 1, "Duplicates": 1, "Conflicts": 1, "Rejected": 1, "Flagged": 1}
    assert values["IngestLatency"] >= 0


def test_single_transaction_outcomes_are_counted(
        client: Client, capsys: pytest.CaptureFixture[str]) -> None:
    post(client, raw_tx("t1"))
    post(client, raw_tx("t1"))
    post(client, raw_tx("t1", amount="3.00"))
    post(client, raw_tx("t2", amount="abc"))
    client.http.post("/transactions", body="{not json", headers={"x-api-key": DEMO_KEY})
    _, records = printed(capsys)
    created = [check_emf(r)["TransactionsCreated"] for r in emf_records(records)]
    duplicates = [check_emf(r)["Duplicates"] for r in emf_records(records)]
    conflicts = [check_emf(r)["Conflicts"] for r in emf_records(records)]
    rejected = [check_emf(r)["Rejected"] for r in emf_records(records)]
    assert (created, duplicates) == ([1, 0, 0, 0, 0], [0, 1, 0, 0, 0])
    assert (conflicts, rejected) == ([0, 0, 1, 0, 0], [0, 0, 0, 1, 1])


def test_no_api_key_and_no_full_account_number_reaches_the_output(
        client: Client, capsys: pytest.CaptureFixture[str]) -> None:
    wrong_key = "tsk_wrong-key-that-must-not-be-logged"
    post(client, raw_tx("t1", account=IBAN, amount="25000.00"))
    post(client, raw_tx("t1", account=IBAN, amount="1.00"))          # conflict names the id
    post(client, {"transactions": [raw_tx("t2", account=IBAN, amount="0")]})
    post(client, raw_tx("t3", account=IBAN), key=wrong_key)
    for path in (f"/accounts/{IBAN}", f"/accounts/{IBAN}/transactions", "/analytics",
                 "/transactions/t1", f"/accounts/{IBAN}X/transactions"):
        client.http.get(path, headers={"x-api-key": DEMO_KEY})
    text, records = printed(capsys)
    assert len(requests_logged(records)) == 9
    assert DEMO_KEY not in text and wrong_key not in text
    assert IBAN not in text and IBAN[:-4] not in text
    assert f"****{IBAN[-4:]}" in text  # the account route is logged, masked


def test_request_id_comes_from_api_gateway_request_context(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = SqliteStore(str(tmp_path / "ledger.db"))
    set_runtime(bootstrap(dev_settings(sqlite_path=store.path, demo_api_key=DEMO_KEY), store))
    try:
        event = {"resource": "/analytics", "path": "/analytics", "httpMethod": "GET",
                 "headers": {"x-api-key": DEMO_KEY}, "multiValueQueryStringParameters": None,
                 "queryStringParameters": None, "pathParameters": None, "stageVariables": None,
                 "body": None, "isBase64Encoded": False,
                 "requestContext": {"resourcePath": "/analytics", "httpMethod": "GET",
                                    "requestId": "apigw-req-42", "path": "/api/analytics"}}
        capsys.readouterr()
        answer = app(event, LambdaContext("txn-stream", 128))
        assert answer["statusCode"] == 200
        _, records = printed(capsys)
        assert requests_logged(records)[0]["request_id"] == "apigw-req-42"
    finally:
        set_runtime(None)


def test_a_5xx_is_logged_at_error_level_and_counted(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    store = SqliteStore(str(blocker / "ledger.db"))  # cannot be opened: the store is down
    set_runtime(bootstrap(Settings(sqlite_path=store.path, stage="dev"), store))
    try:
        with Client(app) as test_client:
            capsys.readouterr()
            assert test_client.http.get("/health").status_code == 503
        _, records = printed(capsys)
        assert any(r.get("event") == "store_unavailable" and r["level"] == "ERROR"
                   for r in records)
        assert requests_logged(records)[0]["level"] == "ERROR"
        assert check_emf(emf_records(records)[0])["ServerErrors"] == 1
    finally:
        set_runtime(None)


def test_unauthenticated_posts_are_logged_but_not_counted_as_ingest(
        client: Client, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    post(client, raw_tx("t1"), key="")
    _, records = printed(capsys)
    assert requests_logged(records)[0]["status"] == 401
    # no ingest metric; only the refusal, counted by its reason
    # (tests/integration/usecases/test_caller_bearer.py)
    (record,) = emf_records(records)
    assert check_emf(record) == {"AuthRefused": 1}
    assert record["Reason"] == "missing_credentials"


def test_accounts_are_masked_to_their_last_four() -> None:
    assert mask_account(IBAN) == "*" * 18 + "5555"
    assert mask_account("A123") == "****"


def test_outcomes_counted_outside_a_request_are_a_record_of_their_own(
        capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    record_outcomes("dev", {"created": 3, "duplicate": 1}, 2, "ingest_queue")
    _, records = printed(capsys)
    (record,) = emf_records(records)
    assert record["source"] == "ingest_queue"
    assert check_emf(record) == {"TransactionsCreated": 3, "Duplicates": 1, "Conflicts": 0,
                                 "Rejected": 0, "Flagged": 2}
