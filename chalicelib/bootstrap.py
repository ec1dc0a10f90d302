"""The one composition root: every dependency built from the settings, once, immutable.

Entry points build the runtime (`app.py` on the first request, `scripts/serve_local.py` and
`scripts/worker.py` at start) and start workers; a request never starts a thread. Adapters are
imported only when the settings choose them (boto3 only on AWS), and none touches the disk or
the network before its first call. Tests install a runtime with `set_runtime` (the one
injection point), passing fakes for any part.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from chalicelib.config import QueueSettings, Settings, load_settings
from chalicelib.domain.rule_sets import RuleSet
from chalicelib.ports.archive import Archive
from chalicelib.ports.queue import Queue
from chalicelib.ports.store import ApiKeyRecord, ReceiptStore, ReplayJobStore, Store
from chalicelib.ports.tokens import TokenVerifier
from chalicelib.ports.uploads import Uploads
from chalicelib.support.ttl_cache import TtlCache


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
    stop: threading.Event = field(default_factory=threading.Event, compare=False)
    replay_jobs: ReplayJobStore | None = None  # None: replays only answer synchronously

    @property
    def queue_settings(self) -> QueueSettings:
        return self.settings.queue


def open_store(settings: Settings) -> Store:
    """The ledger store the settings name: SQLite on disk by default, DynamoDB on AWS."""
    if settings.store == "dynamodb":
        from chalicelib.adapters.dynamo.dynamo_store import DynamoStore  # boto3 only here

        return DynamoStore.from_settings(settings)
    from chalicelib.adapters.sqlite.sqlite_store import SqliteStore

    return SqliteStore(settings.sqlite_path, settings.sqlite_synchronous)


def open_queue(settings: Settings) -> Queue:
    """The ingest queue: SQS FIFO on AWS, the embedded SQLite queue locally."""
    qs = settings.queue.files_beside(settings.sqlite_path)
    if qs.kind == "sqs":
        from chalicelib.adapters.sqs_queue import SqsQueue

        return SqsQueue(str(qs.url), qs.dead_letter_url, qs.max_receives)
    from chalicelib.adapters.sqlite.sqlite_queue import SqliteQueue

    return SqliteQueue(qs.path, qs.max_receives, synchronous=settings.sqlite_synchronous)


def open_receipts(settings: Settings, store: Store) -> ReceiptStore:
    """Receipts live beside the ledger: in its table on DynamoDB, in a file of their own on
    SQLite (the ledger's file is written by the request path; receipts by the consumer too)."""
    if store.name == "dynamodb":
        from chalicelib.adapters.dynamo.dynamo_store import DynamoStore

        if isinstance(store, DynamoStore):
            return store.receipts()
    from chalicelib.adapters.sqlite.sqlite_receipts import SqliteReceipts

    qs = settings.queue.files_beside(settings.sqlite_path)
    return SqliteReceipts(qs.receipts_path, settings.sqlite_synchronous)


def open_replay_jobs(settings: Settings, store: Store) -> ReplayJobStore:
    """Replay jobs' records, where the receipts are: the ledger table on DynamoDB, the
    receipts' file on SQLite."""
    if store.name == "dynamodb":
        from chalicelib.adapters.dynamo.dynamo_store import DynamoStore

        if isinstance(store, DynamoStore):
            return store.replay_jobs()
    from chalicelib.adapters.sqlite.sqlite_replay_jobs import SqliteReplayJobs

    qs = settings.queue.files_beside(settings.sqlite_path)
    return SqliteReplayJobs(qs.receipts_path, settings.sqlite_synchronous)


def bootstrap(settings: Settings | None = None, store: Store | None = None, *,
              queue: Queue | None = None, receipts: ReceiptStore | None = None,
              verifier: TokenVerifier | None = None) -> Runtime:
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
    return Runtime(
        settings=settings, store=store,
        queue=queue if queue is not None else open_queue(settings),
        receipts=receipts if receipts is not None else open_receipts(settings, store),
        keys=TtlCache(settings.key_cache_ttl_s),
        clients=TtlCache(settings.key_cache_ttl_s, remember_misses=True),
        rule_sets=TtlCache(settings.key_cache_ttl_s),
        verifier=verifier, archive=archive, uploads=uploads,
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
