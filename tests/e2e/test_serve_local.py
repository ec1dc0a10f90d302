"""scripts.serve_local: chalice's local server for the same app, minus the keep-alive stall."""

from __future__ import annotations

import http.client
import json
import signal
import time
from pathlib import Path

import pytest

from scripts.demo import LocalServer
from simulator.options import DEV_KEY

pytestmark = [pytest.mark.e2e]


def post_ms(url: str, ids: list[str], reuse: bool) -> list[float]:
    """The time of each POST, over one reused connection or a new connection each."""
    host, port = url.removeprefix("http://").split(":")
    headers = {"x-api-key": DEV_KEY, "content-type": "application/json"}
    times = []
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        for tx_id in ids:
            body = {"id": tx_id, "account": "A123", "amount": "1.00", "type": "credit",
                    "timestamp": "2026-01-10T14:00:00Z"}
            began = time.perf_counter()
            conn.request("POST", "/transactions", json.dumps(body), headers)
            response = conn.getresponse()
            response.read()
            times.append((time.perf_counter() - began) * 1000)
            assert response.status == 201
            if not reuse:
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=60)
    finally:
        conn.close()
    return times


def test_serves_the_app_on_the_dev_stage_with_keepalive_without_the_nagle_stall(
        tmp_path: Path) -> None:
    # With Nagle on, every answer on a reused connection after the first waits for the
    # client's delayed ACK (~40 ms, a timer, whatever the CPU); chalice local has it. The
    # baseline is chalice local itself, in the same run: serve_local's fastest reused request
    # must take under half of chalice local's fastest (no margin in milliseconds: minima shrug
    # off a busy machine's pauses, and the timer is the whole difference).
    with LocalServer(str(tmp_path / "chalice.db"), kind="chalice") as stalled:
        baseline = post_ms(stalled.url, [f"b{i}" for i in range(12)], reuse=True)[1:]
    with LocalServer(str(tmp_path / "ledger.db")) as server:
        reused = post_ms(server.url, [f"k{i}" for i in range(30)], reuse=True)[1:]
        assert min(reused) < min(baseline) / 2, (sorted(reused)[:5], sorted(baseline)[:5])
        conn = http.client.HTTPConnection(server.url.removeprefix("http://"), timeout=60)
        conn.request("GET", "/analytics", headers={"x-api-key": DEV_KEY})  # dev stage's key
        body = json.loads(conn.getresponse().read())
        conn.close()
        assert body["count"] == 30 and body["totals"]["USD"]["credits"]["total"] == "30.00"
        # two keys (two banks) in one request: chalice's event would keep only the first
        conn = http.client.HTTPConnection(server.url.removeprefix("http://"), timeout=60)
        conn.putrequest("GET", "/analytics")
        conn.putheader("x-api-key", "tsk_another-bank")
        conn.putheader("x-api-key", DEV_KEY)
        conn.endheaders()
        twice = conn.getresponse()
        refused = json.loads(twice.read())
        conn.close()
        assert twice.status == 400 and refused["Code"] == "BadRequestError"


def test_stops_on_sigterm_with_status_zero(tmp_path: Path) -> None:
    server = LocalServer(str(tmp_path / "ledger.db"))
    server.start()
    try:
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=60) == 0
    finally:
        server.stop()
