"""The webhook routes: register (the secret shown once), list, delete, ping, the deliveries' log.

A bank sees and touches only its own webhooks: another bank's id is a 404, as everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from chalicelib.bootstrap import Runtime, webhook_key
from chalicelib.config import ConfigError
from chalicelib.domain.timeutil import format_timestamp
from chalicelib.domain.webhook_urls import Resolver, check_url
from chalicelib.domain.webhooks import (
    Webhook,
    derive_secret,
    is_webhook_id,
    new_webhook_id,
    parse_registration,
    ping_event,
)
from chalicelib.errors import ConflictError, FieldError, NotFoundError, ValidationError
from chalicelib.usecases import webhook_delivery

DEFAULT_LOG_LIMIT, MAX_LOG_LIMIT = 20, 100


def _resolver(resolve: Resolver | None) -> Resolver:
    if resolve is not None:
        return resolve
    from chalicelib.adapters.webhook_http import resolve as dns

    return dns


def register(rt: Runtime, bank: str, body: Any, now: datetime,
             resolve: Resolver | None = None) -> dict[str, Any]:
    """A new webhook and its secret (derived, never stored: this answer is the only time it
    is shown). The URL is checked after DNS resolution here and again at every delivery."""
    url, events = parse_registration(body)
    check_url(url, rt.settings.stage, _resolver(resolve))
    key = webhook_key(rt.settings)  # a missing key refuses before anything is stored
    hook = Webhook(bank, new_webhook_id(), url, events, format_timestamp(now))
    cap = rt.settings.webhooks.max_per_bank
    if not rt.webhooks.create_webhook(hook, cap):
        raise ConflictError(f"a bank may register at most {cap} webhooks; delete one first")
    return {**hook.to_json(), "secret": derive_secret(key, bank, hook.id)}


def list_webhooks(rt: Runtime, bank: str) -> dict[str, Any]:
    return {"webhooks": [h.to_json() for h in rt.webhooks.list_webhooks(bank)]}


def _hook(rt: Runtime, bank: str, webhook_id: str) -> Webhook:
    hook = rt.webhooks.get_webhook(bank, webhook_id) if is_webhook_id(webhook_id) else None
    if hook is None:
        raise NotFoundError(f"no webhook {webhook_id!r}")
    return hook


def delete(rt: Runtime, bank: str, webhook_id: str, now: datetime) -> None:
    if not is_webhook_id(webhook_id) or not rt.webhooks.delete_webhook(
            bank, webhook_id, format_timestamp(now)):
        raise NotFoundError(f"no webhook {webhook_id!r}")


def ping(rt: Runtime, bank: str, webhook_id: str, now: datetime) -> dict[str, Any]:
    """Queue a `ping` event for this webhook: the same queue, signature and retries as any
    event; its line appears in the deliveries' log."""
    hook = _hook(rt, bank, webhook_id)
    if rt.webhook_queue is None:
        raise ConfigError("WEBHOOK_QUEUE_URL is required with QUEUE=sqs to deliver webhooks")
    event = ping_event(bank, hook.id, format_timestamp(now))
    rt.webhook_queue.send([webhook_delivery.to_message(event, hook)])
    return {"event_id": event.id, "type": event.type, "created": event.created}


def _limit(params: Mapping[str, str] | None) -> int:
    raw = (params or {}).get("limit")
    if raw is None:
        return DEFAULT_LOG_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LOG_LIMIT:
        raise ValidationError("the limit is invalid", [
            FieldError("limit", f"must be a whole number from 1 to {MAX_LOG_LIMIT}")])
    return int(raw)


def deliveries(rt: Runtime, bank: str, webhook_id: str,
               params: Mapping[str, str] | None) -> dict[str, Any]:
    """The webhook's deliveries, newest event first (a deleted webhook's log is gone too)."""
    limit = _limit(params)
    _hook(rt, bank, webhook_id)
    return {"deliveries": [d.to_json() for d in
                           rt.webhooks.list_deliveries(bank, webhook_id, limit)]}
