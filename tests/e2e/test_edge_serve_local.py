"""The local server as a careful front door: Content-Length checked before the body is read
and before the key check (400/411/413 in the error shape), chunked bodies refused, idle
connections closed, and an access log that masks what the app's log masks."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.observability import MAX_LOGGED_CHARS, log
from chalicelib.web.framing import framing_error, log_path
from scripts.demo import LocalServer
from simulator.options import DEV_KEY
from tests.support.edges import check_error_shape

pytestmark = [pytest.mark.e2e]

IBAN = "GB33BUKB20201555555555"


class AccessLoggedServer(LocalServer):
    """serve_local with its access log on, and a one-second idle timeout."""

    def __init__(self, sqlite_path: str) -> None:
        super().__init__(sqlite_path)
        self.command = [c for c in self.command if c != "--quiet"] + ["--idle-timeout", "1"]


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
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
        while len(body) < int(headers.get("content-length", "0")):
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        return int(lines[0].split()[1]), headers, body


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
    with socket.create_connection((host, int(port)), timeout=20) as sock:
        began = time.monotonic()
        assert sock.recv(1024) == b""  # the server hangs up (timeout 1 s) without a request
        assert time.monotonic() - began < 15


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
