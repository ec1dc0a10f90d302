"""The storage ports are split by purpose: a fake implements only the port its consumer takes."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from chalicelib.domain.model import Transaction
from chalicelib.errors import ForbiddenError
from chalicelib.ports.store import (
    AdminStore,
    AlertStore,
    ApiKeyRecord,
    AppClientRecord,
    KeyStore,
    LedgerStore,
    OutboxStore,
    RuleSetRecord,
    RuleSetStore,
    Store,
)
from chalicelib.usecases.api_keys import authenticate, create_key, revoke_key


class DictKeys(KeyStore):
    """Keys and app clients in dicts: the KeyStore methods and nothing of the ledger or admin
    ports."""

    def __init__(self) -> None:
        self.records: dict[str, ApiKeyRecord] = {}
        self.clients: dict[str, AppClientRecord] = {}

    def put_api_key(self, record: ApiKeyRecord) -> None:
        self.records[record.key_hash] = record

    def find_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        return self.records.get(key_hash)

    def list_api_keys(self, bank: str) -> list[ApiKeyRecord]:
        return [r for r in self.records.values() if r.bank == bank]

    def revoke_api_key(self, bank: str, key_id: str) -> bool:
        for digest, record in self.records.items():
            if record.bank == bank and record.key_id == key_id:
                self.records[digest] = dataclasses.replace(record, revoked=True)
                return True
        return False

    def map_app_client(self, record: AppClientRecord) -> bool:
        return self.clients.setdefault(record.client_id, record) is record

    def find_app_client(self, client_id: str) -> AppClientRecord | None:
        return self.clients.get(client_id)

    def list_app_clients(self, bank: str) -> list[AppClientRecord]:
        return [r for r in self.clients.values() if r.bank == bank]

    def unmap_app_client(self, bank: str, client_id: str) -> bool:
        if client_id in self.clients and self.clients[client_id].bank == bank:
            del self.clients[client_id]
            return True
        return False


def test_key_functions_run_on_a_fake_that_implements_only_the_key_port() -> None:
    keys = DictKeys()
    key, record = create_key(keys, "acme")
    assert authenticate(keys, key, None) == "acme"
    assert revoke_key(keys, "acme", record.key_id)
    with pytest.raises(ForbiddenError):
        authenticate(keys, key, None)


def test_a_full_store_is_every_port_and_the_ports_share_no_method() -> None:
    assert issubclass(Store, LedgerStore) and issubclass(Store, KeyStore)
    assert issubclass(Store, AdminStore) and issubclass(Store, RuleSetStore)
    assert issubclass(Store, AlertStore) and issubclass(Store, OutboxStore)
    methods = [set(p.__abstractmethods__)
               for p in (LedgerStore, KeyStore, AdminStore, RuleSetStore, AlertStore, OutboxStore)]
    assert sum(len(m) for m in methods) == len(set().union(*methods)) == 32
    assert set(Store.__abstractmethods__) == set().union(*methods)


def test_app_client_functions_run_on_a_fake_that_implements_only_the_key_port() -> None:
    from chalicelib.usecases.app_clients import list_clients, map_client, unmap_client

    keys = DictKeys()
    record, made = map_client(keys, "acme", "client1")
    assert made and map_client(keys, "globex", "client1") == (record, False)
    assert list_clients(keys, "acme") == [record]
    assert unmap_client(keys, "acme", "client1") and keys.find_app_client("client1") is None


class DictRuleSets(RuleSetStore):
    """Rule sets in a dict: the RuleSetStore methods and nothing else."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, int], RuleSetRecord] = {}

    def put_rule_set(self, record: RuleSetRecord) -> bool:
        if (record.bank, record.version) in self.records:
            return False
        self.records[(record.bank, record.version)] = record
        return True

    def get_rule_set(self, bank: str, version: int | None = None) -> RuleSetRecord | None:
        mine = sorted(v for b, v in self.records if b == bank)
        wanted = version if version is not None else (mine[-1] if mine else None)
        return self.records.get((bank, wanted)) if wanted is not None else None

    def transactions_between(self, bank: str, since: str, until: str) -> Iterator[Transaction]:
        return iter(())


def test_rule_set_functions_run_on_a_fake_that_implements_only_the_rule_set_port() -> None:
    from datetime import UTC, datetime

    from chalicelib.domain.rules import RuleConfig
    from chalicelib.usecases.rules_admin import active_rule_set, get_rules, put_rules

    sets = DictRuleSets()
    body = {"rules": [{"name": "big", "builtin": "large_amount"}]}
    answer = put_rules(sets, "acme", body, "key:k1", datetime(2026, 1, 10, tzinfo=UTC),
                       RuleConfig())
    assert answer["version"] == 1 and get_rules(sets, "acme", None, RuleConfig()) == answer
    assert active_rule_set(sets, "acme", RuleConfig()).version == 1
    assert get_rules(sets, "other", None, RuleConfig())["version"] == 0
