"""A token bucket shared by the workers: a steady rate of transactions per second."""

from __future__ import annotations

import threading
import time


class TokenBucket:
    """`rate` tokens per second, bursts up to `burst`; one token per transaction."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        self.tokens = 0.0  # start empty: no initial burst above the steady rate
        self.last = time.monotonic()
        self.lock = threading.Lock()

    def take(self, n: int, stop: threading.Event) -> bool:
        """Wait until `n` tokens are available (False if `stop` is set meanwhile)."""
        # A request larger than the burst may take the bucket negative: it then pays back
        # by waiting, which keeps the long-run rate exact.
        while True:
            with self.lock:
                now = time.monotonic()
                self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
                self.last = now
                if self.tokens >= min(n, self.burst):
                    self.tokens -= n
                    return True
                wait = (min(n, self.burst) - self.tokens) / self.rate
            if stop.wait(wait):
                return False
