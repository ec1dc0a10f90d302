"""Sending: a producer fills a small queue of units, workers send them, the caller watches."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from simulator.poller import Poller, receipt_path
from simulator.ratelimit import TokenBucket
from simulator.tally import Tally
from simulator.transport import Client, GaveUp
from simulator.wire import Unit

AUTH_FAILED = (401, 403)
ASYNC_HEADERS = {"prefer": "respond-async"}  # RFC 7240


@dataclass
class Run:
    """A run in progress: its threads, its tally, and why it stopped early (if it did)."""

    tally: Tally
    stop: threading.Event = field(default_factory=threading.Event)
    fatal: str | None = None
    threads: list[threading.Thread] = field(default_factory=list)

    def alive(self) -> bool:
        return any(t.is_alive() for t in self.threads)

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, deadline - time.monotonic()))


def start(work: Iterable[Unit], make_client: Callable[[threading.Event], Client],
          concurrency: int, rate: float | None = None, duration: float | None = None,
          asynchronous: bool = False, poll_give_up_s: float = 300.0) -> Run:
    """Start the producer and `concurrency` workers (and, with `asynchronous`, as many receipt
    pollers); returns at once."""
    run = Run(Tally())
    poller = Poller(run.tally, run.stop, poll_give_up_s) if asynchronous else None
    senders_left = [concurrency]
    senders_lock = threading.Lock()
    todo: queue.Queue[Unit | None] = queue.Queue(maxsize=concurrency * 4)
    bucket = TokenBucket(rate, burst=max(1.0, rate / 20)) if rate else None
    deadline = time.monotonic() + duration if duration else None

    def produce() -> None:
        try:
            for unit in work:
                if run.stop.is_set() or (deadline and time.monotonic() >= deadline):
                    break
                while not run.stop.is_set():
                    try:
                        todo.put(unit, timeout=0.1)
                        break
                    except queue.Full:
                        continue
        finally:
            for _ in range(concurrency):
                todo.put(None)  # workers drain what is queued, then stop

    def send() -> None:
        client = make_client(run.stop)
        try:
            while (unit := todo.get()) is not None:
                # After a stop, keep taking units (unsent) so the producer is never stuck.
                for request in unit:
                    if run.stop.is_set():
                        break
                    if bucket and not bucket.take(len(request.items), run.stop):
                        break
                    token = run.tally.begin(request)
                    began = time.perf_counter()
                    try:
                        reply = client.request("POST", "/transactions", request.body,
                                               ASYNC_HEADERS if poller else None)
                    except GaveUp as exc:
                        run.tally.failed(token, str(exc), exc.maybe_delivered)
                        continue
                    if reply.status in AUTH_FAILED:
                        run.tally.failed(token, f"HTTP {reply.status}", False)
                        run.fatal = f"the API refused the key (HTTP {reply.status})"
                        run.stop.set()
                        break
                    if poller and reply.status == 202 and reply.location:
                        run.tally.queued(token, time.perf_counter() - began)
                        poller.add(request, reply, receipt_path(reply.location,
                                                                client.endpoint.base),
                                   time.monotonic())
                        continue
                    run.tally.record(token, reply, time.perf_counter() - began)
        finally:
            client.close()
            with senders_lock:
                senders_left[0] -= 1
                if senders_left[0] == 0 and poller:
                    poller.close()

    run.threads = [threading.Thread(target=produce, name="producer", daemon=True)]
    run.threads += [threading.Thread(target=send, name=f"sender-{i}", daemon=True)
                    for i in range(concurrency)]
    if poller:
        run.threads += [threading.Thread(target=poller.run, args=(make_client,),
                                         name=f"poller-{i}", daemon=True)
                        for i in range(concurrency)]
    for t in run.threads:
        t.start()
    return run
