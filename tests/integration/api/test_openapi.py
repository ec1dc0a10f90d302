"""openapi.yaml against the app: the same routes, and real answers validate for each status."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml
from chalice.test import Client

from app import PUBLIC_PATHS, app
from chalicelib.adapters.sqlite.sqlite_store import SqliteStore
from chalicelib.bootstrap import bootstrap, set_runtime
from chalicelib.domain.money import MAX_AMOUNT
from tests.support.factories import SEED_SAMPLE, raw_tx
from tests.support.settings import dev_settings

DOC_PATH = Path(__file__).resolve().parents[3] / "openapi.yaml"
KEY = "openapi-test-key"
METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


@cache
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(DOC_PATH.read_text())
    return loaded


def response_schema(path: str, method: str, status: int) -> dict[str, Any]:
    """The documented JSON schema of an answer, with `$ref`s resolvable; fails if undocumented."""
    doc = document()
    responses = doc["paths"][path][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {path} answers {status}, undocumented"
    answer = responses[str(status)]
    if "$ref" in answer:
        answer = doc["components"]["responses"][answer["$ref"].rsplit("/", 1)[-1]]
    schema = answer["content"]["application/json"]["schema"]
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            **schema, "components": doc["components"]}


class Recorder:
    """The test client; every answer is checked against the document as it comes back."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.seen: set[tuple[str, str, int]] = set()

    def call(self, method: str, route: str, path: str, body: str | None = None,
             key: str | None = KEY, **headers: str) -> Any:
        if key is not None:
            headers["x-api-key"] = key
        headers.setdefault("content-type", "application/json")
        response = self.client.http.request(method, path, body=(body or "").encode(),
                                            headers=headers)
        payload = json.loads(response.body)
        validator = jsonschema_rs.validator_for(response_schema(route, method,
                                                                response.status_code))
        errors = [str(e) for e in validator.iter_errors(payload)]
        assert not errors, (method, path, response.status_code, payload, errors)
        self.seen.add((method, route, response.status_code))
        return payload


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Recorder]:
    store = SqliteStore(str(tmp_path / "ledger.db"))
    set_runtime(bootstrap(dev_settings(sqlite_path=store.path, demo_api_key=KEY, max_batch=3,
                                     max_body_bytes=2048), store))
    with Client(app) as client:
        yield Recorder(client)
    set_runtime(None)


def test_every_app_route_is_documented_and_every_documented_route_exists() -> None:
    in_app = {(path, method.lower()) for path, methods in app.routes.items()
              for method in methods if method != "OPTIONS"}
    in_doc = {(path, method) for path, item in document()["paths"].items()
              for method in item if method in METHODS}
    assert in_app == in_doc


def test_every_route_but_health_and_the_dashboard_requires_a_key_or_a_token() -> None:
    from chalicelib.usecases.caller import required_scope

    doc = document()
    schemes = doc["components"]["securitySchemes"]
    assert {k: v for k, v in schemes["apiKey"].items() if k != "description"} == {
        "type": "apiKey", "in": "header", "name": "x-api-key"}
    # OpenID Connect (Cognito is the provider): scopes per operation, and tools such as
    # schemathesis do not invent tokens for it (with http bearer they sent key and token: 400)
    assert schemes["bearer"]["type"] == "openIdConnect"
    assert schemes["bearer"]["openIdConnectUrl"].endswith("/.well-known/openid-configuration")
    assert PUBLIC_PATHS == {"/health", "/", "/dashboard", "/dashboard/static/{name}"}
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            effective = operation.get("security", doc["security"])
            expected: list[Any] = [] if path in PUBLIC_PATHS else [
                {"apiKey": []}, {"bearer": [required_scope(method, path)]}]
            assert effective == expected, (method, path)
            if path not in PUBLIC_PATHS:
                assert {"400", "401", "403", "503"} <= set(operation["responses"]), (method,
                                                                                      path)


def test_ingest_answers_match_the_document(api: Recorder) -> None:
    post = "/transactions"
    assert api.call("POST", post, post, SEED_SAMPLE)["status"] == "created"
    assert api.call("POST", post, post, SEED_SAMPLE)["status"] == "duplicate"
    api.call("POST", post, post, json.dumps(raw_tx("1", amount="9.99")))            # 409
    api.call("POST", post, post, json.dumps(raw_tx("2", amount="15000.00", description="x")))
    batch = {"transactions": [raw_tx("3"), raw_tx("1", amount="1.00"), {"id": 5}]}
    assert api.call("POST", post, post, json.dumps(batch))["summary"]["rejected"] == 1
    api.call("POST", post, post, json.dumps(raw_tx("4", amount="-1")))              # 400
    api.call("POST", post, post, "[1, 2")                                            # 400
    api.call("POST", post, post, json.dumps({"transactions": [raw_tx()] * 4}))       # 413
    api.call("POST", post, post, SEED_SAMPLE, **{"content-type": "text/plain"})      # 415
    api.call("POST", post, post, SEED_SAMPLE, key=None)                              # 401
    api.call("POST", post, post, SEED_SAMPLE, key="tsk_nobody")                      # 403
    statuses = {s for m, r, s in api.seen if r == post}
    assert statuses == {200, 201, 400, 401, 403, 409, 413, 415}


def test_async_answers_match_the_document(api: Recorder) -> None:
    from chalicelib.bootstrap import get_runtime
    from chalicelib.usecases.consumer import drain

    post, receipt = "/transactions", "/ingest/{request_id}"
    prefer = {"prefer": "respond-async"}
    batch = {"transactions": [raw_tx("q1", amount="12345.67"), {"id": 5}, raw_tx("q2")]}
    queued = api.call("POST", post, post, json.dumps(batch), **prefer)
    single = api.call("POST", post, post, json.dumps(raw_tx("q3")), **prefer)
    api.call("POST", post, post, json.dumps(raw_tx("q4", amount="-1")), **prefer)  # 400
    pending = api.call("GET", receipt, f"/ingest/{queued['request_id']}")
    drain(get_runtime())  # no consumer threads here: this test consumes
    done = api.call("GET", receipt, f"/ingest/{queued['request_id']}")
    api.call("GET", receipt, f"/ingest/{single['request_id']}")
    api.call("GET", receipt, "/ingest/nobody")                                   # 404
    api.call("GET", receipt, "/ingest/nobody", key=None)                         # 401
    api.call("GET", receipt, "/ingest/nobody", key="tsk_nobody")                 # 403
    assert pending["status"] == "pending" and done["status"] == "done"
    assert done["summary"] == {"created": 2, "rejected": 1}
    assert {(r, s) for _, r, s in api.seen} >= {(post, 202), (post, 400), (receipt, 200),
                                                 (receipt, 404), (receipt, 401), (receipt, 403)}


def test_read_answers_match_the_document(api: Recorder) -> None:
    api.call("POST", "/transactions", "/transactions", json.dumps({"transactions": [
        raw_tx("a", amount="20000.00"), raw_tx("b", currency="EUR"), raw_tx("c", kind="x")]}))
    api.call("GET", "/analytics", "/analytics")
    api.call("GET", "/analytics", "/analytics?since=2026-01-10T13:30:00Z&until=2026-01-11T00:00Z")
    api.call("GET", "/analytics", "/analytics?since=yesterday")
    early = api.call("GET", "/analytics", "/analytics?since=0845-07-20T03:51:08%2B10:28")
    assert early["window"]["since"] == "0845-07-19T17:00:00Z"  # a 4-digit year, always
    api.call("GET", "/analytics", "/analytics", key=None)
    tx = "/transactions/{tx_id}"
    api.call("GET", tx, "/transactions/a")
    api.call("GET", tx, "/transactions/zzz")
    api.call("GET", tx, "/transactions/a", key="wrong")
    account = "/accounts/{account}"
    api.call("GET", account, "/accounts/A123")
    api.call("GET", account, "/accounts/NOPE")
    history = "/accounts/{account}/transactions"
    page = api.call("GET", history, "/accounts/A123/transactions?limit=1")
    api.call("GET", history, f"/accounts/A123/transactions?limit=1&cursor={page['next_cursor']}")
    api.call("GET", history, "/accounts/A123/transactions?limit=0")
    api.call("GET", history, "/accounts/A123/transactions?cursor=bogus")
    api.call("GET", "/health", "/health", key=None)
    series = "/analytics/series"
    window = "since=2026-01-10T13:30:00Z&until=2026-01-10T16:00:00Z"
    hours = api.call("GET", series, f"{series}?{window}")
    assert [h["count"] for h in hours["hours"]] == [0, 2, 0]  # 13:00, 14:00, 15:00
    assert hours["hours"][1]["currencies"]["EUR"]["credits"] == {"count": 1, "total": "10.00"}
    api.call("GET", series, series)
    api.call("GET", series, f"{series}?since=2026-01-01T00:00:00Z&until=2026-03-01T00:00:00Z")
    api.call("GET", series, f"{series}?until=soon")
    api.call("GET", series, series, key=None)
    api.call("GET", series, series, key="wrong")
    assert {(r, s) for _, r, s in api.seen} >= {
        (series, 200), (series, 400), (series, 401), (series, 403),
        ("/analytics", 200), ("/analytics", 400), ("/analytics", 401), (tx, 200), (tx, 404),
        (tx, 403), (account, 200), (account, 404), (history, 200), (history, 400),
        ("/health", 200)}


def test_rules_answers_match_the_document(api: Recorder) -> None:
    rules, replay = "/rules", "/rules/replay"
    api.call("POST", "/transactions", "/transactions", json.dumps(raw_tx("n", amount="20.00",
                                                                        channel="wire")))
    api.call("GET", rules, rules)
    night = {"name": "night_wire", "when": 'channel == "wire" and amount > 10.00'}
    assert api.call("PUT", rules, rules, json.dumps({"rules": [night]}))["version"] == 1
    api.call("PUT", rules, rules, json.dumps({"rules": [{"name": "x", "when": "amont > 1"}]}))
    api.call("PUT", rules, rules, json.dumps({"rules": []}), **{"content-type": "text/plain"})
    api.call("PUT", rules, rules, json.dumps({"rules": []}), key=None)
    api.call("PUT", rules, rules, json.dumps({"rules": []}), key="tsk_nobody")
    api.call("GET", rules, f"{rules}?version=1")
    api.call("GET", rules, f"{rules}?version=7")
    api.call("GET", rules, f"{rules}?version=x")
    flagged = api.call("POST", "/transactions", "/transactions",
                       json.dumps(raw_tx("m", amount="12.00", channel="wire")))
    assert flagged["transaction"]["flag_details"][0]["rule"] == "night_wire"
    window = {"since": "2026-01-10T00:00:00Z", "until": "2026-01-11T00:00:00Z"}
    result = api.call("POST", replay, replay, json.dumps({**window, "rules": [
        {"name": "big", "builtin": "large_amount", "params": {"amount": "15"}}]}))
    assert result["added"]["count"] == 1 and result["removed"]["ids"] == ["m"]
    api.call("POST", replay, replay, json.dumps({"since": "2026-01-10T00:00:00Z"}))
    api.call("POST", replay, replay, "{}", **{"content-type": "text/plain"})
    api.call("POST", replay, replay, "{}", key=None)
    api.call("POST", replay, replay, "{}", key="tsk_nobody")
    assert {(r, s) for _, r, s in api.seen} >= {
        (rules, 200), (rules, 400), (rules, 401), (rules, 403), (rules, 404), (rules, 415),
        (replay, 200), (replay, 400), (replay, 401), (replay, 403), (replay, 415)}


def test_unavailable_store_answer_matches_the_document(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    store = SqliteStore(str(blocker / "ledger.db"))
    set_runtime(bootstrap(dev_settings(sqlite_path=store.path, demo_api_key=KEY), store))
    try:
        with Client(app) as client:
            recorder = Recorder(client)
            recorder.call("GET", "/health", "/health", key=None)
            recorder.call("GET", "/analytics", "/analytics")
        assert {s for _, _, s in recorder.seen} == {503}
    finally:
        set_runtime(None)


def test_documented_examples_of_schemas_reject_what_the_app_never_sends() -> None:
    created = jsonschema_rs.validator_for(response_schema("/transactions", "POST", 201))
    good: dict[str, Any] = {"status": "created", "transaction": {
        "id": "1", "account": "A123", "amount": "250.50", "currency": "USD", "type": "credit",
        "timestamp": "2026-01-10T14:00:00Z", "flags": [], "flag_details": []}}
    assert created.is_valid(good)
    assert not created.is_valid({**good, "transaction": {**good["transaction"], "amount": 250.5}})
    assert not created.is_valid({**good, "status": "duplicate"})


def test_the_documented_amount_limit_is_the_one_the_code_enforces() -> None:
    number, text = document()["components"]["schemas"]["TransactionInput"]["properties"][
        "amount"]["oneOf"]
    assert Decimal(number["exclusiveMaximum"]) == MAX_AMOUNT
    assert text["pattern"].startswith(f"^[0-9]{{1,{MAX_AMOUNT.adjusted()}}}")


STATEMENTS = Path(__file__).resolve().parents[2] / "unit" / "domain" / "statements_samples"


def test_statement_answers_match_the_document(api: Recorder) -> None:
    post = "/statements"
    mt940 = (STATEMENTS / "mt940_bare.sta").read_text()
    camt = (STATEMENTS / "camt052_v08.xml").read_text()
    xml = {"content-type": "application/xml"}
    assert api.call("POST", post, post, camt, **xml)["format"] == "camt.052"
    api.call("POST", post, post, mt940, **{"content-type": "text/plain"})
    api.call("POST", post, post, mt940.replace("C300,", "C301,"), **xml)          # 422
    api.call("POST", post, post, mt940.replace(":61:", ":61:x"), **xml)           # 400
    api.call("POST", post, post, mt940 + " " * 2048, **xml)                       # 413
    api.call("POST", post, post, mt940)                                           # 415
    api.call("POST", post, post, mt940, key=None, **xml)                          # 401
    api.call("POST", post, post, mt940, key="tsk_nobody", **xml)                  # 403
    api.call("POST", post, post, camt, prefer="respond-async", **xml)             # 202
    assert {s for _, r, s in api.seen if r == post} == {200, 202, 400, 401, 403, 413, 415, 422}
    uploads = "/statements/uploads"  # no upload bucket here: 404 (tests/integration has S3)
    api.call("POST", uploads, f"{uploads}?size=10")                                     # 404
    api.call("POST", uploads, f"{uploads}?size=10", key=None)                           # 401
    api.call("POST", uploads, f"{uploads}?size=10", key="tsk_nobody")                   # 403
    assert {s for _, r, s in api.seen if r == uploads} == {401, 403, 404}


def test_alerts_and_suppressions_answers_match_the_document(api: Recorder) -> None:
    from datetime import timedelta

    from chalicelib.domain.timeutil import format_timestamp, now_utc

    at = format_timestamp((now_utc() - timedelta(minutes=5)).replace(microsecond=0))
    api.call("POST", "/transactions", "/transactions", json.dumps({"transactions": [
        raw_tx("a", amount="20000.00", timestamp=at), raw_tx("b", amount="12345.67",
                                                             timestamp=at)]}))
    alerts, one = "/alerts", "/alerts/{transaction_id}"
    page = api.call("GET", alerts, "/alerts?limit=1")
    api.call("GET", alerts, f"/alerts?limit=1&cursor={page['next_cursor']}")
    api.call("GET", alerts, "/alerts?status=closed")
    api.call("GET", alerts, "/alerts", key=None)
    api.call("GET", alerts, "/alerts", key="wrong")
    api.call("GET", one, "/alerts/a")
    api.call("GET", one, "/alerts/zzz")
    assert api.call("POST", one, "/alerts/a", json.dumps({"status": "confirmed", "note": "x"})
                    )["history"][0]["by"] == "key:demo"
    api.call("POST", one, "/alerts/a", json.dumps({"status": "nope"}))
    api.call("POST", one, "/alerts/zzz", json.dumps({"status": "open"}))
    api.call("POST", one, "/alerts/a", "{}", **{"content-type": "text/plain"})
    api.call("POST", one, "/alerts/a", json.dumps({"note": "x" * 3000}))
    sups, sup = "/suppressions", "/suppressions/{suppression_id}"
    until = format_timestamp(now_utc() + timedelta(days=1))
    made = api.call("POST", sups, sups, json.dumps({"account": "A123", "rule": "large_amount",
                                                    "until": until, "reason": "payroll"}))
    api.call("POST", sups, sups, json.dumps({"account": "A123"}))
    api.call("GET", sups, sups)
    api.call("GET", sups, f"{sups}?x=1")
    api.call("GET", "/analytics", "/analytics")
    deleted = api.client.http.request("DELETE", f"/suppressions/{made['id']}", body=b"",
                                      headers={"x-api-key": KEY})
    assert deleted.status_code == 204 and "204" in document()["paths"][sup]["delete"][
        "responses"]
    api.call("DELETE", sup, f"/suppressions/{made['id']}")
    api.call("DELETE", sup, "/suppressions/bogus")
    assert {(r, s) for _, r, s in api.seen} >= {
        (alerts, 200), (alerts, 400), (alerts, 401), (alerts, 403), (one, 200), (one, 404),
        (one, 400), (one, 415), (one, 413), (sups, 201), (sups, 400), (sups, 200), (sup, 404),
        (sup, 400)}


def test_webhook_answers_match_the_document(api: Recorder, tmp_path: Path) -> None:
    from chalicelib.bootstrap import get_runtime
    from chalicelib.usecases import webhook_delivery
    from tests.support.outbox import webhook_runtime

    rt = webhook_runtime(get_runtime(), tmp_path, max_per_bank=1)
    hooks = "/webhooks"
    item, test = "/webhooks/{webhook_id}", "/webhooks/{webhook_id}/test"
    log = "/webhooks/{webhook_id}/deliveries"
    made = api.call("POST", hooks, hooks, json.dumps({"url": "http://localhost:9/in"}))
    assert made["secret"].startswith("whsec_")
    api.call("POST", hooks, hooks, json.dumps({"url": "http://localhost:9/in"}))  # the cap
    api.call("POST", hooks, hooks, json.dumps({"url": "https://10.0.0.1/in"}))
    api.call("POST", hooks, hooks, "{}", **{"content-type": "text/plain"})
    api.call("POST", hooks, hooks, "{}", key=None)
    api.call("POST", hooks, hooks, "{}", key="tsk_nobody")
    api.call("GET", hooks, hooks)
    path = f"/webhooks/{made['id']}"
    api.call("POST", test, f"{path}/test")
    api.call("POST", test, "/webhooks/wh_none/test")
    answers = iter([(200, ""), (None, "no answer within 2 s")])  # a line of each shape
    webhook_delivery.drain(rt, lambda target, body, headers, timeout_s: next(answers),
                           resolve=lambda host, port: ["127.0.0.1"])
    api.call("POST", test, f"{path}/test")
    webhook_delivery.drain(rt, lambda target, body, headers, timeout_s: next(answers),
                           resolve=lambda host, port: ["127.0.0.1"])
    lines = api.call("GET", log, f"{path}/deliveries")["deliveries"]
    assert sorted((d["status"], d["last_status"]) for d in lines) == [
        ("delivered", 200), ("pending", None)]
    api.call("GET", log, f"{path}/deliveries?limit=0")
    api.call("GET", log, "/webhooks/wh_none/deliveries")
    gone = api.client.http.request("DELETE", path, headers={"x-api-key": KEY})
    assert gone.status_code == 204 and not gone.body
    assert "204" in document()["paths"][item]["delete"]["responses"]
    api.call("DELETE", item, path)
    assert {(r, s) for _, r, s in api.seen} >= {
        (hooks, 201), (hooks, 409), (hooks, 400), (hooks, 415), (hooks, 401), (hooks, 403),
        (hooks, 200), (test, 202), (test, 404), (log, 200), (log, 400), (log, 404), (item, 404)}
