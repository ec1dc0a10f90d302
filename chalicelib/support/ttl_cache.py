"""A small thread-safe cache whose entries expire, so a warm process need not ask the store."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
MAX_ENTRIES = 10_000  # beyond this the cache starts over: a flood of distinct keys costs reads


class TtlCache(Generic[T]):
    """Remembers `load(key)` for `ttl_s` seconds. A miss (None) is remembered only when
    `remember_misses`: an API key created right after a failed try must work at once, while an
    unmapped app client may wait out the TTL like a mapped one."""

    def __init__(self, ttl_s: float, remember_misses: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.remember_misses = remember_misses
        self._clock = clock
        self._entries: dict[str, tuple[float, T | None]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, load: Callable[[str], T | None]) -> T | None:
        """The value for `key`, from memory when loaded less than `ttl_s` ago."""
        now = self._clock()
        with self._lock:
            hit = self._entries.get(key)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        value = load(key)
        if value is None and not self.remember_misses:
            return None
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = (now, value)
        return value

    def forget(self, key: str) -> None:
        """Drop `key`, so its next `get` loads it again (a write seen at once in this process)."""
        with self._lock:
            self._entries.pop(key, None)
