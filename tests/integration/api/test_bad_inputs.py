"""A table of bad requests: each is a 4xx in the one error shape, naming what is wrong."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Api
from tests.support.factories import raw_tx


def body(**fields: Any) -> str:
    """A single transaction with `fields` replacing (or, with value ..., removing) defaults."""
    raw = raw_tx("bad1")
    for name, value in fields.items():
        if value is ...:
            raw.pop(name, None)
        else:
            raw[name] = value
    return json.dumps(raw)


FIELD_CASES: list[tuple[str, str, str]] = [
    ("missing id", body(id=...), "id"),
    ("empty id", body(id=""), "id"),
    ("id with space", body(id="a b"), "id"),
    ("id too long", body(id="x" * 65), "id"),
    ("numeric id", body(id=5), "id"),
    ("missing account", body(account=...), "account"),
    ("account too long", body(account="A" * 35), "account"),
    ("account with slash", body(account="A/1"), "account"),
    # a URL path cannot hold the segments . and ..: every client resolves them away
    ("account dot", body(account="."), "account"),
    ("account dot dot", body(account=".."), "account"),
    ("id dot", body(id="."), "id"),
    ("id dot dot", body(id=".."), "id"),
    ("account null", body(account=None), "account"),
    ("missing amount", body(amount=...), "amount"),
    ("zero amount", body(amount=0), "amount"),
    ("negative amount", body(amount=-5), "amount"),
    ("three decimals", body(amount="1.005"), "amount"),
    ("amount 10^12", body(amount="1000000000000"), "amount"),
    ("amount exponent", body(amount="1e3"), "amount"),
    ("amount with sign string", body(amount="+5"), "amount"),
    ("amount word", body(amount="ten"), "amount"),
    ("amount NaN string", body(amount="NaN"), "amount"),
    ("amount Infinity string", body(amount="Infinity"), "amount"),
    ("amount bool", body(amount=True), "amount"),
    ("amount list", body(amount=[1]), "amount"),
    ("amount padded", body(amount=" 5"), "amount"),
    ("JPY with decimals", body(amount="5.5", currency="JPY"), "amount"),
    ("missing type", body(type=...), "type"),
    ("type refund", body(type="refund"), "type"),
    ("type upper", body(type="CREDIT"), "type"),
    ("missing timestamp", body(timestamp=...), "timestamp"),
    ("timestamp without zone", body(timestamp="2026-01-10T14:00:00"), "timestamp"),
    ("timestamp date only", body(timestamp="2026-01-10"), "timestamp"),
    ("timestamp garbage", body(timestamp="yesterday"), "timestamp"),
    ("timestamp number", body(timestamp=1700000000), "timestamp"),
    ("timestamp far future", body(timestamp="2999-01-01T00:00:00Z"), "timestamp"),
    ("timestamp month 13", body(timestamp="2026-13-01T00:00:00Z"), "timestamp"),
    ("timestamp before 1970", body(timestamp="1969-12-31T23:00:00Z"), "timestamp"),
    ("currency lower", body(currency="usd"), "currency"),
    ("currency unknown", body(currency="XXX"), "currency"),
    ("currency number", body(currency=840), "currency"),
    ("description too long", body(description="d" * 257), "description"),
    ("merchant not a string", body(merchant={"n": 1}), "merchant"),
    ("channel control char", body(channel="web\u0000"), "channel"),
    ("merchant C1 control NEL", body(merchant="Shop\u0085"), "merchant"),
    ("counterparty DEL", body(counterparty="Bob\u007f"), "counterparty"),
    ("description bidi override", body(description="pay \u202egnp.exe"), "description"),
    ("merchant bidi isolate", body(merchant="\u2066x\u2069"), "merchant"),
    ("unknown field", body(note="hi"), "note"),
]

REQUEST_CASES: list[tuple[str, str | bytes, dict[str, str], int, str]] = [
    ("bad JSON", "{", {}, 400, "BadRequestError"),
    ("empty body", "", {}, 400, "BadRequestError"),
    ("JSON array", "[]", {}, 400, "BadRequestError"),
    ("JSON string", '"hi"', {}, 400, "BadRequestError"),
    ("JSON null", "null", {}, 400, "BadRequestError"),
    ("NaN literal", '{"id": "x", "amount": NaN}', {}, 400, "BadRequestError"),
    ("Infinity literal", '{"amount": Infinity}', {}, 400, "BadRequestError"),
    ("duplicate key", '{"id": "a", "id": "b"}', {}, 400, "BadRequestError"),
    ("deep nesting", "[" * 100_000 + "]" * 100_000, {}, 400, "BadRequestError"),
    ("not UTF-8", b"\xff\xfe{}", {}, 400, "BadRequestError"),
    ("text/plain", "{}", {"content-type": "text/plain"}, 415, "UnsupportedMediaType"),
    ("form encoded", "a=1", {"content-type": "application/x-www-form-urlencoded"}, 415,
     "UnsupportedMediaType"),
    ("empty batch", '{"transactions": []}', {}, 400, "BadRequestError"),
    ("batch not a list", '{"transactions": {}}', {}, 400, "BadRequestError"),
    ("batch with extra key", '{"transactions": [], "x": 1}', {}, 400, "BadRequestError"),
    ("oversized batch", json.dumps({"transactions": [raw_tx(f"i{i}") for i in range(501)]}),
     {}, 413, "RequestEntityTooLargeError"),
    ("oversized body", '{"description": "' + "x" * (1024 * 1024) + '"}', {}, 413,
     "RequestEntityTooLargeError"),
]


def assert_error_shape(payload: dict[str, Any], code: str) -> None:
    assert set(payload) == {"Code", "Message", "Details"}
    assert payload["Code"] == code and payload["Message"]
    assert all(set(d) == {"field", "message"} for d in payload["Details"])


@pytest.mark.parametrize(("case", "raw", "field"), FIELD_CASES, ids=[c[0] for c in FIELD_CASES])
def test_invalid_field_is_400_naming_the_field(api: Api, case: str, raw: str, field: str) -> None:
    response = api.post(raw)
    assert response.status_code == 400, case
    payload = json.loads(response.body)
    assert_error_shape(payload, "ValidationError")
    assert field in [d["field"] for d in payload["Details"]]


@pytest.mark.parametrize(("case", "raw", "headers", "status", "code"), REQUEST_CASES,
                         ids=[c[0] for c in REQUEST_CASES])
def test_bad_request_is_4xx_in_error_shape(api: Api, case: str, raw: str | bytes,
                                           headers: dict[str, str], status: int,
                                           code: str) -> None:
    response = api.post(raw, **headers)
    assert response.status_code == status, (case, response.body[:200])
    assert_error_shape(json.loads(response.body), code)


def test_every_field_error_is_reported_at_once(api: Api) -> None:
    raw = json.dumps({"id": "", "account": 1, "amount": "-1", "type": "x", "timestamp": "no",
                      "extra": 1})
    payload = json.loads(api.post(raw).body)
    assert sorted(d["field"] for d in payload["Details"]) == [
        "account", "amount", "extra", "id", "timestamp", "type"]


def test_rejected_requests_leave_the_analytics_untouched(api: Api) -> None:
    for _, raw, _ in FIELD_CASES:
        api.post(raw)
    analytics = json.loads(api.get("/analytics").body)
    assert analytics["count"] == 0 and analytics["totals"] == {}


@pytest.mark.parametrize(("path", "field"), [
    ("/analytics?since=yesterday", "since"),
    ("/analytics?since=2026-01-10T15:00:00Z&until=2026-01-10T14:00:00Z", "until"),
    ("/analytics?bogus=1", "bogus"),
    ("/accounts/A123/transactions?limit=0", "limit"),
    ("/accounts/A123/transactions?limit=101", "limit"),
    ("/accounts/A123/transactions?limit=abc", "limit"),
    ("/accounts/A123/transactions?cursor=%%%", "cursor"),
    ("/accounts/A123/transactions?cursor=bm9wZQ", "cursor"),
])
def test_bad_query_is_400_naming_the_parameter(api: Api, path: str, field: str) -> None:
    response = api.get(path)
    assert response.status_code == 400
    payload = json.loads(response.body)
    assert_error_shape(payload, "ValidationError")
    assert field in [d["field"] for d in payload["Details"]]
