"""Read routes through the test client: windows, accounts, cursor pages, not-found."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Api
from tests.support.edges import refused
from tests.support.factories import raw_tx


def post_batch(api: Api, *items: dict[str, Any]) -> dict[str, Any]:
    response = api.post(json.dumps({"transactions": list(items)}))
    assert response.status_code == 200
    return dict(json.loads(response.body))


def test_batch_results_keep_request_order_and_summarise(api: Api) -> None:
    answer = post_batch(api, raw_tx("a"), {"id": "b"}, raw_tx("a"), raw_tx("a", amount="1"),
                        raw_tx("c", amount="12000.50"))
    assert [(r["index"], r["id"], r["status"]) for r in answer["results"]] == [
        (0, "a", "created"), (1, "b", "rejected"), (2, "a", "duplicate"), (3, "a", "conflict"),
        (4, "c", "created")]
    assert answer["results"][4]["flags"] == ["large_amount"]
    assert answer["summary"] == {"created": 2, "duplicate": 1, "conflict": 1, "rejected": 1}


def test_analytics_window_counts_only_its_hours(api: Api) -> None:
    post_batch(api, *[raw_tx(f"h{h}", amount="10.00", timestamp=f"2026-01-10T{h:02d}:30:00Z")
                      for h in range(10, 14)])
    body = json.loads(api.get("/analytics?since=2026-01-10T11:15:00Z&until=2026-01-10T13:00:00Z")
                      .body)
    assert body["count"] == 2
    assert body["totals"]["USD"]["credits"] == {"count": 2, "total": "20.00"}
    assert body["window"] == {"since": "2026-01-10T11:00:00Z", "until": "2026-01-10T13:00:00Z"}


def test_totals_never_mix_currencies(api: Api) -> None:
    post_batch(api, raw_tx("u", amount="1.50"), raw_tx("e", amount="2.25", currency="EUR"),
               raw_tx("y", amount="300", currency="JPY", type="debit"))
    totals = json.loads(api.get("/analytics").body)["totals"]
    assert totals["USD"]["net"] == "1.50" and totals["EUR"]["net"] == "2.25"
    assert totals["JPY"]["debits"]["total"] == "300" and totals["JPY"]["net"] == "-300"
    assert totals["JPY"]["max_transaction"]["amount"] == "300"


def test_account_summary_and_unknown_account(api: Api) -> None:
    post_batch(api, raw_tx("a1", account="ACC1", amount="100"),
               raw_tx("a2", account="ACC1", amount="30", type="debit",
                      timestamp="2026-01-10T16:00:00Z"))
    body = json.loads(api.get("/accounts/ACC1").body)
    assert body["count"] == 2 and body["last_activity"] == "2026-01-10T16:00:00Z"
    assert body["totals"]["USD"]["net"] == "70.00"
    refused(api.get("/accounts/NOPE"), 404, "NotFoundError")


def test_account_history_cursor_walks_every_transaction_once(api: Api) -> None:
    post_batch(api, *[raw_tx(f"p{i}", account="PAGED", timestamp=f"2026-01-10T10:{i:02d}:00Z")
                      for i in range(25)])
    seen, cursor = [], None
    while True:
        query = "?limit=10" + (f"&cursor={cursor}" if cursor else "")
        page = json.loads(api.get(f"/accounts/PAGED/transactions{query}").body)
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"p{i}" for i in range(24, -1, -1)]


def test_flagged_transactions_appear_newest_first(api: Api) -> None:
    post_batch(api, raw_tx("big1", amount="15000.50", timestamp="2026-01-10T10:00:00Z"),
               raw_tx("big2", amount="16000.50", timestamp="2026-01-10T11:00:00Z"),
               raw_tx("small", amount="5"))
    flags = json.loads(api.get("/analytics").body)["flags"]
    assert flags["count"] == 2 and flags["by_rule"] == {"large_amount": 2}
    assert [t["id"] for t in flags["recent"]] == ["big2", "big1"]


def test_unknown_transaction_is_404_and_bad_id_is_400(api: Api) -> None:
    refused(api.get("/transactions/missing"), 404, "NotFoundError")
    refused(api.get("/transactions/bad%20id"), 400, "ValidationError", field="id")


@pytest.mark.parametrize("account", ["...", "a:b", "-", "A.B", "_", ":"])
def test_odd_but_valid_accounts_are_stored_and_read_back_by_path(api: Api, account: str) -> None:
    assert api.post(json.dumps(raw_tx(f"odd{len(account)}{account}", account=account))
                    ).status_code == 201
    summary = api.get(f"/accounts/{account}")
    assert summary.status_code == 200, summary.body
    assert json.loads(summary.body)["account"] == account


@pytest.mark.parametrize(("path", "location"), [
    ("/dashboard/", "/dashboard"), ("/dashboard/?refresh=60", "/dashboard?refresh=60")])
def test_the_dashboard_with_a_trailing_slash_redirects_to_the_page_its_links_expect(
        api: Api, path: str, location: str) -> None:
    response = api.client.http.get(path)
    assert response.status_code == 301, response.body
    assert response.headers["Location"] == location
