"""--async: follow each queued request's Location until every item is done, with backoff."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from simulator.tally import Tally
from simulator.transport import Client, GaveUp, Reply
from simulator.wire import Request

FIRST_POLL_S = 0.05
POLL_CAP_S = 1.0


@dataclass(order=True)
class _Pending:
    due: float
    seq: int
    request: Request = field(compare=False)
    reply: Reply = field(compare=False)
    path: str = field(compare=False)
    began: float = field(compare=False)
    polls: int = field(default=0, compare=False)


def receipt_path(location: str, base: str) -> str:
    """The Location as a path under the client's base (it may carry the API's stage prefix)."""
    path = urlsplit(location).path
    return path[len(base):] if base and path.startswith(base + "/") else path


class Poller:
    """Threads that poll receipts, soonest due first; done once the senders are and nothing is
    pending. A receipt still pending after `give_up_s` counts its items as errors."""

    def __init__(self, tally: Tally, stop: threading.Event, give_up_s: float = 300.0) -> None:
        self.tally = tally
        self.stop = stop
        self.give_up_s = give_up_s
        self.heap: list[_Pending] = []
        self.seq = itertools.count()
        self.cond = threading.Condition()
        self.closed = False

    def add(self, request: Request, reply: Reply, path: str, began: float) -> None:
        with self.cond:
            heapq.heappush(self.heap, _Pending(time.monotonic() + FIRST_POLL_S, next(self.seq),
                                               request, reply, path, began))
            self.cond.notify()

    def close(self) -> None:
        """No more requests will be added."""
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def _next(self) -> _Pending | None:
        with self.cond:
            while not self.stop.is_set():
                if self.heap:
                    wait = self.heap[0].due - time.monotonic()
                    if wait <= 0:
                        return heapq.heappop(self.heap)
                    self.cond.wait(min(wait, 0.1))
                elif self.closed:
                    return None
                else:
                    self.cond.wait(0.1)
            return None

    def run(self, make_client: Callable[[threading.Event], Client]) -> None:
        client = make_client(self.stop)
        try:
            while (pending := self._next()) is not None:
                self._poll(client, pending)
        finally:
            client.close()

    def _poll(self, client: Client, pending: _Pending) -> None:
        waited = time.monotonic() - pending.began
        try:
            answer = client.request("GET", pending.path)
        except GaveUp as exc:
            self.tally.receipt_failed(pending.request, f"polling {pending.path}: {exc}")
            return
        body = answer.body if isinstance(answer.body, dict) else {}
        if answer.status == 200 and body.get("status") == "done":
            self.tally.settled(pending.request, pending.reply, body, waited)
            return
        if answer.status != 200 or waited > self.give_up_s:
            why = (f"HTTP {answer.status}" if answer.status != 200
                   else f"still pending after {waited:.0f} s")
            self.tally.receipt_failed(pending.request, f"receipt {pending.path}: {why}")
            return
        pending.polls += 1
        pending.due = time.monotonic() + min(POLL_CAP_S, FIRST_POLL_S * 2 ** pending.polls)
        with self.cond:
            heapq.heappush(self.heap, pending)
