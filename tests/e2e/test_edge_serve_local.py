"""The local server as a careful front door: Content-Length checked before the body is read
and before the key check (400/411/413 in the error shape), chunked bodies refused, idle
connections closed, and an access log that masks what the app's log masks."""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.observability import MAX_LOGGED_CHARS, log
from chalicelib.web.framing import framing_error, log_path
from scripts.demo import LocalServer
from scripts.probe import read_answer
from simulator.options import DEV_KEY
from tests.support.edges import check_error_shape

pytestmark = [pytest.mark.e2e]

IBAN = "GB33BUKB20201555555555"


class AccessLoggedServer(LocalServer):
    """serve_local with its access log on, a one-second idle timeout and a three-second
    deadline for a whole request."""

    def __init__(self, sqlite_path: str) -> None:
        super().__init__(sqlite_path)
        self.command = [c for c in self.command if c != "--quiet"] + [
            "--idle-timeout", "1", "--request-deadline", "3"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AccessLoggedServer]:
    running = AccessLoggedServer(str(tmp_path_factory.mktemp("serve") / "ledger.db"))
    with running:
        yield running


def exchange(server: LocalServer, raw: bytes, read_timeout: float = 10) -> tuple[int, dict[
        str, str], bytes]:
    """Send raw bytes on a fresh connection; the status, headers and body of the answer."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=read_timeout) as sock:
        sock.sendall(raw)
        answer = read_answer(sock)
    return answer.status, answer.headers, answer.body


def request(method: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    head = f"{method} /transactions HTTP/1.1\r\nHost: x\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items())
    return head.encode() + b"\r\n" + body


@pytest.mark.parametrize(("headers", "status"), [
    ({"Content-Length": "abc"}, 400), ({"Content-Length": "-1"}, 400),
    ({"Content-Length": "1e3"}, 400), ({"Content-Length": "9" * 30}, 413),
    ({"Content-Length": str(2 * 1024 * 1024)}, 413), ({}, 411),
    ({"Transfer-Encoding": "chunked"}, 411),
    ({"Transfer-Encoding": "chunked", "Content-Length": "5"}, 400),
])
def test_framing_is_checked_before_the_key_and_the_body(server: LocalServer,
                                                        headers: dict[str, str],
                                                        status: int) -> None:
    # no key and no body sent: the answer must come from the headers alone
    code, answer_headers, body = exchange(server, request("POST", headers))
    assert code == status
    check_error_shape(json.loads(body))
    assert answer_headers["connection"].lower() == "close"
    assert answer_headers["x-content-type-options"] == "nosniff"
    assert answer_headers["cache-control"] == "no-store"


def test_a_chunked_body_is_refused_not_misread(server: LocalServer) -> None:
    payload = json.dumps({"id": "ch1", "account": "A1", "amount": "1.00", "type": "credit",
                          "timestamp": "2026-01-10T14:00:00Z"}).encode()
    chunked = f"{len(payload):x}\r\n".encode() + payload + b"\r\n0\r\n\r\n"
    code, _, body = exchange(server, request("POST", {
        "Transfer-Encoding": "chunked", "x-api-key": DEV_KEY,
        "Content-Type": "application/json"}, chunked))
    assert code == 411 and json.loads(body)["Code"] == "LengthRequiredError"
    code, _, _ = exchange(server, f"GET /transactions/ch1 HTTP/1.1\r\nHost: x\r\nx-api-key: "
                                  f"{DEV_KEY}\r\n\r\n".encode())
    assert code == 404  # nothing was stored


def test_idle_connections_are_closed(server: LocalServer) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    # The server hangs up (idle timeout 1 s) without a request: recv sees the end. The socket's
    # own timeout is only a ceiling for a server that never would (minutes, not a speed test).
    with socket.create_connection((host, int(port)), timeout=300) as sock:
        assert sock.recv(1024) == b""


def test_access_log_masks_accounts_and_drops_query_strings(server: LocalServer) -> None:
    target = f"/accounts/{IBAN}/transactions?cursor=x&api_key=tsk_secret-in-a-url"
    exchange(server, f"GET {target} HTTP/1.1\r\nHost: x\r\nx-api-key: {DEV_KEY}\r\n"
                     f"Connection: close\r\n\r\n".encode())
    exchange(server, f"GET /accounts/{'9' * 60000} HTTP/1.1\r\nHost: x\r\nx-api-key: "
                     f"{DEV_KEY}\r\nConnection: close\r\n\r\n".encode())
    time.sleep(0.5)
    output = "".join(server.output)
    assert "tsk_secret-in-a-url" not in output and IBAN not in output
    assert "5555/transactions?<query-dropped>" in output
    assert "9" * 300 not in output  # the access log and the JSON log are both capped


def test_framing_rules_as_a_function() -> None:
    assert framing_error("GET", [], [], 10) is None
    assert framing_error("POST", ["10"], [], 10) is None
    assert framing_error("POST", ["10", "11"], [], 100) is not None
    assert framing_error("POST", [" ٣"], [], 100) is not None
    assert log_path("/accounts/GB33BUKB20201555555555?key=1") == (
        "/accounts/" + "*" * 18 + "5555?<query-dropped>")


def test_json_log_caps_long_values(capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    log("INFO", "request", path="x" * 60000, account="9" * 60000, where=["y" * 1000])
    (line,) = capsys.readouterr().out.splitlines()
    assert len(line) < 4 * MAX_LOGGED_CHARS + 400
    record = json.loads(line)
    assert record["path"].endswith(f"(+{60000 - MAX_LOGGED_CHARS} chars)")


def test_serve_local_still_refuses_nothing_good(tmp_path: Path) -> None:
    with LocalServer(str(tmp_path / "ledger.db")) as plain:
        body = json.dumps({"id": "ok1", "account": "A1", "amount": "1.00", "type": "credit",
                           "timestamp": "2026-01-10T14:00:00Z"}).encode()
        code, _, answer = exchange(plain, request("POST", {
            "Content-Length": str(len(body)), "x-api-key": DEV_KEY,
            "Content-Type": "application/json", "Connection": "close"}, body))
        assert code == 201, answer


def test_every_prefer_header_is_read_as_one_list(server: LocalServer) -> None:
    body = json.dumps({"id": "pf1", "account": "A1", "amount": "1.00", "type": "credit",
                       "timestamp": "2026-01-10T14:00:00Z"}).encode()
    head = (f"POST /transactions HTTP/1.1\r\nHost: x\r\nx-api-key: {DEV_KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Prefer: return=minimal\r\nPrefer: respond-async\r\nConnection: close\r\n\r\n")
    code, headers, answer = exchange(server, head.encode() + body)
    assert code == 202, answer
    assert headers["preference-applied"] == "respond-async"


LONG = "x" * 70_000
MANY_HEADERS = "".join(f"X-H{i}: v\r\n" for i in range(120))


@pytest.mark.parametrize(("raw", "status", "code"), [
    (f"GET /{LONG} HTTP/1.1\r\nHost: x\r\n\r\n", 414, "UriTooLongError"),
    (f"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {LONG}\r\n\r\n", 431,
     "RequestHeaderFieldsTooLargeError"),
    (f"GET /health HTTP/1.1\r\nHost: x\r\n{MANY_HEADERS}\r\n", 431,
     "RequestHeaderFieldsTooLargeError"),
    ("GET /health HTTP/2.0\r\nHost: x\r\n\r\n", 505, "HttpVersionNotSupportedError"),
    ("GET /health\r\n\r\n", 505, "HttpVersionNotSupportedError"),  # HTTP/0.9
    ("FROB /health HTTP/1.1\r\nHost: x\r\n\r\n", 501, "NotImplementedError"),
    ("GET /health HTTP/1.1 extra\r\nHost: x\r\n\r\n", 400, "BadRequestError"),
    ("GET /health HTTP/x.y\r\nHost: x\r\n\r\n", 400, "BadRequestError"),
])
def test_the_servers_own_answers_are_in_the_error_shape(server: LocalServer, raw: str,
                                                        status: int, code: str) -> None:
    answer_status, headers, body = exchange(server, raw.encode())
    assert answer_status == status, body
    answer = json.loads(body)
    check_error_shape(answer)
    assert answer["Code"] == code
    assert headers["content-type"] == "application/json"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"


def test_every_answer_through_the_server_says_nosniff_and_api_answers_no_store(
        server: LocalServer) -> None:
    for target, cache in [("/health", "no-store"), ("/nope", "no-store"),
                          ("/analytics", "no-store"), ("/dashboard", "no-cache"),
                          ("/dashboard?refresh=0", "no-store"), ("/", "no-store")]:
        status, headers, _ = exchange(server, f"GET {target} HTTP/1.1\r\nHost: x\r\n"
                                              "Connection: close\r\n\r\n".encode())
        assert headers.get("x-content-type-options") == "nosniff", (target, status, headers)
        assert headers.get("cache-control") == cache, (target, status, headers)


def test_a_request_dribbled_slower_than_the_deadline_is_cut_with_408(
        server: LocalServer) -> None:
    """A byte every 0.5 s never trips the 1 s idle timeout; the 3 s deadline for the whole
    request cuts it (a client dribbling a byte every 10 s once held connections for minutes).
    No clock bound: the answer must come while the dribble (100 s of it) is still going."""
    host, port = server.url.removeprefix("http://").split(":")
    head = f"GET /analytics HTTP/1.1\r\nHost: x\r\nx-api-key: {DEV_KEY}\r\nX-Slow: " + "a" * 200
    answer, cut = b"", False
    with socket.create_connection((host, int(port)), timeout=300) as sock:
        for char in head:
            try:
                sock.sendall(char.encode())
            except (BrokenPipeError, ConnectionResetError):
                cut = True
                break
            if select.select([sock], [], [], 0.5)[0]:  # the server spoke (or hung up)
                cut = True
                break
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    assert cut, "the whole dribble was accepted: no deadline"
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    body = json.loads(answer.partition(b"\r\n\r\n")[2])
    check_error_shape(body)
    assert body["Code"] == "RequestTimeoutError"
