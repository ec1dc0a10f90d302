"""The sender against a real local HTTP server that misbehaves on purpose (no mocks)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from chalicelib import analytics, service
from chalicelib.config import Settings
from chalicelib.errors import AppError
from chalicelib.runtime import Runtime
from chalicelib.storage.sqlite.store import SqliteStore
from chalicelib.timeutil import now_utc
from scripts.demo import PROJECT_DIR, free_port
from simulator.cli import main

KEY = "flaky-key"


class FlakyApi(ThreadingHTTPServer):
    """The real ingest service behind http.server, with faults switched on by the test."""

    daemon_threads = True

    def __init__(self, db: str) -> None:
        super().__init__(("127.0.0.1", 0), FlakyHandler)
        self.runtime = Runtime(Settings(sqlite_path=db), SqliteStore(db))
        self.fail_next = 0  # answer this many POSTs with 503 first
        self.drop_after_commit = 0  # commit this many POSTs, then hang up without answering
        self.always_fail = False
        self.skew = Decimal(0)  # added to the USD credit total GET /analytics reports
        self.posts = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class FlakyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: FlakyApi

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/health":
            return self._answer(200, {"status": "ok", "store": "sqlite"})
        if self.headers.get("x-api-key") != KEY:
            return self._answer(403, {"Code": "ForbiddenError", "Message": "bad key"})
        if self.path.startswith("/transactions/"):
            try:
                found = analytics.get_transaction(self.server.runtime.store, "demo",
                                                  self.path.rsplit("/", 1)[-1])
            except AppError as exc:
                return self._answer(exc.status, exc.to_json())
            return self._answer(200, found)
        body = service.get_analytics(self.server.runtime, "demo", {}, now_utc())
        usd = body["totals"].get("USD")
        if usd and self.server.skew:
            usd["credits"]["total"] = str(Decimal(usd["credits"]["total"]) + self.server.skew)
        self._answer(200, body)

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length", 0)))
        srv = self.server
        with srv.lock:
            srv.posts += 1
            fail = srv.always_fail or srv.fail_next > 0
            srv.fail_next -= 1 if srv.fail_next > 0 else 0
            drop = not fail and srv.drop_after_commit > 0
            srv.drop_after_commit -= 1 if drop else 0
        if fail:
            return self._answer(503, {"Code": "ServiceUnavailableError", "Message": "try later"})
        try:
            status, body = service.post_transactions(srv.runtime, "demo",
                                                     self.headers.get("content-type"), raw,
                                                     now_utc())
        except AppError as exc:  # what app.py does: the one error shape
            status, body = exc.status, exc.to_json()
        if drop:  # committed, but the answer is lost: the client must retry and learn "duplicate"
            self.close_connection = True
            self.connection.shutdown(2)
            return None
        self._answer(status, json.loads(json.dumps(body, default=str)))


@pytest.fixture
def flaky(tmp_path: Path) -> Iterator[FlakyApi]:
    server = FlakyApi(str(tmp_path / "flaky.db"))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def simulate(url: str, *args: str, key: str = KEY) -> int:
    return main(["--url", url, "--api-key", key, "--no-progress", "--seed", "3", *args])


def report(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def test_503_twice_is_retried_and_every_transaction_counted_once(flaky: FlakyApi,
                                                                  tmp_path: Path) -> None:
    flaky.fail_next = 2
    out = tmp_path / "report.json"
    assert simulate(flaky.url, "--count", "40", "--batch-size", "10", "--concurrency", "1",
                    "--verify", "--output", str(out)) == 0
    result = report(out)
    assert flaky.posts == 4 + 2
    assert result["errors"] == 0 and result["unexpected"] == 0
    assert result["verify"] == {"ok": True, "drift": []}


def test_answer_lost_after_commit_is_retried_and_still_verifies(flaky: FlakyApi,
                                                                 tmp_path: Path) -> None:
    flaky.drop_after_commit = 1
    out = tmp_path / "report.json"
    assert simulate(flaky.url, "--count", "30", "--batch-size", "10", "--concurrency", "1",
                    "--invalid-rate", "0", "--duplicate-rate", "0", "--verify",
                    "--output", str(out)) == 0
    result = report(out)
    assert result["duplicates"] == 10  # the retried batch was already stored: ours, counted
    assert result["verify"]["ok"]


def test_answers_lost_on_every_retry_are_read_back_so_verify_stays_exact(
        flaky: FlakyApi, tmp_path: Path) -> None:
    # The first batch is stored but no attempt's answer arrives: the simulator gives up on it
    # (an error, exit 1), yet --verify must not call the API's true totals drift.
    flaky.drop_after_commit = 3
    out = tmp_path / "report.json"
    assert simulate(flaky.url, "--count", "30", "--batch-size", "10", "--concurrency", "1",
                    "--retries", "2", "--invalid-rate", "0", "--duplicate-rate", "0",
                    "--verify", "--output", str(out)) == 1
    result = report(out)
    assert result["errors"] == 10 and result["created"] == 20
    assert result["verify"] == {"ok": True, "drift": []}


def test_single_requests_retry_too(flaky: FlakyApi, tmp_path: Path) -> None:
    flaky.fail_next = 3
    assert simulate(flaky.url, "--count", "15", "--concurrency", "2", "--verify") == 0


def test_transport_errors_after_retries_exit_non_zero(flaky: FlakyApi, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    flaky.always_fail = True
    out = tmp_path / "report.json"
    assert simulate(flaky.url, "--count", "5", "--retries", "2", "--output", str(out)) == 1
    assert report(out)["errors"] == 5
    assert flaky.posts == 5 * 3
    assert "HTTP 503" in capsys.readouterr().err


def test_drift_of_one_cent_is_reported_and_fails_the_run(
        flaky: FlakyApi, capsys: pytest.CaptureFixture[str]) -> None:
    flaky.skew = Decimal("0.01")
    status = simulate(flaky.url, "--count", "50", "--batch-size", "25", "--currencies", "USD",
                      "--verify")
    assert status == 1
    assert "DRIFT" in capsys.readouterr().out


def test_refused_connection_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert simulate(f"http://127.0.0.1:{free_port()}", "--count", "1") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "connection refused" in err


def test_bad_key_is_one_clear_line(flaky: FlakyApi, capsys: pytest.CaptureFixture[str]) -> None:
    assert simulate(flaky.url, "--count", "1", key="wrong") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "refused the key (HTTP 403" in err
    assert flaky.posts == 0


@pytest.mark.parametrize("url", ["localhost:8000", "ftp://x", "http://[::1"])
def test_wrong_url_is_one_clear_line(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert simulate(url, "--count", "1") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: --url")


def test_rate_is_steady(flaky: FlakyApi, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    assert simulate(flaky.url, "--count", "60", "--rate", "120", "--output", str(out)) == 0
    # 60 at 120/s take about half a second: a burst would be far quicker; the upper bound only
    # catches a limiter that stalls (loose, as a busy CI machine may be slow)
    assert 0.4 <= report(out)["seconds"] <= 5.0


def test_ctrl_c_stops_cleanly_and_prints_the_summary_so_far(flaky: FlakyApi) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "simulator", "--url", flaky.url, "--api-key",
                             KEY, "--duration", "30", "--rate", "100", "--no-progress"],
                            cwd=PROJECT_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + 15
        while flaky.posts < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == 130
    assert "simulator run" in out and "created" in out
    assert "Traceback" not in err


def test_async_receipt_path_drops_the_clients_base_path() -> None:
    from simulator.poller import receipt_path

    assert receipt_path("/api/ingest/abc", "/api") == "/ingest/abc"
    assert receipt_path("https://x.example/api/ingest/abc", "/api") == "/ingest/abc"
    assert receipt_path("/ingest/abc", "") == "/ingest/abc"


def test_async_failed_items_are_errors_and_final_statuses_are_classified() -> None:
    from simulator.plan import Planned
    from simulator.tally import Tally
    from simulator.transport import Reply
    from simulator.wire import encode

    items = [Planned({"id": f"x{i}"}, "valid", Decimal("1.00")) for i in range(2)]
    request = encode(items, True)
    tally = Tally()
    tally.queued(request, 0.01)
    tally.settled(request, Reply(202, {}, 1, False),
                  {"status": "done", "results": [{"index": 1, "status": "failed"},
                                                 {"index": 0, "status": "created"}]}, 0.5)
    assert tally.counts["created"] == 1 and tally.counts["error"] == 1
    assert tally.unexpected == 1 and tally.requests == 1 and tally.completions == [0.5]
