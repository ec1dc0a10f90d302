"""Helpers for asynchronous ingest tests: parts on a test runtime, without background threads."""

from __future__ import annotations

from pathlib import Path

from chalicelib.bootstrap import Runtime
from chalicelib.queue_settings import QueueSettings
from chalicelib.usecases.async_runtime import AsyncRuntime, build, set_async


def install(rt: Runtime, tmp_path: Path, max_receives: int = 3,
            workers: int = 0) -> AsyncRuntime:
    """The embedded queue and receipts beside the test's ledger; consumer threads only when
    asked (tests drive `drain` themselves otherwise)."""
    settings = QueueSettings(path=str(tmp_path / "queue.db"),
                             receipts_path=str(tmp_path / "receipts.db"),
                             max_receives=max_receives, visibility_s=30, local_workers=workers)
    parts = build(rt, settings)
    set_async(rt, parts)
    return parts
