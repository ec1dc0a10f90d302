"""Every 5xx is answered in the one error shape, logged at ERROR and counted in ServerErrors,
whether a route or a middleware raised; Chalice's own 405 is in the shape too; a key created
right after a failed try works at once; the demo key works on the dev stage only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chalice.app import Request
from chalice.test import Client

import app as app_module
from app import app
from chalicelib.adapters.sqlite import SqliteStore
from chalicelib.bootstrap import bootstrap, set_runtime
from chalicelib.config import ConfigError, Settings, load_settings
from chalicelib.ports.store import ApiKeyRecord, StoreRefused
from chalicelib.usecases.api_keys import hash_key
from tests.support.edges import check_error_shape, refused
from tests.support.settings import dev_settings

KEY = "edge-demo-key"
PROJECT_DIR = Path(__file__).resolve().parents[3]


class MisconfiguredStore(SqliteStore):
    """A real store whose key lookup and reads fail with something that is not a StoreError,
    as a store pointed at the wrong place or of the wrong version would."""

    def find_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        raise TypeError("the store is misconfigured")

    def get_transaction(self, bank: str, tx_id: str) -> Any:
        raise KeyError("an unexpected row shape")


def records(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def server_errors(lines: list[dict[str, Any]]) -> int:
    return sum(int(r.get("ServerErrors", 0)) for r in lines if "_aws" in r)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    store = MisconfiguredStore(str(tmp_path / "ledger.db"))
    set_runtime(bootstrap(Settings(sqlite_path=store.path, demo_api_key=KEY, stage="dev"), store))
    with Client(app) as test_client:
        yield test_client
    set_runtime(None)


def test_exception_in_the_key_middleware_is_500_in_shape_logged_and_counted(
        client: Client, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    response = client.http.get("/analytics", headers={"x-api-key": "not-the-demo-key"})
    assert response.status_code == 500
    body = json.loads(response.body)
    check_error_shape(body)
    assert body["Code"] == "InternalServerError"
    lines = records(capsys)
    (error,) = [r for r in lines if r.get("event") == "unhandled_error"]
    assert error["level"] == "ERROR" and error["error_type"] == "TypeError"
    assert any("find_api_key" in frame for frame in error["where"])
    assert "misconfigured" not in json.dumps(error)  # type and frames, never the message
    assert server_errors(lines) == 1


def test_exception_in_a_route_is_500_in_shape_logged_and_counted(
        client: Client, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    response = client.http.get("/transactions/t1", headers={"x-api-key": KEY})
    assert response.status_code == 500
    check_error_shape(json.loads(response.body))
    lines = records(capsys)
    assert [r["error_type"] for r in lines if r.get("event") == "unhandled_error"] == ["KeyError"]
    assert server_errors(lines) == 1


def test_whatever_escapes_the_inner_chain_is_answered_logged_and_counted(
        capsys: pytest.CaptureFixture[str]) -> None:
    event = {"requestContext": {"resourcePath": "/analytics", "httpMethod": "GET",
                                "requestId": "r-1"},
             "headers": {}, "path": "/analytics", "httpMethod": "GET", "body": None,
             "isBase64Encoded": False, "queryStringParameters": None, "pathParameters": None,
             "stageVariables": None, "multiValueQueryStringParameters": None}
    request = Request(event)

    def broken(_: Request) -> Any:
        raise RuntimeError("boom")

    capsys.readouterr()
    response = app_module.observe_request(request, broken)
    assert response.status_code == 500
    check_error_shape(response.body)
    lines = records(capsys)
    assert [r["error_type"] for r in lines if r.get("event") == "unhandled_error"] == [
        "RuntimeError"]
    assert server_errors(lines) == 1
    (logged,) = [r for r in lines if r.get("event") == "request"]
    assert logged["status"] == 500 and logged["level"] == "ERROR"


def test_wrong_method_is_405_in_the_error_shape_with_allow(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "ledger.db"))
    set_runtime(bootstrap(dev_settings(demo_api_key=KEY), store))
    try:
        with Client(app) as client:
            for method, path in [("DELETE", "/transactions"), ("PUT", "/analytics"),
                                 ("POST", "/health"), ("PATCH", "/accounts/A1")]:
                response = client.http.request(method, path, headers={"x-api-key": KEY})
                assert response.status_code == 405, (method, path)
                body = json.loads(response.body)
                check_error_shape(body)
                assert body["Code"] == "MethodNotAllowedError"
                assert response.headers["Allow"]
    finally:
        set_runtime(None)


def test_a_key_created_right_after_a_failed_try_works_at_once(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "ledger.db"))
    set_runtime(bootstrap(Settings(key_cache_ttl_s=30), store))
    key = "tsk_created-after-a-failed-try"
    try:
        with Client(app) as client:
            refused(client.http.get("/analytics", headers={"x-api-key": key}), 403,
                    "ForbiddenError")
            store.put_api_key(ApiKeyRecord(hash_key(key), "acme", "k1", "2026-01-10T00:00:00Z"))
            answer = client.http.get("/analytics", headers={"x-api-key": key})
            assert answer.status_code == 200
            assert json.loads(answer.body)["count"] == 0  # acme's, which has stored nothing
    finally:
        set_runtime(None)


@pytest.mark.parametrize("stage", ["prod", "local", "staging", "Dev"])
def test_demo_key_on_any_stage_but_dev_is_a_config_error(stage: str) -> None:
    with pytest.raises(ConfigError, match="DEMO_API_KEY") as caught:
        load_settings({"STAGE": stage, "DEMO_API_KEY": "a-demo-key-value",
                       "CURSOR_SECRET": "s" * 40})
    assert "a-demo-key-value" not in str(caught.value)


def test_demo_key_on_the_dev_stage_is_honoured() -> None:
    assert load_settings({"STAGE": "dev", "DEMO_API_KEY": "k"}).demo_api_key == "k"


def test_demo_key_on_prod_answers_every_request_500_logged_and_counted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CURSOR_SECRET", "c" * 40)
    monkeypatch.setenv("DEMO_API_KEY", "the-demo-key")
    set_runtime(None)
    try:
        with Client(app, stage_name="prod") as client:  # the prod stage's variables
            capsys.readouterr()
            for path in ("/health", "/analytics"):
                response = client.http.get(path, headers={"x-api-key": "the-demo-key"})
                assert response.status_code == 500
                check_error_shape(json.loads(response.body))
            lines = records(capsys)
            errors = [r for r in lines if r.get("event") == "config_error"]
            assert len(errors) == 2 and all("DEMO_API_KEY" in r["error"] for r in errors)
            assert "the-demo-key" not in json.dumps(lines)
            assert server_errors(lines) == 2
    finally:
        set_runtime(None)


@pytest.mark.e2e
def test_serve_local_refuses_to_start_with_the_demo_key_on_another_stage() -> None:
    env = {**os.environ, "DEMO_API_KEY": "the-demo-key", "CURSOR_SECRET": "c" * 40}
    done = subprocess.run([sys.executable, "-m", "scripts.serve_local", "--port", "0",
                           "--stage", "prod"], cwd=PROJECT_DIR, env=env, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "DEMO_API_KEY" in done.stderr and "Serving on" not in done.stdout
    assert "the-demo-key" not in done.stderr + done.stdout


class RefusingStore(SqliteStore):
    """A store that refuses a read as invalid, as DynamoDB answers a ValidationException."""

    def get_buckets(self, bank: str, keys: list[Any]) -> Any:
        raise StoreRefused("DynamoDB refused the query as invalid: ValidationException")


def test_a_request_the_store_refuses_as_invalid_is_500_logged_as_a_bug_never_503(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = RefusingStore(str(tmp_path / "ledger.db"))
    set_runtime(bootstrap(Settings(sqlite_path=store.path, demo_api_key=KEY, stage="dev"), store))
    try:
        with Client(app) as test_client:
            capsys.readouterr()
            response = test_client.http.get("/analytics", headers={"x-api-key": KEY})
    finally:
        set_runtime(None)
    assert response.status_code == 500, response.body
    assert "Retry-After" not in response.headers
    body = json.loads(response.body)
    check_error_shape(body)
    assert body["Code"] == "InternalServerError"
    lines = records(capsys)
    (refused,) = [r for r in lines if r.get("event") == "store_refused"]
    assert refused["level"] == "ERROR" and any("get_buckets" in f for f in refused["where"])
    assert not [r for r in lines if r.get("event") == "store_unavailable"]
    assert server_errors(lines) == 1
