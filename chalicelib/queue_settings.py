"""The asynchronous path's settings, read from the environment when first needed."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from chalicelib.config import ConfigError, _int


@dataclass(frozen=True)
class QueueSettings:
    """Which queue, where, and how it retries (the SQS queue's own attributes must match)."""

    kind: str = "sqlite"  # QUEUE: sqlite (embedded) or sqs
    path: str = ""  # QUEUE_PATH: the embedded queue's file
    receipts_path: str = ""  # RECEIPTS_PATH: receipts' file when the store is SQLite
    url: str | None = None  # QUEUE_URL
    dead_letter_url: str | None = None  # DEAD_LETTER_QUEUE_URL
    max_receives: int = 5  # QUEUE_MAX_RECEIVES: the redrive policy's maxReceiveCount
    visibility_s: int = 60  # QUEUE_VISIBILITY_S: the queue's visibility timeout
    local_workers: int = 2  # QUEUE_LOCAL_WORKERS: consumer threads beside the local server
    # (default 2 on SQLite, whose writes are serialised anyway; 4 on DynamoDB, whose calls wait)
    groups: int = 0  # QUEUE_GROUPS: 0 = a message group per account, N = N groups per bank
    # QUEUE_PARTIAL_BATCH: the event source mapping reports batch item failures (the template
    # sets it); without it a failed message fails the whole batch, or Lambda would delete it
    partial_batch: bool = False


def _beside(sqlite_path: str, suffix: str) -> str:
    """A file next to the ledger's (tests that move the ledger move these too)."""
    ledger = Path(sqlite_path)
    return str(ledger.with_name(f"{ledger.stem}-{suffix}.db"))


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "false").strip().lower()
    if raw not in ("true", "false"):
        raise ConfigError(f"{name} must be true or false, got {raw!r}")
    return raw == "true"


def load_queue_settings(sqlite_path: str, env: Mapping[str, str] | None = None,
                        store: str = "sqlite") -> QueueSettings:
    """Read the queue settings; `sqlite_path` is the ledger file they default beside, `store`
    the ledger's kind."""
    env = os.environ if env is None else env
    kind = env.get("QUEUE", "sqlite") or "sqlite"
    if kind not in ("sqlite", "sqs"):
        raise ConfigError(f"QUEUE must be 'sqlite' or 'sqs', got {kind!r}")
    url = env.get("QUEUE_URL") or None
    if kind == "sqs" and not url:
        raise ConfigError("QUEUE_URL is required when QUEUE=sqs")
    return QueueSettings(
        kind=kind,
        path=env.get("QUEUE_PATH") or _beside(sqlite_path, "queue"),
        receipts_path=env.get("RECEIPTS_PATH") or _beside(sqlite_path, "receipts"),
        url=url,
        dead_letter_url=env.get("DEAD_LETTER_QUEUE_URL") or None,
        max_receives=_int(env, "QUEUE_MAX_RECEIVES", 5, 1, 1000),
        visibility_s=_int(env, "QUEUE_VISIBILITY_S", 60, 1, 43200),
        local_workers=_int(env, "QUEUE_LOCAL_WORKERS", 4 if store == "dynamodb" else 2, 0, 64),
        groups=_int(env, "QUEUE_GROUPS", 0, 0, 10_000),
        partial_batch=_flag(env, "QUEUE_PARTIAL_BATCH"),
    )
