"""Query parameters at the edges: analytics windows at the calendar's ends are 400s, not 500s;
history cursors are signed (HMAC-SHA256, per-deployment secret), so a forged, edited or
foreign cursor, or one carrying odd unicode, is a 400."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest

from chalicelib.config import ConfigError, load_settings
from chalicelib.ports.store import Store
from tests.conftest import Api
from tests.support.edges import check_error_shape, snapshot, store_api
from tests.support.factories import raw_tx

__all__ = ["store_api"]


def b64(raw: str | bytes) -> str:
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def bad(api: Api, path: str, field: str) -> None:
    response = api.get(path)
    assert response.status_code == 400, (path, response.status_code, response.body)
    body = json.loads(response.body)
    check_error_shape(body)
    assert field in [d["field"] for d in body["Details"]], body


# Each window on every store (SQLite, moto, DynamoDB Local): DynamoDB refuses some queries that
# SQLite answers (a BETWEEN whose bounds are inverted), so the validation must come first.
EDGE_WINDOWS = [
    ("until=9999-12-31T23:30:00Z", "until"),
    ("until=9999-12-31T23:59:59.999999Z", "until"),
    ("until=0001-01-01T00:00:00Z", "until"),
    ("since=0001-01-01T00:00:00Z&until=0001-01-01T00:00:00Z", "until"),
    ("until=9999-12-31T23:00:00-00:59", "until"),
    ("since=0001-01-01T00:30:00%2B00:31", "since"),
    ("since=9999-12-31T23:59:59-00:01", "since"),
    # `since` after the end of the window `until` defaults to (the hour after this one)
    ("since=9999-12-31T23:59:59Z", "since"),
    ("since=2999-01-01T00:00:00Z", "since"),
]
INSIDE_WINDOWS = [
    "since=0001-01-01T00:00:00Z",
    "until=9999-12-31T23:00:00Z", "until=0001-01-01T00:00:01Z", "until=0001-01-01T00:30:00Z",
    "since=0001-01-01T00:30:00%2B00:30",
    "since=0001-01-01T00:00:00Z&until=9999-12-31T22:00:00Z",
    "since=9999-12-31T21:00:00Z&until=9999-12-31T22:00:00Z",
]


def test_analytics_windows_at_the_edges_are_400_on_every_store(
        store_api: tuple[Api, Store]) -> None:
    api, store = store_api
    api.post(json.dumps(raw_tx("w1")))
    before = snapshot(store)
    for query, field in EDGE_WINDOWS:
        bad(api, f"/analytics?{query}", field)
        bad(api, f"/analytics/series?{query}", field)
    assert snapshot(store) == before


def test_analytics_windows_inside_the_calendar_are_answered_on_every_store(
        store_api: tuple[Api, Store]) -> None:
    api, _ = store_api
    api.post(json.dumps(raw_tx("w1")))
    for query in INSIDE_WINDOWS:
        response = api.get(f"/analytics?{query}")
        assert response.status_code == 200, (query, response.body)


def first_cursor(api: Api, account: str = "PAGED") -> str:
    api.post(json.dumps({"transactions": [
        raw_tx(f"{account}{i}", account=account, timestamp=f"2026-01-10T10:{i:02d}:00Z")
        for i in range(3)]}))
    page = json.loads(api.get(f"/accounts/{account}/transactions?limit=1").body)
    cursor = page["next_cursor"]
    assert isinstance(cursor, str)
    return cursor


def test_a_signed_cursor_walks_and_an_edited_one_is_400(api: Api) -> None:
    cursor = first_cursor(api)
    ok = api.get(f"/accounts/PAGED/transactions?limit=1&cursor={cursor}")
    assert ok.status_code == 200 and json.loads(ok.body)["items"][0]["id"] == "PAGED1"
    payload, mac = cursor.split(".")
    position = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = b64(json.dumps([position[0], "PAGED0"])) + "." + mac  # same MAC, other position
    bad(api, f"/accounts/PAGED/transactions?cursor={forged}", "cursor")
    flipped = cursor[:-1] + ("A" if cursor[-1] != "A" else "B")
    bad(api, f"/accounts/PAGED/transactions?cursor={flipped}", "cursor")
    first_cursor(api, "OTHER")
    bad(api, f"/accounts/OTHER/transactions?cursor={cursor}", "cursor")  # another account's


@pytest.mark.parametrize("cursor", [
    # unsigned, the old form: base64 JSON, here with a lone surrogate SQLite cannot bind
    b64('["2026-01-10T10:00:00000000","\\ud800"]'),
    b64(json.dumps(["2026-01-10T10:00:00000000", "p1"])),
    b64('["2026-01-10T10:00:00000000","\\ud800"]') + "." + "A" * 43,
    "", ".", "a.b", "A" * 5000, "é", "\ud800", "\U0001f642" * 3, "%00", "a b",
    b64("[]") + "." + "A" * 43,
])
def test_forged_cursors_are_400(api: Api, cursor: str) -> None:
    first_cursor(api)
    bad(api, "/accounts/PAGED/transactions?cursor="
        + quote(cursor, safe="", errors="surrogatepass"), "cursor")


def test_cursor_secret_is_required_off_the_local_stages() -> None:
    with pytest.raises(ConfigError, match="CURSOR_SECRET"):
        load_settings({"STAGE": "prod"})
    with pytest.raises(ConfigError, match="CURSOR_SECRET"):
        load_settings({"STAGE": "prod", "CURSOR_SECRET": "short"})
    assert load_settings({"STAGE": "prod", "CURSOR_SECRET": "x" * 32}).cursor_secret == "x" * 32
    dev = load_settings({"STAGE": "dev"}).cursor_secret
    assert len(dev) >= 32 and dev != load_settings({"STAGE": "dev"}).cursor_secret
