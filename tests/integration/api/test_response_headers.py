"""Every answer of the app says `nosniff`; every API answer (JSON, errors, the redirect) says
`Cache-Control: no-store`, the dashboard's own 4xx included; the page and its files keep their
own caching."""

from __future__ import annotations

import pytest

from tests.conftest import Api
from tests.support.factories import SEED_SAMPLE


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/health", 200), ("GET", "/analytics", 200), ("GET", "/analytics?since=x", 400),
    ("GET", "/analytics/series", 200), ("GET", "/transactions/nope", 404),
    ("GET", "/accounts/A123", 404), ("GET", "/accounts/A123/transactions", 200),
    ("GET", "/ingest/nope", 404), ("POST", "/transactions", 201), ("PUT", "/analytics", 405),
    ("GET", "/dashboard?refresh=0", 400), ("GET", "/dashboard/static/nope.js", 404),
    ("GET", "/dashboard?x=1", 400), ("GET", "/", 302),
])
def test_api_answers_are_never_stored_nor_sniffed(api: Api, method: str, path: str,
                                                   status: int) -> None:
    if method == "POST":
        response = api.post(SEED_SAMPLE)
    else:
        response = api.client.http.request(method, path, headers=api.headers)
    assert response.status_code == status, response.body
    assert response.headers.get("X-Content-Type-Options") == "nosniff", response.headers
    assert response.headers.get("Cache-Control") == "no-store", response.headers


def test_an_unkeyed_or_refused_request_is_never_stored_either(api: Api) -> None:
    for headers in ({}, {"x-api-key": "wrong"}):
        response = api.client.http.get("/analytics", headers=headers)
        assert response.status_code in (401, 403)
        assert response.headers.get("Cache-Control") == "no-store"
        assert response.headers.get("X-Content-Type-Options") == "nosniff"


@pytest.mark.parametrize(("path", "cache"), [
    ("/dashboard", "no-cache"), ("/dashboard/static/app.js", "no-cache")])
def test_the_page_and_its_files_keep_their_own_caching_and_say_nosniff(
        api: Api, path: str, cache: str) -> None:
    response = api.client.http.get(path)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == cache
    assert response.headers["X-Content-Type-Options"] == "nosniff"
