"""scripts.serve_local: chalice's local server for the same app, minus the keep-alive stall."""

from __future__ import annotations

import http.client
import json
import signal
import time
from pathlib import Path

from scripts.demo import LocalServer
from simulator.options import DEV_KEY


def keepalive_ms(url: str, requests: int) -> float:
    """Mean time of POSTs over one reused connection."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    headers = {"x-api-key": DEV_KEY, "content-type": "application/json"}
    try:
        began = time.perf_counter()
        for i in range(requests):
            body = {"id": f"k{i}", "account": "A123", "amount": "1.00", "type": "credit",
                    "timestamp": "2026-01-10T14:00:00Z"}
            conn.request("POST", "/transactions", json.dumps(body), headers)
            response = conn.getresponse()
            response.read()
            assert response.status == 201
        return (time.perf_counter() - began) / requests * 1000
    finally:
        conn.close()


def test_serves_the_app_on_the_dev_stage_with_keepalive_without_the_nagle_stall(
        tmp_path: Path) -> None:
    with LocalServer(str(tmp_path / "ledger.db")) as server:
        # chalice local waits ~44 ms per keep-alive request; well under that means Nagle is off
        assert keepalive_ms(server.url, 30) < 20
        conn = http.client.HTTPConnection(server.url.removeprefix("http://"), timeout=10)
        conn.request("GET", "/analytics", headers={"x-api-key": DEV_KEY})  # dev stage's key
        body = json.loads(conn.getresponse().read())
        conn.close()
        assert body["count"] == 30 and body["totals"]["USD"]["credits"]["total"] == "30.00"


def test_stops_on_sigterm_with_status_zero(tmp_path: Path) -> None:
    server = LocalServer(str(tmp_path / "ledger.db"))
    server.start()
    try:
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=10) == 0
    finally:
        server.stop()
