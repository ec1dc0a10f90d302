"""The API contract's happy paths and status codes, through Chalice's test client."""

from __future__ import annotations

import json

from tests.conftest import Api
from tests.support.edges import refused
from tests.support.factories import SEED_SAMPLE, raw_tx


def test_seed_sample_payload_is_created_with_amount_as_decimal_string(api: Api) -> None:
    response = api.post(SEED_SAMPLE)
    assert response.status_code == 201
    body = json.loads(response.body)
    assert body["status"] == "created"
    assert body["transaction"]["amount"] == "250.50"
    assert body["transaction"]["currency"] == "USD"
    assert body["transaction"]["flags"] == []


def test_identical_replay_is_200_duplicate_with_stored_transaction(api: Api) -> None:
    api.post(SEED_SAMPLE)
    replay = api.post(json.dumps(raw_tx("1", account="A123", amount="250.5",
                                        timestamp="2026-01-10T15:00:00+01:00")))
    assert replay.status_code == 200
    assert json.loads(replay.body)["status"] == "duplicate"


def test_duplicate_id_with_other_amount_is_409(api: Api) -> None:
    api.post(SEED_SAMPLE)
    response = api.post(json.dumps(raw_tx("1", amount="250.51")))
    assert response.status_code == 409
    assert json.loads(response.body)["Code"] == "ConflictError"


def test_health_needs_no_key_and_names_the_store(api: Api) -> None:
    response = api.client.http.get("/health")
    assert response.status_code == 200
    assert json.loads(response.body) == {"status": "ok", "store": "sqlite"}


def test_missing_key_is_401_and_unknown_key_is_403(api: Api) -> None:
    refused(api.client.http.get("/analytics"), 401, "UnauthorizedError", says="x-api-key")
    refused(api.get("/analytics", **{"x-api-key": "nope"}), 403, "ForbiddenError")
