"""Capped exponential backoff with full jitter: the one jitter formula every retry pause uses."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Backoff:
    """Pause `uniform(0, min(cap, base * 2**attempt))` seconds before retry `attempt` (0-based).

    Full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter"): writers that collided
    do not collide again in lockstep. `sleep` and `random` are injectable so tests never wait.
    """

    base_s: float
    cap_s: float
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    random: Callable[[], float] = field(default=random.random, compare=False)

    def delay(self, attempt: int) -> float:
        """The pause before retry `attempt`: a random fraction of the capped exponential."""
        return min(self.cap_s, self.base_s * 2.0 ** attempt) * self.random()

    def pause(self, attempt: int) -> None:
        """Sleep before retry `attempt`."""
        self.sleep(self.delay(attempt))
