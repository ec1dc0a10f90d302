"""Sending: a producer fills a small queue of units, workers send them, the caller watches."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from simulator.ratelimit import TokenBucket
from simulator.tally import Tally
from simulator.transport import Client, GaveUp
from simulator.wire import Unit

AUTH_FAILED = (401, 403)


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
          concurrency: int, rate: float | None = None, duration: float | None = None) -> Run:
    """Start the producer and `concurrency` workers; returns at once."""
    run = Run(Tally())
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
                        reply = client.request("POST", "/transactions", request.body)
                    except GaveUp as exc:
                        run.tally.failed(token, str(exc), exc.maybe_delivered)
                        continue
                    if reply.status in AUTH_FAILED:
                        run.tally.failed(token, f"HTTP {reply.status}", False)
                        run.fatal = f"the API refused the key (HTTP {reply.status})"
                        run.stop.set()
                        break
                    run.tally.record(token, reply, time.perf_counter() - began)
        finally:
            client.close()

    run.threads = [threading.Thread(target=produce, name="producer", daemon=True)]
    run.threads += [threading.Thread(target=send, name=f"sender-{i}", daemon=True)
                    for i in range(concurrency)]
    for t in run.threads:
        t.start()
    return run
