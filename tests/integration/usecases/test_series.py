"""GET /analytics/series: hourly points from the hour aggregates, on every store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.bootstrap import bootstrap, set_runtime
from chalicelib.domain.rules import RuleConfig
from chalicelib.domain.timeutil import parse_timestamp
from chalicelib.ports.store import Store
from chalicelib.usecases.analytics import Window, bank_analytics
from chalicelib.usecases.ledger import ingest
from chalicelib.usecases.series import MAX_HOURS, hourly_series
from tests.conftest import NOW, TEST_KEY
from tests.support.factories import raw_tx
from tests.support.settings import dev_settings

BANK = "demo"
RULES = RuleConfig()


def at(text: str) -> str:
    return f"2026-01-10T{text}Z"


SAMPLE = [
    raw_tx("a", amount="10.10", timestamp=at("14:05:00")),
    raw_tx("b", amount="0.20", type="debit", timestamp=at("14:59:59.5")),
    raw_tx("c", amount="15000.00", currency="EUR", timestamp=at("16:00:00")),  # flagged: large
    raw_tx("d", amount="7", currency="JPY", type="debit", timestamp=at("16:30:00")),
    raw_tx("e", amount="1.00", timestamp="2026-01-09T23:10:00+00:00"),  # before the window
]


class SeriesApi:
    """The app on one store with the demo key."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def get(self, query: str = "", key: str | None = TEST_KEY) -> tuple[int, Any]:
        headers = {"x-api-key": key} if key else {}
        answer = self.client.http.get("/analytics/series" + query, headers=headers)
        return answer.status_code, json.loads(answer.body)


@pytest.fixture
def series_api(store: Store) -> Iterator[SeriesApi]:
    set_runtime(bootstrap(dev_settings(demo_api_key=TEST_KEY), store))
    try:
        with Client(app) as client:
            yield SeriesApi(client)
    finally:
        set_runtime(None)


def window(since: str, until: str) -> Window:
    return Window(parse_timestamp(since), parse_timestamp(until))


def test_each_hour_has_its_counts_and_empty_hours_are_zero(store: Store) -> None:
    ingest(store, BANK, SAMPLE, NOW, RULES)
    body = hourly_series(store, BANK, window(at("13:00:00"), at("18:00:00")), NOW)
    assert [(h["hour"], h["count"], h["flagged"]) for h in body["hours"]] == [
        (at("13:00:00"), 0, 0), (at("14:00:00"), 2, 0), (at("15:00:00"), 0, 0),
        (at("16:00:00"), 2, 1), (at("17:00:00"), 0, 0)]
    assert body["window"] == {"since": at("13:00:00"), "until": at("18:00:00")}


def test_money_per_hour_is_exact_text_per_currency_never_mixed(store: Store) -> None:
    ingest(store, BANK, SAMPLE, NOW, RULES)
    hours = hourly_series(store, BANK, window(at("14:00:00"), at("17:00:00")), NOW)["hours"]
    assert hours[0]["currencies"] == {"USD": {"credits": {"count": 1, "total": "10.10"},
                                              "debits": {"count": 1, "total": "0.20"}}}
    assert hours[1]["currencies"] == {}
    assert hours[2]["currencies"] == {
        "EUR": {"credits": {"count": 1, "total": "15000.00"},
                "debits": {"count": 0, "total": "0.00"}},
        "JPY": {"credits": {"count": 0, "total": "0"}, "debits": {"count": 1, "total": "7"}}}


def test_the_series_adds_up_to_the_analytics_of_the_same_window(store: Store) -> None:
    ingest(store, BANK, SAMPLE, NOW, RULES)
    span = window("2026-01-09T20:00:00Z", at("18:00:00"))
    points = hourly_series(store, BANK, span, NOW)["hours"]
    totals = bank_analytics(store, BANK, span, NOW)
    assert sum(h["count"] for h in points) == totals["count"] == 5
    assert sum(h["flagged"] for h in points) == totals["flags"]["count"] == 1


def test_the_route_defaults_to_the_24_hours_up_to_the_end_of_this_hour(
        series_api: SeriesApi) -> None:
    status, body = series_api.get()
    assert status == 200
    assert len(body["hours"]) == 24
    until = parse_timestamp(body["window"]["until"])
    assert until - parse_timestamp(body["window"]["since"]) == timedelta(hours=24)
    assert until.minute == until.second == 0
    assert parse_timestamp(body["generated_at"]) < until <= parse_timestamp(
        body["generated_at"]) + timedelta(hours=1)


def test_the_route_widens_to_whole_hours_and_answers_from_either_store(
        store: Store, series_api: SeriesApi) -> None:
    ingest(store, BANK, SAMPLE, NOW, RULES)
    status, body = series_api.get(f"?since={at('14:30:00')}&until={at('16:10:00')}")
    assert status == 200
    assert [(h["hour"][11:13], h["count"]) for h in body["hours"]] == [
        ("14", 2), ("15", 0), ("16", 2)]


def test_a_window_of_31_days_is_served_and_a_longer_one_is_400(series_api: SeriesApi) -> None:
    since = parse_timestamp(at("00:00:00"))
    longest = (since + timedelta(hours=MAX_HOURS)).strftime("%Y-%m-%dT%H:%M:%SZ")
    status, body = series_api.get(f"?since={at('00:00:00')}&until={longest}")
    assert status == 200 and len(body["hours"]) == MAX_HOURS
    too_long = (since + timedelta(hours=MAX_HOURS, minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    status, body = series_api.get(f"?since={at('00:00:00')}&until={too_long}")
    assert status == 400
    assert body["Code"] == "ValidationError"
    assert body["Details"] == [{"field": "since",
                                "message": "the window may span at most 744 hours (31 days)"}]


@pytest.mark.parametrize(("query", "field"), [
    ("?since=yesterday", "since"),
    ("?until=2026-01-10T14:00:00", "until"),  # no timezone
    (f"?since={at('15:00:00')}&until={at('14:00:00')}", "until"),
    (f"?since={at('14:00:00')}&until={at('14:00:00')}", "until"),
    ("?since=2999-01-01T00:00:00Z", "since"),  # after the default until
    ("?step=day", "step"),
    ("?since=0001-01-01T00:30:00Z&until=0001-01-01T00:40:00Z", None),  # valid: one hour
])
def test_bad_parameters_are_400_in_the_error_shape(series_api: SeriesApi, query: str,
                                                    field: str | None) -> None:
    status, body = series_api.get(query)
    if field is None:
        assert status == 200 and len(body["hours"]) == 1
        return
    assert status == 400, body
    assert set(body) == {"Code", "Message", "Details"}
    assert [d["field"] for d in body["Details"]] == [field]


def test_an_until_in_year_1_without_since_is_400_not_500(series_api: SeriesApi) -> None:
    status, body = series_api.get("?until=0001-01-01T05:00:00Z")
    assert status == 400
    assert body["Details"][0]["field"] == "since"


def test_the_series_needs_the_key(series_api: SeriesApi) -> None:
    assert series_api.get(key=None)[0] == 401
    assert series_api.get(key="tsk_not-a-key")[0] == 403
