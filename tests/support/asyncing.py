"""Helpers for asynchronous ingest tests: a runtime with its own queue, without threads."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from chalicelib.bootstrap import Runtime, bootstrap, set_runtime
from chalicelib.config import QueueSettings


def install(rt: Runtime, tmp_path: Path, max_receives: int = 3, groups: int = 0) -> Runtime:
    """`rt` with the embedded queue and receipts beside the test's ledger, installed; no
    consumer threads (tests drive `drain`, or call `start_local_workers` themselves)."""
    queue = QueueSettings(path=str(tmp_path / "queue.db"),
                          receipts_path=str(tmp_path / "receipts.db"),
                          max_receives=max_receives, visibility_s=30, local_workers=0,
                          groups=groups)
    made = bootstrap(replace(rt.settings, queue=queue), rt.store, verifier=rt.verifier)
    set_runtime(made)
    return made
