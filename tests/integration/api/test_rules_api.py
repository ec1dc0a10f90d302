"""GET/PUT /rules and POST /rules/replay through the API, and flags with evidence on both
ingest paths."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.bootstrap import Runtime, set_runtime
from chalicelib.domain.rules import RULES
from chalicelib.usecases.consumer import drain
from tests.conftest import Api
from tests.support.asyncing import install
from tests.support.edges import refused
from tests.support.factories import raw_tx

NIGHT_WIRE = {"name": "night_wire", "when": 'channel == "wire" and (hour < 6 or hour >= 22)'
              " and amount > 1000.00", "description": "a large wire at night"}
BROKEN = {"name": "per_count", "when": "amount / count_1h > 1"}  # count_1h is 0 at first


def put(api: Api, body: Any) -> Any:
    return api.client.http.put("/rules", body=json.dumps(body), headers=api.headers)


def replay(api: Api, body: Any) -> Any:
    return api.client.http.post("/rules/replay", body=json.dumps(body), headers=api.headers)


def body_of(response: Any) -> Any:
    return json.loads(response.body)


def test_a_bank_without_a_set_gets_todays_five_rules_as_version_0(api: Api) -> None:
    response = api.get("/rules")
    assert response.status_code == 200
    body = body_of(response)
    assert body["version"] == 0 and body["updated_by"] is None
    assert [r["name"] for r in body["rules"]] == list(RULES)
    assert body["rules"][0] == {"name": "large_amount", "builtin": "large_amount",
                                "params": {"amount": "10000"}}


def test_put_answers_the_new_version_and_every_version_stays_readable(api: Api) -> None:
    first = put(api, {"rules": [NIGHT_WIRE]})
    assert first.status_code == 200, first.body
    assert body_of(first)["version"] == 1 and body_of(first)["updated_by"] == "key:demo"
    second = put(api, {"rules": [{"name": "big", "builtin": "large_amount",
                                  "params": {"amount": "500", "by_currency": {
                                      "JPY": {"amount": "80000"}}}}]})
    assert body_of(second)["version"] == 2
    assert body_of(api.get("/rules"))["version"] == 2
    assert body_of(api.get("/rules?version=1"))["rules"] == [NIGHT_WIRE]
    assert body_of(api.get("/rules?version=0"))["version"] == 0
    refused(api.get("/rules?version=9"), 404, "NotFoundError", says="9")
    refused(api.get("/rules?version=x"), 400, "ValidationError", field="version")
    refused(api.get("/rules?other=1"), 400, "ValidationError", field="other")


@pytest.mark.parametrize(("rule", "field", "words"), [
    ({"name": "r", "when": "amont > 5"}, "rules[0].when", ["'r'", "unknown name", "character 1"]),
    ({"name": "r", "when": 'amount > "x"'}, "rules[0].when", ["cannot compare", "character 10"]),
    ({"name": "r", "when": "amount >"}, "rules[0].when", ["syntax error"]),
    ({"name": "r", "when": "merchant.__class__ == 1"}, "rules[0].when", ["attribute access"]),
    # each of these two was a 500 (docs/mutation/rule-expressions.md, "Bugs fixed")
    ({"name": "r", "when": "amount in [-count_1h]"}, "rules[0].when",
     ["number literals only", "character 12"]),
    ({"name": "r", "when": "(amount >\r amont)"}, "rules[0].when",
     ["unknown name 'amont'", "character 12"]),
    ({"name": "r", "builtin": "nope"}, "rules[0].builtin", ["unknown built-in"]),
    ({"name": "r", "builtin": "velocity", "params": {"count": "1.5"}},
     "rules[0].params.count", ["whole number"]),
    ({"name": "R!", "when": "amount > 1"}, "rules[0].name", ["a-z"]),
])
def test_a_bad_rule_is_400_naming_the_rule_and_where_and_nothing_is_stored(
        api: Api, rule: dict[str, Any], field: str, words: list[str]) -> None:
    response = put(api, {"rules": [rule]})
    assert response.status_code == 400
    (detail,) = body_of(response)["Details"]
    assert detail["field"] == field
    assert all(w in detail["message"] for w in words), detail
    assert body_of(api.get("/rules"))["version"] == 0


def test_rules_per_bank_are_capped(api: Api) -> None:
    many = [{"name": f"r{i}", "when": "amount > 1"} for i in range(51)]
    refused(put(api, {"rules": many}), 400, "ValidationError", field="rules", says="50")
    assert body_of(api.get("/rules"))["version"] == 0  # nothing stored


def test_flags_carry_evidence_on_every_read(api: Api) -> None:
    put(api, {"rules": [NIGHT_WIRE]})
    response = api.post(json.dumps(raw_tx("w1", amount="1500.00", channel="wire", type="debit",
                                          timestamp="2026-01-10T23:30:00Z")))
    assert response.status_code == 201
    detail = {"rule": "night_wire", "version": 1, "evidence": {
        "amount": "1500.00", "channel": "wire", "hour": "23", "when": NIGHT_WIRE["when"]}}
    assert body_of(response)["transaction"]["flag_details"] == [detail]
    assert body_of(api.get("/transactions/w1"))["flag_details"] == [detail]
    assert body_of(api.get("/accounts/A123/transactions"))["items"][0]["flag_details"] == [detail]
    assert body_of(api.get("/analytics"))["flags"]["recent"][0]["flag_details"] == [detail]
    batch = api.post(json.dumps({"transactions": [
        raw_tx("w2", amount="1.00"), raw_tx("w3", amount="1500.00", channel="wire",
                                            type="debit", timestamp="2026-01-10T23:30:00Z")]}))
    assert [r["flag_details"] for r in body_of(batch)["results"]] == [[], [detail]]


def test_a_rule_that_fails_to_evaluate_never_fails_the_ingest(
        api: Api, runtime: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    put(api, {"rules": [BROKEN, {"name": "any", "when": "amount > 0"}]})
    capsys.readouterr()
    response = api.post(json.dumps(raw_tx("z1")))
    assert response.status_code == 201
    assert body_of(response)["transaction"]["flags"] == ["any"]
    assert runtime.store.get_transaction("demo", "z1") is not None
    # the failure is logged where it happened: which bank, transaction, rule and version, and why
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()
               if line.startswith('{"level"')]
    (failed,) = [r for r in records if r["event"] == "rule_evaluation_failed"]
    assert {k: failed[k] for k in ("level", "bank", "id", "rule", "version")} == {
        "level": "WARNING", "bank": "demo", "id": "z1", "rule": "per_count", "version": 1}
    assert "division by zero" in failed["error"]


@pytest.fixture
def parts(runtime: Runtime, tmp_path: Path) -> Iterator[Runtime]:
    made = install(runtime, tmp_path)
    yield made
    set_runtime(None)


def test_the_async_path_applies_the_banks_set_with_evidence(
        api: Api, runtime: Runtime, parts: Runtime) -> None:
    put(api, {"rules": [NIGHT_WIRE]})
    response = api.post(json.dumps(raw_tx("a1", amount="2000.00", channel="wire",
                                          timestamp="2026-01-10T02:00:00Z")),
                        prefer="respond-async")
    assert response.status_code == 202
    drain(parts)
    stored = body_of(api.get("/transactions/a1"))
    assert stored["flags"] == ["night_wire"]
    assert stored["flag_details"][0]["evidence"]["hour"] == "2"
    # the receipt's item carries the evidence as the synchronous answer's item does
    receipt = body_of(api.get(response.headers["Location"].removeprefix("/api")))
    assert receipt["results"][0]["flag_details"] == stored["flag_details"]


def test_replay_compares_a_candidate_with_what_was_flagged_and_writes_nothing(
        api: Api, runtime: Runtime) -> None:
    items = [raw_tx(f"r{i}", amount=f"{i}000.00", timestamp=f"2026-01-10T1{i}:00:00Z")
             for i in range(1, 5)]
    api.post(json.dumps({"transactions": items}))
    window = {"since": "2026-01-10T00:00:00Z", "until": "2026-01-11T00:00:00Z"}
    response = replay(api, {**window, "rules": [
        {"name": "large_amount", "builtin": "large_amount", "params": {"amount": "3000"}}]})
    assert response.status_code == 200, response.body
    body = body_of(response)
    assert body["transactions"] == 4
    assert body["candidate"]["by_rule"] == {"large_amount": 2}
    assert body["current"]["flagged"] == 0  # today's 10,000 threshold flagged none
    assert body["added"] == {"count": 2, "ids": ["r3", "r4"]}
    assert body["removed"] == {"count": 0, "ids": []}
    assert body_of(api.get("/transactions/r4"))["flags"] == []  # nothing written
    assert body_of(api.get("/rules"))["version"] == 0


@pytest.mark.parametrize("window", [
    {"since": "2026-01-01T00:00:00Z", "until": "2026-02-02T00:00:00Z"},  # 32 days
    {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
    {"since": "yesterday", "until": "2026-01-01T00:00:00Z"},
    {"since": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z", "limit": 5000},
    {"since": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z", "extra": 1},
])
def test_replay_refuses_a_bad_window(api: Api, window: dict[str, Any]) -> None:
    refused(replay(api, window), 400, "ValidationError")
