"""The sender against a real local HTTP server that misbehaves on purpose (no mocks)."""

from __future__ import annotations

import contextlib
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

from chalicelib.adapters.sqlite.sqlite_store import SqliteStore
from chalicelib.bootstrap import bootstrap
from chalicelib.config import Settings
from chalicelib.domain.timeutil import now_utc
from chalicelib.errors import AppError
from chalicelib.usecases import analytics, queries
from chalicelib.usecases import ingest_sync as service
from scripts.demo import PROJECT_DIR, free_port
from simulator.cli import main

pytestmark = [pytest.mark.e2e]

KEY = "flaky-key"


class FlakyApi(ThreadingHTTPServer):
    """The real ingest service behind http.server, with faults switched on by the test."""

    daemon_threads = True

    def __init__(self, db: str) -> None:
        super().__init__(("127.0.0.1", 0), FlakyHandler)
        self.runtime = bootstrap(Settings(sqlite_path=db), SqliteStore(db))
        self.fail_next = 0  # answer this many POSTs with 503 first
        self.drop_after_commit = 0  # commit this many POSTs, then hang up without answering
        self.always_fail = False
        self.retry_inside = 0  # commit this many POSTs, then write them again and answer that
        self.hang_after = -1  # from this many POSTs on: commit, then never answer
        self.release = threading.Event()  # lets hanging handlers go at teardown
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
        body = queries.get_analytics(self.server.runtime, "demo", {}, now_utc())
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
            hang = 0 <= srv.hang_after < srv.posts
            again = not fail and srv.retry_inside > 0
            srv.retry_inside -= 1 if again else 0
        if fail:
            return self._answer(503, {"Code": "ServiceUnavailableError", "Message": "try later"})
        try:
            for _ in range(2 if again else 1):  # like a store call retried after it committed
                status, body = service.post_transactions(srv.runtime, "demo",
                                                         self.headers.get("content-type"), raw,
                                                         now_utc(), "sender-test")
        except AppError as exc:  # what app.py does: the one error shape
            status, body = exc.status, exc.to_json()
        if hang:  # committed, then the answer never comes (a server that stalls)
            srv.release.wait()
            drop = True
        if drop:  # committed, but the answer is lost: the client must retry and learn "duplicate"
            self.close_connection = True
            with contextlib.suppress(OSError):  # the client may have hung up first
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
        server.release.set()
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
    assert result["verify"] == {"ok": True, "drift": [], "unknown": 0}


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
    assert result["unknown"] == 10 and result["created"] == 20  # unknown until read back
    assert result["verify"] == {"ok": True, "drift": [], "unknown": 0}


def test_single_requests_retry_too(flaky: FlakyApi, tmp_path: Path) -> None:
    flaky.fail_next = 3
    assert simulate(flaky.url, "--count", "15", "--concurrency", "2", "--verify") == 0


def test_transport_errors_after_retries_exit_non_zero(flaky: FlakyApi, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    flaky.always_fail = True
    out = tmp_path / "report.json"
    assert simulate(flaky.url, "--count", "5", "--retries", "2", "--output", str(out)) == 1
    # a 503 may come after the server stored something: the outcome is unknown, not "not sent"
    assert report(out)["unknown"] == 5 and report(out)["errors"] == 0
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
    # 60 at 120/s take about half a second: a burst would be far quicker (a slow machine only
    # makes it slower); the upper bound only catches a limiter that stalls, loose for busy CI
    assert 0.4 <= report(out)["seconds"] <= 60.0


@pytest.mark.parametrize("fault", ["hang-up after commit", "client timeout after commit"])
def test_answer_lost_after_commit_with_no_retry_left_is_read_back_and_verifies(
        fault: str, flaky: FlakyApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The answer to a committed request never arrives and there is no retry left: the
    # simulator cannot know whether it was stored. Counting it "not sent" made --verify report
    # DRIFT on a slow server (the API moved by more than the simulator thought it sent); now
    # it is unknown, and --verify reads each one back before comparing.
    if fault == "hang-up after commit":
        flaky.drop_after_commit = 1
        timeout = "30"
    else:  # the handler commits, then stalls until teardown: the client's timeout must fire
        flaky.hang_after = 0
        timeout = "0.5"
    out = tmp_path / "report.json"
    status = simulate(flaky.url, "--count", "10", "--batch-size", "10", "--concurrency", "1",
                      "--invalid-rate", "0", "--duplicate-rate", "0", "--retries", "0",
                      "--timeout", timeout, "--verify", "--output", str(out))
    result = report(out)
    assert flaky.posts == 1
    assert result["unknown"] == 10 and result["created"] == 0 and result["errors"] == 0
    assert result["verify"] == {"ok": True, "drift": [], "unknown": 0}  # all 10 read back
    assert "verify: OK, analytics moved exactly" in capsys.readouterr().out
    assert status == 1  # a request that got no answer is still worth a non-zero exit


def test_duplicate_on_first_delivery_is_a_range_not_drift(
        flaky: FlakyApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Seen on DynamoDB behind a slow moto: the store's client timed out on a write that had
    # committed and retried it, so the API answered "duplicate" to the request that created
    # the transactions. Stored before this run or by it, the simulator cannot tell: a range.
    flaky.retry_inside = 1
    out = tmp_path / "report.json"
    status = simulate(flaky.url, "--count", "20", "--batch-size", "10", "--concurrency", "1",
                      "--invalid-rate", "0", "--duplicate-rate", "0", "--verify",
                      "--output", str(out))
    result = report(out)
    assert result["duplicates"] == 10 and result["unclaimed_duplicates"] == 10
    assert result["verify"] == {"ok": True, "drift": [], "unknown": 10}
    assert "10 of the 10 transaction(s) whose outcome was unknown; 10 answered duplicate" \
        in capsys.readouterr().out
    assert status == 0


def test_a_rerun_of_the_same_data_verifies_with_nothing_moved(
        flaky: FlakyApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # replays in the stream too: a replay of a "duplicate" says nothing more about its origin
    args = ("--count", "40", "--batch-size", "10", "--start", "2026-01-05T10:00:00Z",
            "--invalid-rate", "0", "--duplicate-rate", "0.3", "--verify")
    assert simulate(flaky.url, *args) == 0
    capsys.readouterr()
    out = tmp_path / "report.json"
    assert simulate(flaky.url, *args, "--output", str(out)) == 0
    assert report(out)["created"] == 0 and report(out)["unclaimed_duplicates"] > 0
    assert " 0 of the " in capsys.readouterr().out


def test_unknown_outcomes_do_not_hide_real_drift(flaky: FlakyApi, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    # The range is only as wide as the unknown transactions: a cent beyond it is DRIFT.
    flaky.drop_after_commit = 1
    flaky.skew = Decimal("0.01")
    out = tmp_path / "report.json"
    simulate(flaky.url, "--count", "10", "--batch-size", "10", "--currencies", "USD",
             "--invalid-rate", "0", "--duplicate-rate", "0", "--retries", "0", "--verify",
             "--output", str(out))
    assert report(out)["verify"]["ok"] is False
    assert "DRIFT" in capsys.readouterr().out


def hear_ctrl_c() -> None:
    """In the child before exec: take SIGINT's default action back. A suite started in the
    background (`make test &`, nohup, some CI runners) inherits SIGINT ignored, and Python then
    never turns Ctrl-C into KeyboardInterrupt: the simulator would not hear it at all."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_abandons_requests_in_flight_and_prints_the_summary_at_once(
        flaky: FlakyApi) -> None:
    # After 5 answered POSTs every request stalls (committed, never answered); the client's
    # timeout is a minute. Ctrl-C must not wait for it: abandon, count unknown, exit 130.
    flaky.hang_after = 5
    proc = subprocess.Popen([sys.executable, "-X", "faulthandler", "-m", "simulator", "--url",
                             flaky.url, "--api-key", KEY, "--count", "1000", "--concurrency", "2",
                             "--timeout", "600",
                             "--invalid-rate", "0", "--duplicate-rate", "0", "--verify",
                             "--no-progress"],
                            cwd=PROJECT_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True, preexec_fn=hear_ctrl_c)
    try:
        deadline = time.monotonic() + 120  # generous: starting Python on a busy machine
        while flaky.posts < 7 and time.monotonic() < deadline:  # both workers now stalled
            time.sleep(0.05)
        assert flaky.posts == 7, "the simulator never got both workers stalled"
        proc.send_signal(signal.SIGINT)
        interrupted = time.monotonic()
        try:
            out, err = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:  # say where it hangs: faulthandler dumps every thread
            proc.send_signal(signal.SIGABRT)
            out, err = proc.communicate(timeout=30)
            raise AssertionError(f"no exit 300 s after Ctrl-C:\n{out}\n{err}") from None
        took = time.monotonic() - interrupted
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == 130, err
    # By design about 1 s; the bound only says Ctrl-C did not wait for the stalled requests'
    # 600 s client timeout (generous for a busy machine, as every bound here is).
    assert took < 300, f"Ctrl-C took {took:.1f} s"
    assert "Traceback" not in err
    assert "2 request(s) in flight abandoned" in err
    assert "simulator run" in out and "unknown (maybe stored)" in out
    assert "verify: OK" in out and "whose outcome was unknown" in out


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
    tally.queued(tally.begin(request), 0.01)
    tally.settled(request, Reply(202, {}, 1, False),
                  {"status": "done", "results": [{"index": 1, "status": "failed"},
                                                 {"index": 0, "status": "created"}]}, 0.5)
    assert tally.counts["created"] == 1 and tally.counts["error"] == 1
    assert tally.unexpected == 1 and tally.requests == 1 and tally.completions == [0.5]
