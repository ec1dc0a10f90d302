"""Hostile input through the Chalice test client: 10,000 malformed or adversarial bodies and
headers. Every answer is a 4xx in the one error shape, or a 2xx that the contract allows for
that body; a refused request moves no aggregate; the server keeps answering.

What makes a 2xx legitimate: the demo key and a JSON content type were sent, and every item
the answer says was stored is valid under openapi.yaml's TransactionInput and comes back
normalised (same id, account, type; same amount as a Decimal). Any other answer must be a 4xx.
"""

from __future__ import annotations

import json
import sqlite3
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from chalice.test import Client
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from app import app
from chalicelib.adapters.sqlite.sqlite_store import SqliteStore
from chalicelib.bootstrap import bootstrap, set_runtime
from tests.integration.api.test_openapi import document, response_schema
from tests.support.factories import raw_tx
from tests.support.settings import dev_settings

pytestmark = [pytest.mark.slow]

EXAMPLES = 10_000
PER_EXAMPLE = 8
KEY = "fuzz-demo-key"
MAX_BODY = 16 * 1024  # small, so oversized bodies are cheap to make

HOSTILE_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40), st.text(alphabet=st.characters(codec="utf-8"), max_size=10),
    st.sampled_from([
        "1" * 400, "1e999999999", "-1", "0", "0.001", "1e2", " 10", "10 ", "١٢٣", "1_000",
        "Infinity", "NaN", "0x10", "+5", "", "\u0000", "\ud800", "9" * 13, "999999999999.99",
        "2026-01-10T14:00:00", "2026-13-40T25:61:61Z", "9999-12-31T23:59:59+14:00",
        "0001-01-01T00:00:00-23:59", "credit ", "CREDIT", "usd", "A" * 35, "x" * 65,
        "a/b", "../..", "<script>", "' OR 1=1 --", "\u202e", "🙂" * 50]))
JSON_VALUES = st.recursive(HOSTILE_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)
FIELDS = ["id", "account", "amount", "type", "timestamp", "currency", "description",
          "merchant", "counterparty", "channel"]


# built once: a strategy built inside a draw costs more than drawing from it
IDS = st.from_regex(r"[A-Za-z0-9]{1,12}", fullmatch=True)
CHANGES = st.integers(1, 3)
ACTIONS = st.sampled_from(["replace", "remove", "add"])
NAMES = st.sampled_from(FIELDS)
NEW_NAMES = st.text(min_size=1, max_size=12)


@st.composite
def mutated_transaction(draw: st.DrawFn) -> dict[str, Any]:
    """A valid transaction with one to three fields replaced, removed or added."""
    body = raw_tx(draw(IDS))
    for _ in range(draw(CHANGES)):
        action = draw(ACTIONS)
        name = draw(NAMES)
        if action == "remove":
            body.pop(name, None)
        elif action == "add":
            body[draw(NEW_NAMES)] = draw(JSON_VALUES)
        else:
            body[name] = draw(JSON_VALUES)
    return body


def _raw(template: str) -> st.SearchStrategy[bytes]:
    return st.just(template.encode())


RAW_TEMPLATES = st.one_of(
    _raw('{"id":"n1","account":"A1","amount":NaN,"type":"credit",'
         '"timestamp":"2026-01-10T14:00:00Z"}'),
    _raw('{"id":"n2","account":"A1","amount":Infinity,"type":"credit",'
         '"timestamp":"2026-01-10T14:00:00Z"}'),
    _raw('{"id":"n3","account":"A1","amount":-Infinity,"type":"debit",'
         '"timestamp":"2026-01-10T14:00:00Z"}'),
    _raw('{"id":"d1","id":"d2","account":"A1","amount":"1.00","type":"credit",'
         '"timestamp":"2026-01-10T14:00:00Z"}'),
    _raw('{"transactions":[],"transactions":[{"id":"d3"}]}'),
    _raw('{"id":"h1","account":"A1","amount":1' + "0" * 5000 + ',"type":"credit",'
         '"timestamp":"2026-01-10T14:00:00Z"}'),
    _raw('{"id":"h2","account":"A1","amount":1e999999999,"type":"credit",'
         '"timestamp":"2026-01-10T14:00:00Z"}'),
    st.integers(1, 200_000).map(lambda n: ("[" * n + "]" * n).encode()),
    st.integers(1, 50_000).map(lambda n: ('{"a":' * n + "1" + "}" * n).encode()),
    st.integers(MAX_BODY - 10, MAX_BODY + 10).map(
        lambda n: json.dumps(raw_tx("big", description="x" * n)).encode()),
    st.just(b"\xff\xfe{}"), st.just(b"\xef\xbb\xbf{}"), st.just(b""), st.just(b"   "),
    st.just(b'"just a string"'), st.just(b"null"), st.just(b"[]"), st.just(b"{}"),
)


def bodies() -> st.SearchStrategy[bytes]:
    def dumps(value: Any) -> bytes:
        return json.dumps(value).encode()

    batch = st.lists(st.one_of(mutated_transaction(), JSON_VALUES,
                               st.builds(raw_tx, st.from_regex(r"b[0-9]{1,3}", fullmatch=True))),
                     min_size=0, max_size=8).map(lambda items: {"transactions": items})
    return st.one_of(
        st.binary(max_size=300),
        JSON_VALUES.map(dumps),
        mutated_transaction().map(dumps),
        batch.map(dumps),
        st.builds(lambda items, extra: {"transactions": items, **extra},
                  st.lists(mutated_transaction(), max_size=2),
                  st.dictionaries(st.text(max_size=5), JSON_VALUES, max_size=2)).map(dumps),
        RAW_TEMPLATES,
    )


HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60)
JSON_TYPES = st.sampled_from(["application/json", "application/json; charset=utf-8",
                              "application/vnd.bank+json", "APPLICATION/JSON"])
OTHER_TYPES = st.one_of(st.sampled_from(["text/plain", "application/x-www-form-urlencoded", "",
                                         "*/*", "application/jsonx"]), HEADER_TEXT, st.none())
BAD_KEYS = st.one_of(st.sampled_from(["", KEY + " ", KEY.upper(), "tsk_" + "A" * 300]),
                     HEADER_TEXT, st.none())


def mostly(usual: st.SearchStrategy[Any], unusual: st.SearchStrategy[Any],
           ) -> st.SearchStrategy[Any]:
    """`usual` nine times in ten: most bodies should get past the headers to the parser."""
    return st.integers(0, 9).flatmap(lambda n: unusual if n == 0 else usual)


CONTENT_TYPES = mostly(JSON_TYPES, OTHER_TYPES)
KEYS = mostly(st.just(KEY), BAD_KEYS)


class Ledger:
    """A read-only look at the SQLite file: every aggregate and account state, and how many
    transactions there are. Read in SQL, so checking it after each of 10,000 requests is cheap."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)

    def aggregates(self) -> tuple[Any, ...]:
        # every aggregate row of every table (see chalicelib/adapters/sqlite/sqlite_buckets.py)
        return tuple(tuple(self.conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3, 4"))
                     for table in ("agg", "agg_currency", "agg_flags", "account_states"))

    def count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM transactions").fetchone()[0])


def check_error_shape(body: Any) -> None:
    assert isinstance(body, dict) and set(body) == {"Code", "Message", "Details"}, body
    assert isinstance(body["Code"], str) and isinstance(body["Message"], str)
    for detail in body["Details"]:
        assert set(detail) == {"field", "message"} and isinstance(detail["message"], str)


def check_stored_item(item: Any, answer: dict[str, Any], accepts: Any) -> None:
    """An item the server stored must be valid under the documented input schema and come
    back normalised."""
    assert accepts.is_valid(json.loads(json.dumps(item, default=str))), item
    for name in ("id", "account", "type"):
        assert answer[name] == item[name]
    assert Decimal(answer["amount"]) == Decimal(str(item["amount"]))


@pytest.mark.slow
def test_hostile_bodies_and_headers_get_4xx_or_a_legitimate_2xx(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "ledger.db"))
    store.ping()  # creates the file and its schema
    set_runtime(bootstrap(dev_settings(sqlite_path=store.path, demo_api_key=KEY,
                                     max_body_bytes=MAX_BODY, max_batch=6), store))
    ledger = Ledger(store.path)
    components = document()["components"]
    accepts = jsonschema_rs.validator_for({"$ref": "#/components/schemas/TransactionInput",
                                           "components": components})
    answers = {code: jsonschema_rs.validator_for(response_schema("/transactions", "POST", code))
               for code in (200, 201)}
    seen: dict[int, int] = {}
    started = time.monotonic()
    with Client(app) as client:

        # several requests per example: the engine's own work per example, not the requests,
        # was most of this test's time (the same requests are sent, as many as before)
        @settings(max_examples=-(-EXAMPLES // PER_EXAMPLE), deadline=None, database=None,
                  derandomize=True, phases=[Phase.generate, Phase.shrink],
                  suppress_health_check=list(HealthCheck))
        @given(cases=st.lists(st.tuples(bodies(), CONTENT_TYPES, KEYS), min_size=PER_EXAMPLE,
                              max_size=PER_EXAMPLE))
        def send_all(cases: list[tuple[bytes, str | None, str | None]]) -> None:
            for case in cases:
                send(*case)

        def send(body: bytes, content_type: str | None, key: str | None) -> None:
            headers = {}
            if content_type is not None:
                headers["content-type"] = content_type
            if key is not None:
                headers["x-api-key"] = key
            before, count_before = ledger.aggregates(), ledger.count()
            response = client.http.post("/transactions", body=body, headers=headers)
            status = response.status_code
            seen[status] = seen.get(status, 0) + 1
            answer = json.loads(response.body)
            if 400 <= status < 500:
                check_error_shape(answer)
                assert ledger.aggregates() == before and ledger.count() == count_before
                return
            assert status in (200, 201), (status, answer)
            assert key == KEY, "a 2xx without the right key"
            assert answers[status].is_valid(answer), answer
            parsed = json.loads(body)
            if "results" in answer:
                items = parsed["transactions"]
                created = [r for r in answer["results"] if r["status"] == "created"]
                for result in created:
                    item = items[result["index"]]
                    check_stored_item(item, store_answer(store, item["id"]), accepts)
                assert sum(answer["summary"].values()) == len(items)
                assert ledger.count() == count_before + len(created)
            else:
                check_stored_item(parsed, answer["transaction"], accepts)
                assert ledger.count() == count_before + (status == 201)

        send_all()
        assert client.http.get("/health").status_code == 200  # still up
    set_runtime(None)
    elapsed = time.monotonic() - started
    print(f"fuzz: {sum(seen.values())} requests in {elapsed:.1f}s, statuses {sorted(seen.items())}")
    assert sum(seen.values()) >= EXAMPLES
    assert {400, 401, 403, 413, 415} <= set(seen) and (200 in seen or 201 in seen)


def store_answer(store: SqliteStore, tx_id: str) -> dict[str, Any]:
    tx = store.get_transaction("demo", tx_id)
    assert tx is not None
    return tx.to_json()
