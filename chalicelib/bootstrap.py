"""The process-wide runtime (settings + store), built on first use and reused across calls."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from chalicelib.config import Settings, load_settings
from chalicelib.ports.store import Store
from chalicelib.store_factory import open_store

_lock = threading.Lock()
_current: Runtime | None = None


@dataclass(frozen=True)
class Runtime:
    """What a request needs: the settings and the store they name."""

    settings: Settings
    store: Store


def get_runtime() -> Runtime:
    """The runtime, built from the environment on the first request (not at import)."""
    global _current
    if _current is None:
        with _lock:
            if _current is None:
                settings = load_settings()
                if settings.tracing:
                    from chalicelib.adapters.xray import enable_tracing

                    enable_tracing()  # before the store makes its first AWS call
                _current = Runtime(settings, open_store(settings))
    return _current


def set_runtime(runtime: Runtime | None) -> None:
    """Install a runtime (tests inject one), or None to rebuild from the environment."""
    global _current
    with _lock:
        _current = runtime
