"""POST /statements through the Chalice test client: the same ledger as JSON, all or nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib.bootstrap import Runtime, set_runtime
from chalicelib.usecases.consumer import drain
from tests.conftest import Api
from tests.support.asyncing import install
from tests.support.edges import refused

SAMPLES = Path(__file__).resolve().parents[2] / "unit" / "domain" / "statements_samples"
CH = "CH9300762011623852957"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def send(api: Api, raw: bytes, content_type: str = "application/xml", path: str = "/statements",
         **headers: str) -> tuple[int, Any, dict[str, str]]:
    response = api.client.http.post(path, body=raw, headers={
        "x-api-key": api.headers["x-api-key"], "content-type": content_type, **headers})
    return response.status_code, json.loads(response.body), response.headers


def account(api: Api, name: str) -> tuple[int, Any]:
    response = api.get(f"/accounts/{name}")
    return response.status_code, json.loads(response.body)


def test_camt053_import_answers_each_entry_and_reports_what_was_not_booked(api: Api) -> None:
    status, body, _ = send(api, sample("camt053_v02.xml"))
    assert status == 200 and body["format"] == "camt.053"
    assert body["summary"] == {"created": 3, "duplicate": 0, "conflict": 0, "rejected": 0}
    first, second = body["statements"]
    assert (first["account"], first["opening_balance"], first["closing_balance"]) == (
        CH, "5000.00", "5600.00")
    assert (first["entries"], first["booked"], first["balance_checked"]) == (4, 2, True)
    assert [e["status"] for e in first["not_booked"]] == ["pending", "information"]
    assert second["first_index"] == 2


@pytest.mark.parametrize("name", ["mt940_envelope.sta", "mt940_bare.sta", "camt053_v02.xml",
                                  "camt052_v08.xml", "camt054_v02.xml"])
def test_re_import_answers_every_entry_duplicate(api: Api, name: str) -> None:
    _, first, _ = send(api, sample(name), "text/plain")
    status, again, _ = send(api, sample(name), "text/plain")
    assert status == 200 and first["summary"]["created"] > 0
    assert again["summary"] == {"created": 0, "duplicate": first["summary"]["created"],
                                "conflict": 0, "rejected": 0}


def test_intraday_camt052_then_camt053_stores_nothing_twice(api: Api) -> None:
    _, intraday, _ = send(api, sample("camt052_v08.xml"))
    _, day, _ = send(api, sample("camt053_v08.xml"))
    assert intraday["summary"]["created"] == 1
    assert [r["status"] for r in day["results"]] == ["duplicate", "created"]
    assert day["results"][0]["id"] == intraday["results"][0]["id"]
    _, summary = account(api, "GB29NWBK60161331926819")
    assert summary["count"] == 2


def test_analytics_of_the_account_equal_the_statement_movements_to_the_cent(api: Api) -> None:
    send(api, sample("mt940_envelope.sta"), "text/plain")
    _, summary = account(api, "NL91ABNA0417164300")
    eur = summary["totals"]["EUR"]
    # opening 1000.00 -> closing 1184.50: credits 250.00 + 20.00, debits 75.50 + 10.00
    assert (eur["credits"]["total"], eur["debits"]["total"], eur["net"]) == (
        "270.00", "85.50", "184.50")


def test_balance_mismatch_is_422_and_stores_nothing(api: Api) -> None:
    raw = sample("mt940_envelope.sta").replace(b":62F:C261106EUR150,00", b":62F:C261106EUR150,01")
    status, body, _ = send(api, raw, "text/plain")
    assert status == 422 and body["Code"] == "StatementBalanceError"
    assert "but the closing balance is 150.01" in body["Details"][0]["message"]
    assert account(api, "NL91ABNA0417164300")[0] == 404  # the balanced statement neither


def test_one_invalid_entry_refuses_the_file_with_every_reason(api: Api) -> None:
    raw = sample("mt940_bare.sta").replace(b"D1200,", b"D1200,5").replace(b"C300,", b"C300,25")
    status, body, _ = send(api, raw, "text/plain")
    assert status == 400 and body["Code"] == "ValidationError"
    assert [d["field"] for d in body["Details"]] == ["line 5 amount", "line 13 amount"]
    assert account(api, "JP12345678")[0] == 404


def test_xml_with_an_external_entity_is_400_and_nothing_is_fetched_or_stored(api: Api) -> None:
    raw = sample("camt054_v02.xml").replace(
        b"<Document", b'<!DOCTYPE Document [<!ENTITY x SYSTEM "file:///etc/passwd">]><Document',
        1).replace(b"<Id>NTF-1-1</Id>", b"<Id>&x;</Id>")
    status, body, _ = send(api, raw)
    assert status == 400 and body["Code"] == "StatementFormatError"
    assert "root:" not in json.dumps(body)
    assert account(api, "DE89370400440532013000")[0] == 404


def test_malformed_file_names_the_line(api: Api) -> None:
    status, body, _ = send(api, b":20:X\n:25:A\n:28C:1\n:60F:C261101EUR1,\n:61:bad\n-",
                           "text/plain")
    assert status == 400
    assert [d["field"] for d in body["Details"]] == ["line 1", "line 5 (:61:)"]  # no :62:


def test_a_file_over_the_body_limit_is_413_saying_how_to_send_it(api: Api,
                                                                  runtime: Runtime) -> None:
    raw = b" " * (runtime.settings.max_body_bytes + 1)
    status, body, _ = send(api, raw, "text/plain")
    assert status == 413 and "POST /statements/uploads" in body["Message"]


def test_json_or_unknown_parameters_are_refused(api: Api) -> None:
    assert send(api, sample("camt054_v02.xml"), "application/json")[0] == 415
    assert send(api, sample("camt054_v02.xml"), path="/statements?fmt=x")[0] == 400
    status, body, _ = send(api, sample("camt054_v02.xml"), path="/statements?format=mt940")
    assert status == 400 and body["Details"][0]["message"] == "the content is camt.054"


def test_respond_async_answers_202_with_a_receipt_and_applies_the_entries(
        api: Api, runtime: Runtime, tmp_path: Path) -> None:
    parts = install(runtime, tmp_path)
    try:
        status, body, headers = send(api, sample("camt053_v08.xml"), prefer="respond-async")
        assert status == 202 and headers["Preference-Applied"] == "respond-async"
        assert body["summary"] == {"queued": 2, "rejected": 0} and body["format"] == "camt.053"
        pending = json.loads(api.get(headers["Location"]).body)
        drain(parts)
        receipt = json.loads(api.get(headers["Location"]).body)
        assert receipt["status"] == "done" and receipt["summary"] == {"created": 2}
        # the answer and the receipt name each entry while it is queued, as once it is applied
        applied = [(r["id"], "created") for r in receipt["results"]]
        assert all(tx_id for tx_id, _ in applied), receipt
        for queued in (body, pending):
            assert [(r["id"], "created") for r in queued["results"]] == applied, queued
            assert {r["status"] for r in queued["results"]} == {"queued"}, queued
        _, again, _ = send(api, sample("camt053_v08.xml"))
        assert again["summary"]["duplicate"] == 2
    finally:
        set_runtime(None)


def test_a_statement_writes_only_the_callers_bank(api: Api) -> None:
    send(api, sample("camt054_v02.xml"))
    _, body = account(api, "DE89370400440532013000")
    assert body["count"] == 2
    other = api.client.http.get("/accounts/DE89370400440532013000",
                                headers={"x-api-key": "someone-else"})
    refused(other, 403, "ForbiddenError")
