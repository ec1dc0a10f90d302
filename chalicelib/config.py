"""Settings read from the environment when asked for, never at import time."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from chalicelib.domain.rules import RuleConfig

DEMO_STAGE = "dev"  # the only stage on which DEMO_API_KEY is honoured
LOCAL_STAGES = frozenset({"dev", "local"})  # may run with a per-process cursor secret
MIN_SECRET_CHARS = 32
DEFAULT_SQLITE_PATH = str(Path(__file__).resolve().parent.parent / "data" / "ledger.db")


class ConfigError(ValueError):
    """A setting in the environment is missing or malformed."""


@dataclass(frozen=True)
class CognitoConfig:
    """Where bearer tokens come from: the issuer they must name, the JWKS that signs them, and
    the app clients they may be issued to."""

    issuer: str
    jwks_url: str
    client_ids: frozenset[str]


def _beside(sqlite_path: str, suffix: str) -> str:
    """A file next to the ledger's (tests that move the ledger move these too)."""
    ledger = Path(sqlite_path)
    return str(ledger.with_name(f"{ledger.stem}-{suffix}.db"))


@dataclass(frozen=True)
class QueueSettings:
    """Which queue, where, and how it retries (the SQS queue's own attributes must match)."""

    kind: str = "sqlite"  # QUEUE: sqlite (embedded) or sqs
    path: str = ""  # QUEUE_PATH: the embedded queue's file ("": beside the ledger's)
    receipts_path: str = ""  # RECEIPTS_PATH: receipts' file on SQLite ("": beside the ledger's)
    url: str | None = None  # QUEUE_URL
    dead_letter_url: str | None = None  # DEAD_LETTER_QUEUE_URL
    max_receives: int = 5  # QUEUE_MAX_RECEIVES: the redrive policy's maxReceiveCount
    visibility_s: int = 60  # QUEUE_VISIBILITY_S: the queue's visibility timeout
    # QUEUE_LOCAL_WORKERS: consumer threads beside the local server (SQLite's writes are
    # serialised anyway; on DynamoDB, whose calls wait, LOCAL_WORKERS_DYNAMODB)
    local_workers: int = 2
    groups: int = 0  # QUEUE_GROUPS: 0 = a message group per account, N = N groups per bank
    # QUEUE_PARTIAL_BATCH: the event source mapping reports batch item failures (the template
    # sets it); without it a failed message fails the whole batch, or Lambda would delete it
    partial_batch: bool = False

    def files_beside(self, sqlite_path: str) -> QueueSettings:
        """These settings with the embedded queue's and receipts' files resolved."""
        return replace(self, path=self.path or _beside(sqlite_path, "queue"),
                       receipts_path=self.receipts_path or _beside(sqlite_path, "receipts"))


LOCAL_WORKERS_DYNAMODB = 4


@dataclass(frozen=True)
class WebhookSettings:
    """Webhook delivery: its queue, retries and limits (docs/webhooks.md)."""

    store_path: str = ""  # WEBHOOK_STORE_PATH: SQLite's webhooks file ("": beside the ledger's)
    queue_path: str = ""  # WEBHOOK_QUEUE_PATH: the embedded delivery queue's file
    queue_url: str | None = None  # WEBHOOK_QUEUE_URL: the SQS delivery queue (QUEUE=sqs)
    dead_letter_url: str | None = None  # WEBHOOK_DEAD_LETTER_QUEUE_URL
    # WEBHOOK_QUEUE_MAX_RECEIVES: a safety net only (a worker crashing on a message); the 24 h
    # rule below dead-letters a delivery long before, so it is SQS's maximum
    max_receives: int = 1000
    visibility_s: int = 60  # WEBHOOK_QUEUE_VISIBILITY_S: > a batch's deliveries (5 s each)
    retry_base_s: int = 30  # WEBHOOK_RETRY_BASE_S: the first retry within this (full jitter)
    retry_cap_s: int = 3600  # WEBHOOK_RETRY_CAP_S: the longest pause between attempts
    max_age_s: int = 86400  # WEBHOOK_MAX_AGE_S: retried this long, then dead-lettered
    timeout_s: int = 5  # WEBHOOK_TIMEOUT_S: no answer within it is a failed attempt
    max_per_bank: int = 10  # WEBHOOK_MAX_PER_BANK
    # WEBHOOK_KEY derives every webhook's secret (never stored); required on every stage but
    # dev and local, where a key file beside the ledger is made on first use
    key: str | None = field(default=None, repr=False)
    event_bus: str | None = None  # EVENT_BUS_NAME: EventBridge's bus on AWS (None: off)
    local_workers: int = 1  # WEBHOOK_LOCAL_WORKERS: delivery threads beside the local server
    dispatch_interval_s: int = 1  # WEBHOOK_DISPATCH_INTERVAL_S: the local dispatcher's pause

    def files_beside(self, sqlite_path: str) -> WebhookSettings:
        """These settings with the webhooks' and the delivery queue's files resolved."""
        return replace(self, store_path=self.store_path or _beside(sqlite_path, "webhooks"),
                       queue_path=self.queue_path or _beside(sqlite_path, "webhook-queue"))


@dataclass(frozen=True)
class Settings:
    """Every knob of the service and its default (docs/configuration.md lists them)."""

    store: str = "sqlite"
    sqlite_path: str = DEFAULT_SQLITE_PATH
    # FULL: a commit is on disk before it is acknowledged, power loss included; NORMAL (WAL)
    # survives a crash of the process but a power loss may drop the last commits.
    sqlite_synchronous: str = "FULL"
    table_name: str | None = None
    aggregate_shards: int = 8
    archive_bucket: str | None = None
    upload_bucket: str | None = None  # large statement files: presigned PUTs land here
    max_upload_bytes: int = 50 * 1024 * 1024  # camt parsing peaks near 9x the file: 1 GB memory
    upload_expiry_s: int = 900
    demo_api_key: str | None = None
    max_batch: int = 500
    max_body_bytes: int = 1024 * 1024
    stage: str = "local"
    key_cache_ttl_s: int = 30  # how long a warm process trusts a looked-up key (revocation delay)
    cognito: CognitoConfig | None = None  # None: bearer tokens are refused (401)
    tracing: bool = False  # TRACING=on: X-Ray subsegments for AWS calls (adapters/xray.py)
    rules: RuleConfig = field(default_factory=RuleConfig)
    # signs history cursors (HMAC-SHA256); random per process unless CURSOR_SECRET is set
    cursor_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    queue: QueueSettings = field(default_factory=QueueSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)


def _default(cls: type, name: str) -> Any:
    """A field's default, so the loader never writes a default a second time."""
    return {f.name: f.default for f in fields(cls)}[name]


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _switch(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "off").strip().lower()
    if raw not in ("on", "off"):
        raise ConfigError(f"{name} must be 'on' or 'off', got {raw!r}")
    return raw == "on"


def _decimal(env: Mapping[str, str], name: str, default: Decimal) -> Decimal:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:
        raise ConfigError(f"{name} must be a decimal number, got {raw!r}") from exc
    if not value.is_finite() or value <= 0:
        raise ConfigError(f"{name} must be a positive number, got {raw!r}")
    return value


def _rules(env: Mapping[str, str]) -> RuleConfig:
    base = RuleConfig()
    return RuleConfig(
        large_amount=_decimal(env, "FLAG_LARGE_AMOUNT", base.large_amount),
        structuring_count=_int(env, "FLAG_STRUCTURING_COUNT", base.structuring_count, 2, 50),
        velocity_count=_int(env, "FLAG_VELOCITY_COUNT", base.velocity_count, 2, 1000),
        velocity_window_s=_int(env, "FLAG_VELOCITY_WINDOW_S", base.velocity_window_s, 1, 86400),
        round_amount_min=_decimal(env, "FLAG_ROUND_AMOUNT_MIN", base.round_amount_min),
        rapid_window_s=_int(env, "FLAG_RAPID_WINDOW_S", base.rapid_window_s, 1, 86400),
    )


SYNCHRONOUS_MODES = ("FULL", "NORMAL")


def _synchronous(env: Mapping[str, str]) -> str:
    raw = env.get("SQLITE_SYNCHRONOUS") or "FULL"
    if raw.upper() not in SYNCHRONOUS_MODES:
        raise ConfigError(f"SQLITE_SYNCHRONOUS must be FULL or NORMAL, got {raw!r}")
    return raw.upper()


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    url = env.get(name) or default
    if not url.startswith(("https://", "http://")):
        raise ConfigError(f"{name} must be an http(s) URL, got {url!r}")
    return url.rstrip("/") if name == "COGNITO_ISSUER" else url


def _cognito(env: Mapping[str, str]) -> CognitoConfig | None:
    """The bearer-token settings, or None when the stage names no user pool and no issuer.
    The issuer is derived from the pool id (whose prefix is its region); COGNITO_ISSUER and
    COGNITO_JWKS_URL override it so a local identity provider can stand in."""
    pool = (env.get("COGNITO_USER_POOL_ID") or "").strip()
    if not pool and not env.get("COGNITO_ISSUER"):
        return None
    region = env.get("COGNITO_REGION") or pool.partition("_")[0]
    issuer = _url(env, "COGNITO_ISSUER",
                  f"https://cognito-idp.{region}.amazonaws.com/{pool}" if pool and region else "")
    clients = frozenset(c.strip() for c in (env.get("COGNITO_CLIENT_IDS") or "").split(",")
                        if c.strip())
    if not clients:
        raise ConfigError("COGNITO_CLIENT_IDS (comma-separated app client ids) is required "
                          "when COGNITO_USER_POOL_ID or COGNITO_ISSUER is set")
    return CognitoConfig(issuer, _url(env, "COGNITO_JWKS_URL", f"{issuer}/.well-known/jwks.json"),
                         clients)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from `env` (the process environment by default)."""
    env = os.environ if env is None else env
    store = env.get("STORE", "sqlite") or "sqlite"
    if store not in ("sqlite", "dynamodb"):
        raise ConfigError(f"STORE must be 'sqlite' or 'dynamodb', got {store!r}")
    table = env.get("TABLE_NAME") or None
    if store == "dynamodb" and not table:
        raise ConfigError("TABLE_NAME is required when STORE=dynamodb")
    stage = env.get("STAGE", "local") or "local"
    demo_key = env.get("DEMO_API_KEY") or None
    if demo_key and stage != DEMO_STAGE:
        # the value is never quoted: it is a key
        raise ConfigError(f"DEMO_API_KEY is set on stage {stage!r}: the demo key is for the "
                          f"{DEMO_STAGE!r} stage only; unset it")
    return Settings(
        store=store,
        sqlite_path=env.get("SQLITE_PATH") or DEFAULT_SQLITE_PATH,
        sqlite_synchronous=_synchronous(env),
        table_name=table,
        aggregate_shards=_int(env, "AGGREGATE_SHARDS", _default(Settings, "aggregate_shards"),
                              1, 100),
        archive_bucket=env.get("ARCHIVE_BUCKET") or None,
        upload_bucket=env.get("UPLOAD_BUCKET") or None,
        max_upload_bytes=_int(env, "MAX_UPLOAD_BYTES", _default(Settings, "max_upload_bytes"),
                              1024, 1024 ** 3),
        upload_expiry_s=_int(env, "UPLOAD_EXPIRY_S", _default(Settings, "upload_expiry_s"), 60,
                             3600),
        demo_api_key=demo_key,
        max_batch=_int(env, "MAX_BATCH", _default(Settings, "max_batch"), 1, 10000),
        max_body_bytes=_int(env, "MAX_BODY_BYTES", _default(Settings, "max_body_bytes"), 1024,
                            6 * 1024 * 1024),
        stage=stage,
        key_cache_ttl_s=_int(env, "KEY_CACHE_TTL_S", _default(Settings, "key_cache_ttl_s"), 0,
                             3600),
        cognito=_cognito(env),
        tracing=_switch(env, "TRACING"),
        rules=_rules(env),
        cursor_secret=_cursor_secret(env, stage),
        queue=_queue(env, store),
        webhooks=_webhooks(env),
    )


def _webhooks(env: Mapping[str, str]) -> WebhookSettings:
    """Webhook delivery's settings (the queue's kind is QUEUE's)."""
    key = env.get("WEBHOOK_KEY") or None
    if key is not None and len(key) < MIN_SECRET_CHARS:
        raise ConfigError(f"WEBHOOK_KEY must be at least {MIN_SECRET_CHARS} characters")
    d = WebhookSettings()
    return WebhookSettings(
        store_path=env.get("WEBHOOK_STORE_PATH") or "",
        queue_path=env.get("WEBHOOK_QUEUE_PATH") or "",
        queue_url=env.get("WEBHOOK_QUEUE_URL") or None,
        dead_letter_url=env.get("WEBHOOK_DEAD_LETTER_QUEUE_URL") or None,
        max_receives=_int(env, "WEBHOOK_QUEUE_MAX_RECEIVES", d.max_receives, 1, 1000),
        visibility_s=_int(env, "WEBHOOK_QUEUE_VISIBILITY_S", d.visibility_s, 1, 43200),
        retry_base_s=_int(env, "WEBHOOK_RETRY_BASE_S", d.retry_base_s, 1, 3600),
        retry_cap_s=_int(env, "WEBHOOK_RETRY_CAP_S", d.retry_cap_s, 1, 43200),
        max_age_s=_int(env, "WEBHOOK_MAX_AGE_S", d.max_age_s, 1, 14 * 86400),
        timeout_s=_int(env, "WEBHOOK_TIMEOUT_S", d.timeout_s, 1, 30),
        max_per_bank=_int(env, "WEBHOOK_MAX_PER_BANK", d.max_per_bank, 1, 1000),
        key=key,
        event_bus=env.get("EVENT_BUS_NAME") or None,
        local_workers=_int(env, "WEBHOOK_LOCAL_WORKERS", d.local_workers, 0, 16),
        dispatch_interval_s=_int(env, "WEBHOOK_DISPATCH_INTERVAL_S", d.dispatch_interval_s, 1,
                                 60),
    )


def _queue(env: Mapping[str, str], store: str) -> QueueSettings:
    """The asynchronous path's settings; `store` is the ledger's kind."""
    kind = env.get("QUEUE", "sqlite") or "sqlite"
    if kind not in ("sqlite", "sqs"):
        raise ConfigError(f"QUEUE must be 'sqlite' or 'sqs', got {kind!r}")
    url = env.get("QUEUE_URL") or None
    if kind == "sqs" and not url:
        raise ConfigError("QUEUE_URL is required when QUEUE=sqs")
    workers = (LOCAL_WORKERS_DYNAMODB if store == "dynamodb"
               else _default(QueueSettings, "local_workers"))
    return QueueSettings(
        kind=kind,
        path=env.get("QUEUE_PATH") or "",
        receipts_path=env.get("RECEIPTS_PATH") or "",
        url=url,
        dead_letter_url=env.get("DEAD_LETTER_QUEUE_URL") or None,
        max_receives=_int(env, "QUEUE_MAX_RECEIVES", _default(QueueSettings, "max_receives"),
                          1, 1000),
        visibility_s=_int(env, "QUEUE_VISIBILITY_S", _default(QueueSettings, "visibility_s"),
                          1, 43200),
        local_workers=_int(env, "QUEUE_LOCAL_WORKERS", workers, 0, 64),
        groups=_int(env, "QUEUE_GROUPS", _default(QueueSettings, "groups"), 0, 10_000),
        partial_batch=_switch(env, "QUEUE_PARTIAL_BATCH"),
    )


def _cursor_secret(env: Mapping[str, str], stage: str) -> str:
    """CURSOR_SECRET, required (32+ characters) on every stage but dev and local, where a
    random per-process secret is enough: cursors then last as long as the process."""
    secret = env.get("CURSOR_SECRET") or ""
    if secret:
        if len(secret) < MIN_SECRET_CHARS:
            raise ConfigError(f"CURSOR_SECRET must be at least {MIN_SECRET_CHARS} characters")
        return secret
    if stage in LOCAL_STAGES:
        return secrets.token_urlsafe(32)
    raise ConfigError(f"CURSOR_SECRET is required on stage {stage!r} (at least "
                      f"{MIN_SECRET_CHARS} characters; see docs/configuration.md)")
