"""Bank systems on Cognito: each app client (client-credentials tokens) mapped to one bank."""

from __future__ import annotations

import re

from chalicelib.domain.timeutil import format_timestamp, now_utc
from chalicelib.errors import FieldError, ValidationError
from chalicelib.ports.store import AppClientRecord, KeyStore
from chalicelib.usecases.api_keys import check_bank

CLIENT_ID_PATTERN = re.compile(r"[\w+]{1,128}")  # Cognito's own rule for an app client id


def check_client_id(client_id: str) -> str:
    """An app client id as Cognito spells them (letters, digits, `_`, `+`; 1-128)."""
    if not CLIENT_ID_PATTERN.fullmatch(client_id):
        raise ValidationError("invalid app client id",
                              [FieldError("client_id", "must be 1-128 of A-Za-z0-9_+")])
    return client_id


def map_client(store: KeyStore, bank: str, client_id: str) -> tuple[AppClientRecord, bool]:
    """Map `client_id` to `bank`: the mapping now stored, and whether this call made it. A
    client already mapped keeps its bank (unmap it first): a token must never change banks."""
    record = AppClientRecord(check_client_id(client_id), check_bank(bank),
                             format_timestamp(now_utc().replace(microsecond=0)))
    if store.map_app_client(record):
        return record, True
    return store.find_app_client(client_id) or record, False


def unmap_client(store: KeyStore, bank: str, client_id: str) -> bool:
    """Remove the mapping; False when `client_id` is not mapped to `bank`."""
    return store.unmap_app_client(check_bank(bank), check_client_id(client_id))


def list_clients(store: KeyStore, bank: str) -> list[AppClientRecord]:
    """The app clients mapped to `bank`, oldest first."""
    return store.list_app_clients(check_bank(bank))
