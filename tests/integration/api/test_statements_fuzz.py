"""Hostile and malformed statement files: never a 5xx, and a refused file stores nothing."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Api

SAMPLES = Path(__file__).resolve().parents[2] / "unit" / "domain" / "statements_samples"
BASES = [p.read_bytes() for p in sorted(SAMPLES.iterdir())]
HOSTILE = [b":61:", b":62F:", b":60F:", b":86:", b":20:", b"-}", b"{4:", b"{1:", b"C", b"D",
           b"RC", b"RD", b"999999999999999,99", b"0,001", b"-1,00", b"261340", b"991231",
           b"<Ntry>", b"</Ntry>", b"<Amt Ccy='JPY'>1.5</Amt>", b"<Amt Ccy='EUR'>1e99</Amt>",
           b"<CdtDbtInd>DBIT</CdtDbtInd>", b"<Sts>BOOK</Sts>", b"<x>" * 300,
           b"<!DOCTYPE d [<!ENTITY a 'aaaa'>]>", b"&a;", b"&#0;", b"\x00", b"\xff\xfe",
           "Ωmega ２０２６ \u202e".encode(), b"NaN", b"\r", b"]]>", b"<![CDATA[x]]>",
           b'<?xml version="1.0" encoding="x-nope"?>', b'<?xml version="1.0"?>']


@st.composite
def hostile_files(draw: st.DrawFn) -> bytes:
    raw = draw(st.sampled_from(BASES))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(raw)))
        how = draw(st.sampled_from(["truncate", "insert", "replace", "flip"]))
        if how == "truncate":
            raw = raw[:at]
        elif how == "flip":
            a, b = draw(st.sampled_from([(b"C", b"D"), (b"CRDT", b"DBIT"), (b"2026", b"2126"),
                                         (b"11-2", b"13-2"), (b"00", b"0.001")]))
            raw = raw.replace(a, b, 1) if draw(st.booleans()) else raw.replace(b, a, 1)
        else:
            junk = draw(st.one_of(st.sampled_from(HOSTILE), st.binary(max_size=12),
                                  st.text(max_size=12).map(
                                      lambda t: t.encode("utf-8", "surrogatepass"))))
            end = at + (draw(st.integers(0, 20)) if how == "replace" else 0)
            raw = raw[:at] + junk + raw[end:]
    return raw


def stored(api: Api) -> int:
    return int(json.loads(api.get("/analytics").body)["count"])


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(raw=hostile_files(), content_type=st.sampled_from(["text/plain", "application/xml"]))
def test_no_5xx_and_a_refused_file_stores_nothing(api: Api, raw: bytes,
                                                  content_type: str) -> None:
    before = stored(api)
    response = api.client.http.post("/statements", body=raw, headers={
        "x-api-key": api.headers["x-api-key"], "content-type": content_type})
    body = json.loads(response.body)
    assert response.status_code < 500, body
    if response.status_code == 200:
        assert stored(api) == before + body["summary"]["created"]
    else:
        assert response.status_code in (400, 413, 422), body
        assert body["Code"] and stored(api) == before
