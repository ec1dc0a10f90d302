"""GET /alerts, POST /alerts/{id}, the suppressions routes and the open count in /analytics,
through the Chalice test client on the SQLite store: two banks, each with its own key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.adapters.sqlite.sqlite_store import SqliteStore
from chalicelib.bootstrap import bootstrap, set_runtime
from chalicelib.config import Settings
from chalicelib.domain.timeutil import format_timestamp, now_utc
from chalicelib.usecases.api_keys import create_key
from tests.support.factories import raw_tx

BIG = "12345.67"


class Bank:
    """One bank's view of the API: its own key (and its id) on every request."""

    def __init__(self, client: Client, key: str, key_id: str) -> None:
        self.client = client
        self.key_id = key_id
        self.headers = {"x-api-key": key, "content-type": "application/json"}

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        raw = body if isinstance(body, str | bytes) else json.dumps(body)
        response = getattr(self.client.http, method)(
            path, headers=self.headers, **({} if body is None else {"body": raw}))
        return response.status_code, json.loads(response.body) if response.body else None

    def ingest(self, *items: dict[str, Any]) -> None:
        status, _ = self.call("post", "/transactions", {"transactions": list(items)})
        assert status == 200


@pytest.fixture
def banks(tmp_path: Path) -> Iterator[tuple[Bank, Bank]]:
    store = SqliteStore(str(tmp_path / "ledger.db"))
    key_a, record_a = create_key(store, "bank-a")
    key_b, record_b = create_key(store, "bank-b")
    set_runtime(bootstrap(Settings(sqlite_path=store.path, key_cache_ttl_s=0), store))
    with Client(app) as client:
        yield Bank(client, key_a, record_a.key_id), Bank(client, key_b, record_b.key_id)
    set_runtime(None)


def recent(minutes: int) -> str:
    return format_timestamp((now_utc() - timedelta(minutes=minutes)).replace(microsecond=0))


def big(tx_id: str, account: str = "A1", minutes: int = 10) -> dict[str, Any]:
    return raw_tx(tx_id, account=account, amount=BIG, timestamp=recent(minutes))


def ids(answer: dict[str, Any]) -> list[str]:
    return [a["transaction_id"] for a in answer["alerts"]]


def test_alerts_list_newest_first_with_filters_and_signed_cursors(
        banks: tuple[Bank, Bank]) -> None:
    a, _ = banks
    a.ingest(big("t1", "A1", 30), big("t2", "A2", 20), big("t3", "A1", 10), raw_tx("n1"))
    status, page = a.call("get", "/alerts")
    assert status == 200 and ids(page) == ["t3", "t2", "t1"] and page["next_cursor"] is None
    alert = page["alerts"][0]
    assert alert["status"] == "open" and alert["rules"] == ["large_amount"]
    assert alert["transaction"]["amount"] == BIG and alert["history"] == []
    assert alert["transaction"]["flag_details"][0]["evidence"]  # the flag's evidence shows
    assert ids(a.call("get", "/alerts?account=A1")[1]) == ["t3", "t1"]
    assert ids(a.call("get", "/alerts?rule=round_amount")[1]) == []
    status, first = a.call("get", "/alerts?limit=2")
    assert ids(first) == ["t3", "t2"] and first["next_cursor"]
    status, rest = a.call("get", f"/alerts?limit=2&cursor={first['next_cursor']}")
    assert status == 200 and ids(rest) == ["t1"] and rest["next_cursor"] is None
    # a cursor is signed for its filters: reused with others it is refused
    status, body = a.call("get", f"/alerts?limit=2&status=open&cursor={first['next_cursor']}")
    assert status == 400 and body["Details"] == [
        {"field": "cursor", "message": "is not a cursor this API gave"}]


def test_triage_answers_the_alert_with_its_history_and_moves_the_open_count(
        banks: tuple[Bank, Bank]) -> None:
    a, _ = banks
    a.ingest(big("t1"), big("t2", "A2"))
    assert a.call("get", "/analytics")[1]["alerts"] == {"open": 2, "suppressed": 0}
    status, alert = a.call("post", "/alerts/t1", {"status": "confirmed", "note": "fraud"})
    assert status == 200 and alert["status"] == "confirmed"
    (step,) = alert["history"]
    assert step["status"] == "confirmed" and step["note"] == "fraud"
    assert step["by"] == f"key:{a.key_id}" and step["at"].endswith("Z")
    status, alert = a.call("post", "/alerts/t1", {"status": "open"})
    assert [h["status"] for h in alert["history"]] == ["confirmed", "open"]
    assert alert["history"][1]["note"] == ""
    a.call("post", "/alerts/t2", {"status": "dismissed", "note": "known"})
    assert a.call("get", "/analytics")[1]["alerts"]["open"] == 1
    assert ids(a.call("get", "/alerts?status=dismissed")[1]) == ["t2"]
    assert a.call("get", "/alerts/t1")[1] == alert


def test_another_banks_alert_is_404_and_its_counts_are_its_own(banks: tuple[Bank, Bank]) -> None:
    a, b = banks
    a.ingest(big("t1"))
    assert b.call("post", "/alerts/t1", {"status": "dismissed"})[0] == 404
    assert b.call("get", "/alerts/t1")[0] == 404
    assert ids(b.call("get", "/alerts")[1]) == []
    assert b.call("get", "/analytics")[1]["alerts"] == {"open": 0, "suppressed": 0}
    assert a.call("get", "/alerts/t1")[1]["status"] == "open"


@pytest.mark.parametrize(("body", "field"), [
    ({"status": "closed"}, "status"), ({}, "status"), ({"status": "open", "note": 5}, "note"),
    ({"status": "open", "note": "x" * 1001}, "note"), ({"status": "open", "by": "me"}, "by"),
    ([], "body")])
def test_a_bad_triage_is_a_400_naming_the_field_and_changes_nothing(
        banks: tuple[Bank, Bank], body: Any, field: str) -> None:
    a, _ = banks
    a.ingest(big("t1"))
    status, answer = a.call("post", "/alerts/t1", body)
    assert status == 400 and answer["Code"] in ("ValidationError", "BadRequestError")
    assert [d["field"] for d in answer["Details"]] == [field]
    assert a.call("get", "/alerts/t1")[1]["history"] == []


@pytest.mark.parametrize("query", ["status=closed", "rule=Bad-Rule", "account=%20", "limit=0",
                                   "limit=101", "cursor=nope", "colour=red"])
def test_a_bad_listing_query_is_a_400(banks: tuple[Bank, Bank], query: str) -> None:
    status, answer = banks[0].call("get", f"/alerts?{query}")
    assert status == 400 and answer["Details"], answer


def test_a_suppression_marks_the_flag_opens_no_alert_and_is_counted(
        banks: tuple[Bank, Bank]) -> None:
    a, b = banks
    until = format_timestamp(now_utc() + timedelta(days=7))
    status, made = a.call("post", "/suppressions", {"account": "A1", "rule": "large_amount",
                                                    "until": until, "reason": "payroll"})
    assert status == 201 and made["id"].startswith("sup_")
    assert made["created_by"] == f"key:{a.key_id}" and made["until"] == until
    a.ingest(big("t1"), big("t2", "A2"))
    assert ids(a.call("get", "/alerts")[1]) == ["t2"]
    tx = a.call("get", "/transactions/t1")[1]
    assert tx["flags"] == ["large_amount"] and tx["flag_details"][0]["suppressed"] is True
    assert a.call("get", "/analytics")[1]["alerts"] == {"open": 1, "suppressed": 1}
    assert a.call("get", "/suppressions")[1] == {"suppressions": [made]}
    assert b.call("get", "/suppressions")[1] == {"suppressions": []}
    assert b.call("delete", f"/suppressions/{made['id']}")[0] == 404  # not bank b's
    assert a.call("delete", f"/suppressions/{made['id']}")[0] == 204
    assert a.call("delete", f"/suppressions/{made['id']}")[0] == 404
    a.ingest(big("t3"))
    assert ids(a.call("get", "/alerts")[1]) == ["t3", "t2"]


@pytest.mark.parametrize(("body", "fields"), [
    ({"account": "A1", "rule": "large_amount", "until": "2020-01-01T00:00:00Z", "reason": "x"},
     ["until"]),
    ({"account": "A1", "rule": "large_amount", "until": "2999-01-01T00:00:00Z", "reason": "x"},
     ["until"]),
    ({"account": "", "rule": "Large", "until": "soon", "reason": ""},
     ["account", "rule", "until", "reason"]),
    ({"account": "A1", "rule": "r", "until": "2999-01-01T00:00:00Z", "reason": "x", "id": "1"},
     ["id"]),
    ("[1]", ["body"])])
def test_a_bad_suppression_is_a_400_naming_every_field_and_stores_nothing(
        banks: tuple[Bank, Bank], body: Any, fields: list[str]) -> None:
    a, _ = banks
    status, answer = a.call("post", "/suppressions", body)
    assert status == 400 and [d["field"] for d in answer["Details"]] == fields, answer
    assert a.call("get", "/suppressions")[1] == {"suppressions": []}


def test_deleting_a_malformed_suppression_id_is_a_400(banks: tuple[Bank, Bank]) -> None:
    status, answer = banks[0].call("delete", "/suppressions/sup_zz")
    assert status == 400 and answer["Details"][0]["field"] == "id"


@pytest.mark.parametrize("text", ["a\u202eb", "\x00", "line\nbreak"])
def test_notes_and_reasons_refuse_control_and_bidi_characters(banks: tuple[Bank, Bank],
                                                              text: str) -> None:
    a, _ = banks
    a.ingest(big("t1"))
    status, answer = a.call("post", "/alerts/t1", {"status": "dismissed", "note": text})
    assert status == 400 and answer["Details"][0]["field"] == "note"
    until = format_timestamp(now_utc() + timedelta(days=1))
    status, answer = a.call("post", "/suppressions", {"account": "A1", "rule": "large_amount",
                                                      "until": until, "reason": text})
    assert status == 400 and answer["Details"][0]["field"] == "reason"
