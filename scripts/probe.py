"""`make probe`: replay, against a running server, every class of finding of the second round of
probing (money past 64 bits, odd account ids and the dashboard's paths, `Prefer`, control and
bidi characters, the server's own answers and headers, a bad window DynamoDB refused, two
credentials), so the next person can rerun it. Exit 0 when every check passes, 1 otherwise.

It writes a few transactions of its own (ids `probe-<run>-...`, accounts `PROBE-...`) to the
key's bank; `--money-past-64-bits` writes 92,234 transactions of the largest amount (minutes)."""

from __future__ import annotations

import argparse
import json
import select
import socket
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

LARGEST = Decimal("999999999999.99")  # the largest amount an item may carry
PAST_64_BITS = 92_234  # transactions of LARGEST that take a total past 2^63 minor units
REFUSED_TEXT = ["\u0085", "\u007f", "\u202e", "\u2066", "\u0000", "\u001b", "\u009f"]


@dataclass
class Answer:
    """One raw HTTP answer."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Probe:
    """A running server, the bank's key, and what the checks found."""

    host: str
    port: int
    key: str
    base: str = ""  # a path prefix (API Gateway's stage, e.g. /api)
    timeout: float = 60.0
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    results: list[tuple[str, bool, str]] = field(default_factory=list)
    five_hundreds: list[str] = field(default_factory=list)

    def raw(self, data: bytes) -> Answer:
        """Send bytes on a new connection, read one answer (Connection: close)."""
        with socket.create_connection((self.host, self.port), timeout=self.timeout) as sock:
            sock.sendall(data)
            return read_answer(sock)

    def request(self, method: str, path: str, body: bytes = b"",
                headers: list[tuple[str, str]] | None = None, key: bool = True) -> Answer:
        lines = [f"{method} {self.base}{path} HTTP/1.1", f"Host: {self.host}",
                 "Connection: close", f"Content-Length: {len(body)}"]
        if key:
            lines.append(f"x-api-key: {self.key}")
        if body:
            lines.append("Content-Type: application/json")
        lines += [f"{name}: {value}" for name, value in headers or []]
        answer = self.raw(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        if answer.status >= 500 and answer.status != 503:
            self.five_hundreds.append(f"{method} {path} -> {answer.status}")
        return answer

    def post(self, body: Any, headers: list[tuple[str, str]] | None = None) -> Answer:
        return self.request("POST", "/transactions", json.dumps(body).encode(), headers)

    def check(self, finding: str, ok: bool, detail: str) -> None:
        self.results.append((finding, ok, detail))
        print(f"{'PASS' if ok else 'FAIL'} {finding}: {detail}", flush=True)

    def tx(self, name: str, **fields: Any) -> dict[str, Any]:
        stamp = datetime.now(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"id": f"probe-{self.run}-{name}", "account": f"PROBE-{self.run}",
                "amount": "1.00", "type": "credit", "timestamp": stamp, **fields}


def read_answer(sock: socket.socket) -> Answer:
    """One HTTP answer off a socket: the head, then a body of its Content-Length (the e2e
    tests of the local server read theirs with it too)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0].startswith("HTTP/"):
        return Answer(0, {}, data)
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    length = int(headers.get("content-length", "0") or 0)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return Answer(int(lines[0].split()[1]), headers, body)


def _error_shaped(answer: Answer) -> bool:
    try:
        body = answer.json()
    except ValueError:
        return False
    return (isinstance(body, dict) and set(body) == {"Code", "Message", "Details"}
            and isinstance(body["Details"], list))


def _usd_credits(probe: Probe) -> Decimal:
    totals = probe.request("GET", "/analytics").json().get("totals", {})
    return Decimal(totals.get("USD", {}).get("credits", {}).get("total", "0"))


def money(probe: Probe, past_64_bits: bool) -> None:
    """1: totals exact at the largest amounts (and, when asked, past 2^63 minor units)."""
    count = PAST_64_BITS if past_64_bits else 3
    before = _usd_credits(probe)
    sent = 0
    while sent < count:
        size = min(500, count - sent)
        answer = probe.post({"transactions": [
            probe.tx(f"m{sent + i}", amount=str(LARGEST), account=f"PROBE-M-{probe.run}")
            for i in range(size)]})
        if answer.status != 200:
            probe.check("1 money", False, f"a batch of the largest amount answered"
                                          f" {answer.status}: {answer.body[:200]!r}")
            return
        sent += size
    grew = _usd_credits(probe) - before
    probe.check("1 money", grew == LARGEST * count,
                f"{count} x {LARGEST} moved the USD credit total by {grew}"
                f" (exactly {LARGEST * count} expected)")


def odd_accounts(probe: Probe) -> None:
    """5: every account the API accepts reads back by path; `.`/`..` refused; /dashboard/."""
    for number, account in enumerate(("a:b", "...", "-")):
        name = f"PROBE{probe.run}{account}"
        stored = probe.post(probe.tx(f"odd{number}", account=name))
        read = probe.request("GET", f"/accounts/{name}")
        encoded = probe.request("GET", f"/accounts/{name.replace(':', '%3A')}")
        probe.check("5 odd account", stored.status in (200, 201) and read.status == 200
                    and encoded.status == 200,
                    f"{name!r}: POST {stored.status}, GET {read.status}, GET %-encoded"
                    f" {encoded.status} (201/200, 200, 200 expected)")
    for account in (".", ".."):
        answer = probe.post(probe.tx(f"dot{len(account)}", account=account))
        probe.check("5 dot account", answer.status == 400 and _error_shaped(answer),
                    f"account {account!r} answered {answer.status} (400: no URL can address it)")
    slash = probe.request("GET", "/dashboard/", key=False)
    probe.check("5 dashboard slash", slash.status == 301
                and slash.headers.get("location", "").endswith("/dashboard"),
                f"/dashboard/ answered {slash.status} to {slash.headers.get('location')!r}")


def prefer(probe: Probe) -> None:
    """6: `Prefer` per RFC 7240, every Prefer header read."""
    cases: list[tuple[list[str], bool]] = [
        (["respond-async"], True), (["wait=5, respond-async"], True),
        (["return=minimal; respond-async"], False), (["wait=5;respond-async"], False),
        (['foo="respond-async"'], False), (["return=minimal", "respond-async"], True)]
    for number, (values, wanted) in enumerate(cases):
        answer = probe.post(probe.tx(f"prefer{number}"), [("Prefer", v) for v in values])
        probe.check("6 prefer", answer.status == (202 if wanted else 201),
                    f"Prefer {values} answered {answer.status}"
                    f" ({'202' if wanted else '201'} expected)")


def control_characters(probe: Probe) -> None:
    """7: every refused character in every text field is a 400 that stores nothing."""
    for field_name in ("description", "merchant", "counterparty", "channel"):
        for char in REFUSED_TEXT:
            name = f"cc-{field_name}-{ord(char):04x}"
            answer = probe.post(probe.tx(name, **{field_name: f"x{char}y"}))
            stored = probe.request("GET", f"/transactions/probe-{probe.run}-{name}")
            probe.check("7 control characters", answer.status == 400 and stored.status == 404,
                        f"{field_name} with U+{ord(char):04X}: {answer.status}, then"
                        f" GET {stored.status} (400, 404 expected)")


def server_answers(probe: Probe, slow_seconds: float) -> None:
    """8: the server's own refusals in the error shape; nosniff and no-store; a deadline."""
    host = f"Host: {probe.host}\r\n"
    raw_cases = {
        "414": f"GET /{'x' * 70_000} HTTP/1.1\r\n{host}\r\n",
        "431": f"GET /health HTTP/1.1\r\n{host}X-Big: {'x' * 70_000}\r\n\r\n",
        "505": f"GET /health HTTP/2.0\r\n{host}\r\n",
        "501": f"FROB /health HTTP/1.1\r\n{host}\r\n",
    }
    for status, raw in raw_cases.items():
        answer = probe.raw(raw.encode())
        probe.check("8 server's own answer", str(answer.status) == status
                    and _error_shaped(answer), f"{status} case answered {answer.status},"
                    f" {'in' if _error_shaped(answer) else 'NOT in'} the error shape")
    for path in ("/health", "/analytics", "/nope", "/analytics?since=x", "/dashboard?x=1"):
        answer = probe.request("GET", path)
        probe.check("8 headers", answer.headers.get("x-content-type-options") == "nosniff"
                    and answer.headers.get("cache-control") == "no-store",
                    f"GET {path}: nosniff={answer.headers.get('x-content-type-options')!r},"
                    f" cache-control={answer.headers.get('cache-control')!r}")
    if slow_seconds > 0:
        probe.check("8 request deadline", *_dribble(probe, slow_seconds))


def _dribble(probe: Probe, seconds: float) -> tuple[bool, str]:
    """A request sent a byte every 0.5 s (inside any idle timeout) for up to `seconds`."""
    head = f"GET {probe.base}/health HTTP/1.1\r\nHost: {probe.host}\r\nX-Slow: "
    began = time.monotonic()
    with socket.create_connection((probe.host, probe.port), timeout=probe.timeout) as sock:
        for at in range(10**6):
            if time.monotonic() - began > seconds:
                return False, f"still accepting the request after {seconds:g} s: no deadline"
            try:
                sock.sendall((head[at] if at < len(head) else "a").encode())
            except OSError:
                break
            if select.select([sock], [], [], 0.5)[0]:
                break
        answer = read_answer(sock)
    took = time.monotonic() - began
    return (answer.status == 408 and _error_shaped(answer),
            f"cut after {took:.1f} s with {answer.status or 'no answer'} (408 expected)")


def windows(probe: Probe) -> None:
    """11: a window DynamoDB refused (an inverted range) is a 400 on every store, not 503."""
    for query in ("since=9999-12-31T23:59:59Z", "since=2999-01-01T00:00:00Z"):
        for route in ("/analytics", "/analytics/series"):
            answer = probe.request("GET", f"{route}?{query}")
            probe.check("11 window", answer.status == 400 and _error_shaped(answer),
                        f"GET {route}?{query} answered {answer.status} (400 expected)")


def credentials(probe: Probe) -> None:
    """4: a request carrying two credentials is a 400."""
    answer = probe.request("GET", "/analytics", headers=[("x-api-key", probe.key + "x")])
    probe.check("4 two credentials", answer.status == 400,
                f"two x-api-key headers answered {answer.status} (400 expected)")


CLASSES: dict[str, Callable[[Probe, argparse.Namespace], None]] = {
    "money": lambda p, a: money(p, a.money_past_64_bits),
    "odd-accounts": lambda p, a: odd_accounts(p),
    "prefer": lambda p, a: prefer(p),
    "control-characters": lambda p, a: control_characters(p),
    "server-answers": lambda p, a: server_answers(p, a.slow_seconds),
    "windows": lambda p, a: windows(p),
    "credentials": lambda p, a: credentials(p),
}


def main(argv: list[str] | None = None) -> int:
    """Run the checks; exit 0 if every one passed, 1 if any failed, 2 if the server is not
    there or refuses the key."""
    parser = argparse.ArgumentParser(
        prog="python -m scripts.probe", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: python -m scripts.probe http://127.0.0.1:8000 demo-key-change-me\n"
               "         make probe URL=http://127.0.0.1:8000 KEY=demo-key-change-me")
    parser.add_argument("url", help="the server's base URL, e.g. http://127.0.0.1:8000"
                                    " (a path is a prefix, e.g. API Gateway's /api)")
    parser.add_argument("key", help="an API key of the bank to probe as (x-api-key)")
    parser.add_argument("--only", action="append", choices=sorted(CLASSES),
                        help="run only this class of checks (repeatable; default: all)")
    parser.add_argument("--money-past-64-bits", action="store_true",
                        help=f"send {PAST_64_BITS:,} transactions of {LARGEST} (minutes) so the"
                             " bank's USD total passes 2^63 minor units, and check it is exact")
    parser.add_argument("--slow-seconds", type=float, default=90.0,
                        help="how long to dribble a request for the deadline check before"
                             " calling it missing (default 90; the server's default deadline"
                             " is 60 s; 0 skips the check)")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="socket timeout of each request, seconds (default 60)")
    args = parser.parse_args(argv)
    parts = urlsplit(args.url)
    if parts.scheme != "http" or not parts.hostname:
        parser.error("the URL must be http://host[:port][/prefix] (plain HTTP: raw requests)")
    probe = Probe(parts.hostname, parts.port or 80, args.key, parts.path.rstrip("/"),
                  args.timeout)
    try:
        health = probe.request("GET", "/analytics")
    except OSError as exc:
        print(f"probe: cannot reach {args.url}: {exc}", file=sys.stderr)
        return 2
    if health.status != 200:
        print(f"probe: GET /analytics with that key answered {health.status}", file=sys.stderr)
        return 2
    for name in args.only or list(CLASSES):
        CLASSES[name](probe, args)
    probe.check("no 5xx", not probe.five_hundreds,
                "no answer was a 5xx but 503" if not probe.five_hundreds
                else "; ".join(probe.five_hundreds[:10]))
    failed = [r for r in probe.results if not r[1]]
    print(f"probe: {len(probe.results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
