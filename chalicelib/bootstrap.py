"""The one composition root: every dependency built from the settings, once, immutable.

Entry points build the runtime (`app.py` on the first request, `scripts/serve_local.py` and
`scripts/worker.py` at start) and start workers; a request never starts a thread. Adapters are
imported only when the settings choose them (boto3 only on AWS), and none touches the disk or
the network before its first call. Tests install a runtime with `set_runtime` (the one
injection point), passing fakes for any part.
"""

from __future__ import annotations

import os
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from chalicelib.config import LOCAL_STAGES, ConfigError, QueueSettings, Settings, load_settings
from chalicelib.domain.rule_sets import RuleSet
from chalicelib.ports.archive import Archive
from chalicelib.ports.queue import Queue
from chalicelib.ports.store import (
    ApiKeyRecord,
    OutboxStore,
    ReceiptStore,
    ReplayJobStore,
    Store,
)
from chalicelib.ports.tokens import TokenVerifier
from chalicelib.ports.uploads import Uploads
from chalicelib.support.ttl_cache import TtlCache

if TYPE_CHECKING:  # webhooks' modules load when a webhook route or worker first needs them
    from chalicelib.adapters.dynamo.dynamo_store import DynamoStore  # boto3: only on AWS
    from chalicelib.ports.webhooks import EventBus, WebhookStore


@dataclass(frozen=True)
class Runtime:
    """What a request or a consumer needs; built by `bootstrap`, never changed after."""

    settings: Settings
    store: Store
    queue: Queue
    receipts: ReceiptStore
    keys: TtlCache[ApiKeyRecord]  # API key hash -> record (revocation waits out the TTL)
    clients: TtlCache[str]  # Cognito app client id -> bank
    rule_sets: TtlCache[RuleSet]  # bank -> the rule set ingest applies (a PUT here: at once)
    verifier: TokenVerifier | None  # None: bearer tokens are refused on this stage
    archive: Archive | None  # None: no raw archive (ARCHIVE_BUCKET unset)
    uploads: Uploads | None  # None: no presigned uploads of large files (UPLOAD_BUCKET unset)
    webhooks: WebhookStore
    webhook_queue: Queue | None  # None: QUEUE=sqs without WEBHOOK_QUEUE_URL (deliveries off)
    bus: EventBus | None  # None: no EventBridge bus (EVENT_BUS_NAME unset)
    stop: threading.Event = field(default_factory=threading.Event, compare=False)
    replay_jobs: ReplayJobStore | None = None  # None: replays only answer synchronously

    @property
    def queue_settings(self) -> QueueSettings:
        return self.settings.queue

    @property
    def outbox(self) -> OutboxStore | None:
        """The store's outbox of events, when the store keeps one."""
        return self.store if isinstance(self.store, OutboxStore) else None


def open_store(settings: Settings) -> Store:
    """The ledger store the settings name: SQLite on disk by default, DynamoDB on AWS."""
    if settings.store == "dynamodb":
        from chalicelib.adapters.dynamo.dynamo_store import DynamoStore  # boto3 only here

        return DynamoStore.from_settings(settings)
    from chalicelib.adapters.sqlite.sqlite_store import SqliteStore

    return SqliteStore(settings.sqlite_path, settings.sqlite_synchronous)


def open_queue(settings: Settings) -> Queue:
    """The ingest queue: SQS FIFO on AWS, the embedded SQLite queue locally (its own dead-letter
    move after BACKSTOP_RECEIVES, as the template's redrive policy: the consumer decides)."""
    qs = settings.queue.files_beside(settings.sqlite_path)
    if qs.kind == "sqs":
        from chalicelib.adapters.sqs_queue import SqsQueue

        return SqsQueue(str(qs.url), qs.dead_letter_url, qs.max_receives)
    from chalicelib.adapters.sqlite.sqlite_queue import SqliteQueue

    return SqliteQueue(qs.path, qs.max_receives, synchronous=settings.sqlite_synchronous)


def _ledger_table(store: Store) -> DynamoStore | None:
    """The DynamoDB store whose table also holds receipts, replay jobs and webhooks; None on
    SQLite, where each lives in a file of its own beside the ledger's."""
    if store.name != "dynamodb":
        return None
    from chalicelib.adapters.dynamo.dynamo_store import DynamoStore

    return store if isinstance(store, DynamoStore) else None


def open_receipts(settings: Settings, store: Store) -> ReceiptStore:
    """Receipts live beside the ledger: in its table on DynamoDB, in a file of their own on
    SQLite (the ledger's file is written by the request path; receipts by the consumer too)."""
    table = _ledger_table(store)
    if table is not None:
        return table.receipts()
    from chalicelib.adapters.sqlite.sqlite_receipts import SqliteReceipts

    qs = settings.queue.files_beside(settings.sqlite_path)
    return SqliteReceipts(qs.receipts_path, settings.sqlite_synchronous)


def open_replay_jobs(settings: Settings, store: Store) -> ReplayJobStore:
    """Replay jobs' records, where the receipts are: the ledger table on DynamoDB, the
    receipts' file on SQLite."""
    table = _ledger_table(store)
    if table is not None:
        return table.replay_jobs()
    from chalicelib.adapters.sqlite.sqlite_replay_jobs import SqliteReplayJobs

    qs = settings.queue.files_beside(settings.sqlite_path)
    return SqliteReplayJobs(qs.receipts_path, settings.sqlite_synchronous)


def open_webhooks(settings: Settings, store: Store) -> WebhookStore:
    """Webhooks live beside the ledger: in its table on DynamoDB, in a file of their own on
    SQLite (delivery workers write their log; ingest's file is left to ingest)."""
    table = _ledger_table(store)
    if table is not None:
        return table.webhooks()
    from chalicelib.adapters.sqlite.sqlite_webhooks import SqliteWebhooks

    ws = settings.webhooks.files_beside(settings.sqlite_path)
    return SqliteWebhooks(ws.store_path, settings.sqlite_synchronous)


def open_webhook_queue(settings: Settings) -> Queue | None:
    """The delivery queue: SQS FIFO on AWS (None without its URL), embedded locally."""
    ws = settings.webhooks.files_beside(settings.sqlite_path)
    if settings.queue.kind == "sqs":
        if not ws.queue_url:
            return None
        from chalicelib.adapters.sqs_queue import SqsQueue

        return SqsQueue(ws.queue_url, ws.dead_letter_url, ws.max_receives)
    from chalicelib.adapters.sqlite.sqlite_queue import SqliteQueue

    # no consumer's own dead-letter move here: the webhook queue's receive count is its rule
    return SqliteQueue(ws.queue_path, ws.max_receives, synchronous=settings.sqlite_synchronous,
                       backstop_receives=ws.max_receives)


def webhook_key(settings: Settings) -> bytes:
    """The key every webhook's secret is derived from: WEBHOOK_KEY, or on the dev and local
    stages a random key kept in a file beside the ledger (made once, readable by its owner
    only), so secrets shown at registration still sign after a restart."""
    if settings.webhooks.key:
        return settings.webhooks.key.encode()
    if settings.stage not in LOCAL_STAGES:
        raise ConfigError(f"WEBHOOK_KEY is required on stage {settings.stage!r} (at least 32"
                          " characters; see docs/configuration.md)")
    ledger = Path(settings.sqlite_path)
    path = ledger.with_name(f"{ledger.stem}-webhook.key")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    except FileExistsError:
        pass  # made before (or by another process at the same moment): read it
    key = path.read_text().strip()
    if len(key) < 32:
        raise ConfigError(f"the webhook key file {path} is damaged; remove it (every webhook's"
                          " secret changes)")
    return key.encode()


def bootstrap(settings: Settings | None = None, store: Store | None = None, *,
              queue: Queue | None = None, receipts: ReceiptStore | None = None,
              verifier: TokenVerifier | None = None, webhooks: WebhookStore | None = None,
              webhook_queue: Queue | None = None, bus: EventBus | None = None) -> Runtime:
    """The runtime for `settings` (read from the environment when None); any part may be
    passed in instead of built (tests pass fakes and local stand-ins)."""
    settings = settings or load_settings()
    if settings.tracing:
        from chalicelib.adapters.xray import enable_tracing

        enable_tracing()  # before the store makes its first AWS call
    store = store if store is not None else open_store(settings)
    if verifier is None and settings.cognito is not None:
        from chalicelib.adapters.cognito import CognitoVerifier

        verifier = CognitoVerifier(settings.cognito)
    archive: Archive | None = None
    if settings.archive_bucket:
        from chalicelib.adapters.s3_archive import S3Archive

        archive = S3Archive(settings.archive_bucket)
    uploads: Uploads | None = None
    if settings.upload_bucket:
        from chalicelib.adapters.s3_uploads import S3Uploads

        uploads = S3Uploads(settings.upload_bucket)
    if bus is None and settings.webhooks.event_bus:
        from chalicelib.adapters.eventbridge import EventBridgeBus

        bus = EventBridgeBus(settings.webhooks.event_bus)
    return Runtime(
        settings=settings, store=store,
        queue=queue if queue is not None else open_queue(settings),
        receipts=receipts if receipts is not None else open_receipts(settings, store),
        keys=TtlCache(settings.key_cache_ttl_s),
        clients=TtlCache(settings.key_cache_ttl_s, remember_misses=True),
        rule_sets=TtlCache(settings.key_cache_ttl_s),
        verifier=verifier, archive=archive, uploads=uploads,
        webhooks=webhooks if webhooks is not None else open_webhooks(settings, store),
        webhook_queue=webhook_queue if webhook_queue is not None
        else open_webhook_queue(settings), bus=bus,
        replay_jobs=open_replay_jobs(settings, store))


_lock = threading.Lock()
_current: Runtime | None = None


def get_runtime() -> Runtime:
    """The process's runtime, built from the environment on first use (not at import)."""
    global _current
    if _current is None:
        with _lock:
            if _current is None:
                _current = bootstrap()
    return _current


def set_runtime(runtime: Runtime | None) -> None:
    """Install a runtime (tests, entry points), or None to rebuild from the environment on next
    use. The previous runtime's workers are told to stop."""
    global _current
    with _lock:
        if _current is not None and _current is not runtime:
            _current.stop.set()
        _current = runtime
