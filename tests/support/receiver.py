"""A real local webhook receiver (an HTTP server thread on 127.0.0.1) for delivery tests: it
verifies each request's signature as docs/webhooks.md tells a bank to, answers from a script
(a status, or "hang": never answer), and records what came."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from chalicelib.domain.webhooks import verify


@dataclass
class Received:
    event_id: str
    body: bytes
    signature: str
    verified: bool
    answer: int | str = 200  # what the receiver answered ("hang": nothing)


@dataclass
class Receiver:
    """What the server saw; `answers` are used in order, then `then` for every request."""

    secret: str = ""
    answers: list[int | str] = field(default_factory=list)
    then: int | str = 200
    seen: list[Received] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    release: threading.Event = field(default_factory=threading.Event)

    def next_answer(self) -> int | str:
        with self.lock:
            return self.answers.pop(0) if self.answers else self.then

    def ids(self) -> Counter[str]:
        with self.lock:
            return Counter(r.event_id for r in self.seen)

    def accepted(self) -> Counter[str]:
        """How many times each event id was answered 2xx (more than once: a duplicate)."""
        with self.lock:
            return Counter(r.event_id for r in self.seen
                           if isinstance(r.answer, int) and 200 <= r.answer < 300)

    def wait_for(self, count: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.seen) >= count:
                    return True
            time.sleep(0.02)
        return False


@contextmanager
def receiver(secret: str = "", answers: list[int | str] | None = None,
             then: int | str = 200) -> Iterator[Receiver]:
    """A receiver listening on a free port of 127.0.0.1 until the block ends."""
    state = Receiver(secret, list(answers or []), then)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            signature = self.headers.get("Txn-Signature") or ""
            ok = verify(state.secret, signature, body, int(time.time()))
            answer = state.next_answer() if ok else 401
            with state.lock:
                state.seen.append(Received(self.headers.get("Txn-Event-Id") or "", body,
                                           signature, ok, answer))
            if answer == "hang":
                state.release.wait(30)  # never answers within the sender's timeout
                return
            self.send_response(int(answer))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    # a short poll: shutdown() waits up to one poll interval, 0.5 s by default, per test
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
