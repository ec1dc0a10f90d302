"""Helpers for asynchronous ingest tests: a runtime with its own queue, without threads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from chalicelib.bootstrap import Runtime, bootstrap, set_runtime
from chalicelib.config import QueueSettings
from chalicelib.ports.store import Store, StoreError
from chalicelib.usecases import ingest_async, ledger


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


def store_down_for(monkeypatch: pytest.MonkeyPatch, field: str, values: set[str]) -> set[str]:
    """The consumer's ledger writes fail (StoreError) for any batch holding an item whose
    `field` is in `values`, and only for those; returns `values`: clear it and the store is
    back."""
    real: Callable[..., Any] = ledger.ingest

    def flaky(store: Store, bank: str, items: list[Any], *args: Any, **kw: Any) -> Any:
        if any(item[field] in values for item in items):
            raise StoreError(f"the store is down for this {field}")
        return real(store, bank, items, *args, **kw)

    monkeypatch.setattr(ingest_async, "ingest", flaky)
    return values
