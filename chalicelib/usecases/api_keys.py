"""API keys: random, shown once, stored only as SHA-256 hashes, each mapped to one bank."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from chalicelib.domain.timeutil import format_timestamp, now_utc
from chalicelib.errors import FieldError, ForbiddenError, UnauthorizedError, ValidationError
from chalicelib.ports.store import ApiKeyRecord, KeyStore
from chalicelib.support.ttl_cache import TtlCache

DEMO_BANK = "demo"
KEY_PREFIX = "tsk_"
BANK_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")


def hash_key(key: str) -> str:
    """The stored form of a key. Keys carry 256 random bits, so a plain SHA-256 suffices:
    there is nothing to brute-force that a slow hash would protect."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def check_bank(bank: str) -> str:
    """A bank id: lower-case letters, digits and dashes, 1-40 long."""
    if not BANK_PATTERN.fullmatch(bank):
        raise ValidationError("invalid bank id",
                              [FieldError("bank", "must be 1-40 of a-z0-9- (not starting with -)")])
    return bank


def create_key(store: KeyStore, bank: str) -> tuple[str, ApiKeyRecord]:
    """A new key for `bank`: the key itself (shown once) and the record that is stored."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKeyRecord(hash_key(key), check_bank(bank), secrets.token_hex(4),
                          format_timestamp(now_utc().replace(microsecond=0)))
    store.put_api_key(record)
    return key, record


def list_keys(store: KeyStore, bank: str) -> list[ApiKeyRecord]:
    """Every key record of `bank` (hashes only; a key is never stored)."""
    return store.list_api_keys(check_bank(bank))


def revoke_key(store: KeyStore, bank: str, key_id: str) -> bool:
    """Revoke one of `bank`'s keys; False when the bank has no key with that id."""
    return store.revoke_api_key(check_bank(bank), key_id)


def authenticate(store: KeyStore, key: str | None, demo_key: str | None,
                 cache: TtlCache[ApiKeyRecord] | None = None) -> str:
    """The bank a key belongs to; 401 without a key, 403 for an unknown or revoked one."""
    if not key:
        raise UnauthorizedError("send your API key in the x-api-key header")
    if len(key) > 200 or not (key.isascii() and key.isprintable()):
        raise ForbiddenError("the API key is not valid")  # (a lone surrogate cannot be hashed)
    if demo_key and hmac.compare_digest(key.encode(), demo_key.encode()):
        return DEMO_BANK
    digest = hash_key(key)
    # Only found keys are remembered (a miss costs a read each time, as without a cache), so a
    # key created right after a failed try works at once; a revocation waits out the TTL.
    record = (cache.get(digest, store.find_api_key) if cache is not None
              else store.find_api_key(digest))
    if record is None or record.revoked:
        raise ForbiddenError("the API key is not valid")
    return record.bank
