"""POST /rules/replay as a job: 202 with where to fetch it, run by the queue's consumer off the
request path, answered by GET /rules/replay/{id} as the synchronous replay answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.bootstrap import Runtime, set_runtime
from chalicelib.usecases import replay_jobs, rules_admin
from chalicelib.usecases.api_keys import create_key
from chalicelib.usecases.consumer import consume_batch, drain
from scripts.redrive import redrive
from tests.conftest import Api
from tests.support.asyncing import install
from tests.support.factories import raw_tx

WINDOW = {"since": "2026-01-10T00:00:00Z", "until": "2026-01-11T00:00:00Z"}
CANDIDATE = {**WINDOW, "rules": [
    {"name": "large_amount", "builtin": "large_amount", "params": {"amount": "3000"}}]}


def post(api: Api, body: Any, prefer: str | None = "respond-async") -> Any:
    headers = {**api.headers, **({"Prefer": prefer} if prefer else {})}
    return api.client.http.post("/rules/replay", body=json.dumps(body), headers=headers)


def body_of(response: Any) -> Any:
    return json.loads(response.body)


@pytest.fixture
def parts(runtime: Runtime, tmp_path: Path) -> Iterator[Runtime]:
    made = install(runtime, tmp_path)
    yield made
    set_runtime(None)


@pytest.fixture
def stored(api: Api, parts: Runtime) -> Runtime:
    items = [raw_tx(f"r{i}", amount=f"{i}000.00", timestamp=f"2026-01-10T1{i}:00:00Z")
             for i in range(1, 5)]
    assert api.post(json.dumps({"transactions": items})).status_code == 200
    return parts


def test_an_async_replay_is_202_then_answers_as_the_synchronous_one(
        api: Api, stored: Runtime) -> None:
    synchronous = post(api, CANDIDATE, prefer=None)
    assert synchronous.status_code == 200
    response = post(api, CANDIDATE)
    assert response.status_code == 202, response.body
    assert response.headers["Preference-Applied"] == "respond-async"
    location = response.headers["Location"].removeprefix("/api")
    job = body_of(response)
    assert location == f"/rules/replay/{job['job_id']}" and job["status"] == "pending"
    assert body_of(api.get(location))["status"] == "pending"  # nothing ran on the request
    drain(stored)
    done = body_of(api.get(location))
    assert done["status"] == "done" and done["window"] == WINDOW
    assert done["result"] == body_of(synchronous)
    assert done["result"]["added"] == {"count": 2, "ids": ["r3", "r4"]}
    assert body_of(api.get("/transactions/r4"))["flags"] == []  # nothing written
    drain(stored)  # nothing left queued: a finished job is not run again
    assert body_of(api.get(location)) == done


def test_a_job_without_rules_replays_the_set_active_when_it_was_sent(
        api: Api, stored: Runtime) -> None:
    response = post(api, WINDOW)
    assert response.status_code == 202
    put = api.client.http.put("/rules", headers=api.headers, body=json.dumps({"rules": [
        {"name": "any", "when": "amount > 0"}]}))
    assert put.status_code == 200
    drain(stored)
    done = body_of(api.get(response.headers["Location"].removeprefix("/api")))
    assert done["result"]["candidate"]["by_rule"] == {}  # today's five: none of these fires


def test_a_replay_past_its_time_goes_on_as_a_job(
        api: Api, stored: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rules_admin, "REPLAY_BUDGET_S", -1.0)  # out of time at once
    response = post(api, CANDIDATE, prefer=None)
    assert response.status_code == 202, response.body
    assert "Preference-Applied" not in response.headers
    drain(stored)
    done = body_of(api.get(response.headers["Location"].removeprefix("/api")))
    assert done["status"] == "done" and done["result"]["transactions"] == 4


def test_a_bad_replay_is_refused_at_once_and_queues_nothing(
        api: Api, stored: Runtime) -> None:
    assert post(api, {**WINDOW, "until": "2026-03-01T00:00:00Z"}).status_code == 400
    assert post(api, {**WINDOW, "rules": [{"name": "x", "when": "nope +"}]}).status_code == 400
    assert stored.queue.depth() == (0, 0)


def test_a_job_is_the_banks_alone(api: Api, stored: Runtime) -> None:
    location = post(api, CANDIDATE).headers["Location"].removeprefix("/api")
    other_key, _ = create_key(stored.store, "other-bank")
    assert api.get(location, **{"x-api-key": other_key}).status_code == 404
    assert api.get(location).status_code == 200
    for unknown in ("/rules/replay/" + "0" * 32, "/rules/replay/not-an-id"):
        assert api.get(unknown).status_code == 404


def test_a_job_that_keeps_failing_reads_failed(
        api: Api, stored: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    location = post(api, CANDIDATE).headers["Location"].removeprefix("/api")

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("the scan broke")

    monkeypatch.setattr(replay_jobs, "replay", broken)
    for _ in range(stored.queue.max_receives + 1):
        batch = stored.queue.receive(10, 30)
        outcome = consume_batch(stored, batch)
        assert not outcome.done
        for message in outcome.failed:  # back at once, not after the backoff
            stored.queue.change_visibility(message.handle, 0)
    failed = body_of(api.get(location))
    assert failed["status"] == "failed" and "the scan broke" in failed["error"]
    monkeypatch.undo()  # mended: the operator redrives the dead letters, the job runs
    assert redrive(stored) == 1
    drain(stored)
    assert body_of(api.get(location))["status"] == "done"


def test_an_ingest_message_is_never_taken_for_a_job() -> None:
    tricky = raw_tx("t1", description='"job":"replay"')
    body = json.dumps({"v": 1, "items": [[0, tricky]]}, sort_keys=True, separators=(",", ":"))
    assert not replay_jobs.is_job(body)
    assert replay_jobs.is_job(json.dumps({"bank": "b", "id": "1", "job": "replay"},
                                         sort_keys=True, separators=(",", ":")))
