"""The key admin command and the key check: created keys work, revoked ones are refused."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from chalice.test import Client

from app import app
from chalicelib.adapters.sqlite.sqlite_store import SqliteStore
from chalicelib.bootstrap import bootstrap, set_runtime
from chalicelib.config import Settings
from chalicelib.errors import ForbiddenError
from chalicelib.ports.store import ApiKeyRecord, Store
from chalicelib.support.ttl_cache import TtlCache
from chalicelib.usecases.api_keys import authenticate, create_key, hash_key
from chalicelib.usecases.app_clients import list_clients, map_client, unmap_client
from scripts import keys
from scripts.dynamodb_local import DynamoDBLocal
from tests.support.dynamodb_local import dynamodb_local_store
from tests.support.edges import refused
from tests.support.factories import raw_tx

ROOT = Path(__file__).resolve().parents[3]


def cli(env: dict[str, str], *argv: str) -> tuple[int, str]:
    """Run the admin command in-process; its exit code and what it printed."""
    code, out, _ = cli_streams(env, *argv)
    return code, out


def cli_streams(env: dict[str, str], *argv: str) -> tuple[int, str, str]:
    """Run the admin command in-process; its exit code, its output and its diagnostics."""
    out, err = io.StringIO(), io.StringIO()
    code = keys.main(list(argv), env=env, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def cli_create(env: dict[str, str], bank: str) -> tuple[str, str]:
    """Create a key with the admin command; the key and its id, parsed from its output."""
    code, text = cli(env, "create", "--bank", bank)
    assert code == 0, text
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    return fields["key"].strip(), fields["key id"].strip()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"STORE": "sqlite", "SQLITE_PATH": str(tmp_path / "ledger.db")}


@pytest.fixture
def client(env: dict[str, str]) -> Iterator[Client]:
    """The app on the same SQLite file the admin command writes, trusting no cached key."""
    store = SqliteStore(env["SQLITE_PATH"])
    set_runtime(bootstrap(Settings(sqlite_path=store.path, key_cache_ttl_s=0), store))
    with Client(app) as test_client:
        yield test_client
    set_runtime(None)


def analytics(client: Client, key: str | None) -> int:
    headers = {"x-api-key": key} if key is not None else {}
    return int(client.http.get("/analytics", headers=headers).status_code)


def test_created_key_is_printed_once_and_only_its_hash_is_stored(env: dict[str, str]) -> None:
    key, key_id = cli_create(env, "acme")
    assert key.startswith("tsk_") and len(key) > 40
    record = SqliteStore(env["SQLITE_PATH"]).find_api_key(hash_key(key))
    assert record is not None and record.bank == "acme" and record.key_id == key_id
    files = [Path(env["SQLITE_PATH"] + suffix) for suffix in ("", "-wal")]
    assert not any(key.encode() in f.read_bytes() for f in files if f.exists())
    code, listing = cli(env, "list", "--bank", "acme")
    assert code == 0 and key_id in listing and "active" in listing and key not in listing


def test_a_created_key_opens_the_api_and_a_revoked_one_is_403(
        env: dict[str, str], client: Client) -> None:
    key, key_id = cli_create(env, "acme")
    assert analytics(client, key) == 200
    assert cli(env, "revoke", "--bank", "acme", "--key-id", key_id)[0] == 0
    assert analytics(client, key) == 403
    assert "revoked" in cli(env, "list", "--bank", "acme")[1]


def test_rotation_keeps_the_new_key_working_after_the_old_is_revoked(
        env: dict[str, str], client: Client) -> None:
    old, old_id = cli_create(env, "acme")
    new, _ = cli_create(env, "acme")
    cli(env, "revoke", "--bank", "acme", "--key-id", old_id)
    assert (analytics(client, old), analytics(client, new)) == (403, 200)


def test_every_route_but_health_needs_a_key(client: Client) -> None:
    paths = ["/analytics", "/transactions/t1", "/accounts/A123", "/accounts/A123/transactions"]
    for path in paths:
        refused(client.http.get(path), 401, "UnauthorizedError", says="x-api-key")
        refused(client.http.get(path, headers={"x-api-key": "tsk_unknown"}), 403,
                "ForbiddenError")
    post = client.http.post("/transactions", body=json.dumps(raw_tx()),
                            headers={"content-type": "application/json"})
    assert post.status_code == 401
    assert json.loads(post.body)["Code"] == "UnauthorizedError"
    assert client.http.get("/health").status_code == 200


def test_revoking_another_banks_key_fails_and_leaves_it_working(
        env: dict[str, str], client: Client) -> None:
    key, key_id = cli_create(env, "acme")
    assert cli(env, "revoke", "--bank", "other", "--key-id", key_id)[0] == 1
    assert analytics(client, key) == 200


def test_invalid_bank_id_is_a_usage_error(env: dict[str, str]) -> None:
    assert cli(env, "create", "--bank", "Not A Bank")[0] == 2


def test_cache_keeps_a_key_for_its_ttl_then_asks_the_store_again(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "ledger.db"))
    key, record = create_key(store, "acme")
    now = [0.0]
    cache: TtlCache[ApiKeyRecord] = TtlCache(30, clock=lambda: now[0])
    assert authenticate(store, key, None, cache) == "acme"
    store.revoke_api_key("acme", record.key_id)
    now[0] = 29.9
    assert authenticate(store, key, None, cache) == "acme"  # within the TTL
    now[0] = 30.0
    with pytest.raises(ForbiddenError):
        authenticate(store, key, None, cache)


def test_key_cache_ttl_comes_from_the_environment() -> None:
    from chalicelib.config import load_settings

    assert load_settings({}).key_cache_ttl_s == 30
    assert load_settings({"KEY_CACHE_TTL_S": "0"}).key_cache_ttl_s == 0


def test_admin_functions_work_on_every_store(store: Store) -> None:
    key, record = create_key(store, "acme")
    assert authenticate(store, key, None) == "acme"
    assert [r.key_id for r in store.list_api_keys("acme")] == [record.key_id]
    assert store.revoke_api_key("acme", record.key_id)
    with pytest.raises(ForbiddenError):
        authenticate(store, key, None)


@pytest.mark.e2e
def test_command_runs_as_a_module_with_help_and_creates_a_key(env: dict[str, str]) -> None:
    help_text = subprocess.run([sys.executable, "-m", "scripts.keys", "--help"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout
    assert "create" in help_text and "revoke" in help_text and "SQLITE_PATH" in help_text
    done = subprocess.run([sys.executable, "-m", "scripts.keys", "create", "--bank", "acme"],
                          cwd=ROOT, capture_output=True, text=True, check=True,
                          env={**os.environ, **env})
    assert "tsk_" in done.stdout
    assert SqliteStore(env["SQLITE_PATH"]).list_api_keys("acme")


@pytest.mark.emulator
def test_command_manages_keys_on_dynamodb(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3
    from moto import mock_aws

    from chalicelib.adapters.dynamo.dynamo_store import DynamoStore
    from scripts.provision import create_table_request

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    env = {"STORE": "dynamodb", "TABLE_NAME": "txn-keys"}
    with mock_aws():
        boto3.client("dynamodb").create_table(**create_table_request("txn-keys"))
        key, key_id = cli_create(env, "acme")
        store = DynamoStore("txn-keys")
        assert authenticate(store, key, None) == "acme"
        assert f"{key_id}\t" in cli(env, "list", "--bank", "acme")[1]
        assert cli(env, "revoke", "--bank", "acme", "--key-id", key_id)[0] == 0
        with pytest.raises(ForbiddenError):
            authenticate(store, key, None)
        assert "revoked" in cli(env, "list", "--bank", "acme")[1]


@pytest.mark.parametrize("argv", [
    ["create", "--bank", "acme"], ["list", "--bank", "acme"], ["list-clients", "--bank", "acme"],
    ["map-client", "--bank", "acme", "--client-id", "abc"],
    ["revoke", "--bank", "acme", "--key-id", "nosuch"]])
def test_every_command_names_the_sqlite_file_it_used_apart_from_its_output(
        env: dict[str, str], argv: list[str]) -> None:
    _, out, err = cli_streams(env, *argv)
    assert err.splitlines()[0] == f"store: SQLite file {Path(env['SQLITE_PATH']).resolve()}"
    assert "store:" not in out  # a listing stays rows only


def test_a_relative_sqlite_path_is_named_in_full(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    _, _, err = cli_streams({"STORE": "sqlite", "SQLITE_PATH": "here.db"}, "list", "--bank", "a")
    assert err.splitlines()[0] == f"store: SQLite file {tmp_path.resolve() / 'here.db'}"


def test_a_misconfigured_store_is_an_error_that_names_no_store(env: dict[str, str]) -> None:
    code, _, err = cli_streams({"STORE": "dynamodb"}, "list", "--bank", "acme")
    assert code == 2 and err.startswith("error: TABLE_NAME") and "store:" not in err


@pytest.mark.emulator
def test_on_dynamodb_local_the_command_names_the_table_the_endpoint_and_the_region(
        monkeypatch: pytest.MonkeyPatch, dynamodb_local: DynamoDBLocal) -> None:
    with dynamodb_local_store() as store:  # a fresh table on DynamoDB Local
        for name, value in dynamodb_local.env.items():
            monkeypatch.setenv(name, value)
        code, out, err = cli_streams({"STORE": "dynamodb", "TABLE_NAME": store.table},
                                     "create", "--bank", "acme")
        assert code == 0 and "tsk_" in out
        assert err.splitlines()[0] == (f"store: DynamoDB table {store.table} at "
                                       f"{dynamodb_local.endpoint} (region us-east-1)")
        assert store.list_api_keys("acme")  # the table named is the one written


# --- app clients: a bank's system on Cognito, mapped beside the keys -------------------------

def test_map_client_then_list_then_unmap(env: dict[str, str]) -> None:
    code, text = cli(env, "map-client", "--bank", "acme", "--client-id", "abc123")
    assert code == 0 and "mapped app client abc123 to bank acme" in text
    code, listing = cli(env, "list-clients", "--bank", "acme")
    assert code == 0 and listing.startswith("abc123\t")
    assert cli(env, "unmap-client", "--bank", "acme", "--client-id", "abc123")[0] == 0
    assert "no app clients" in cli(env, "list-clients", "--bank", "acme")[1]


def test_a_client_mapped_to_one_bank_cannot_be_mapped_to_another(env: dict[str, str]) -> None:
    assert cli(env, "map-client", "--bank", "acme", "--client-id", "abc123")[0] == 0
    assert cli(env, "map-client", "--bank", "acme", "--client-id", "abc123")[0] == 0  # again
    assert cli(env, "map-client", "--bank", "globex", "--client-id", "abc123")[0] == 1
    assert cli(env, "unmap-client", "--bank", "globex", "--client-id", "abc123")[0] == 1
    assert "abc123" in cli(env, "list-clients", "--bank", "acme")[1]


@pytest.mark.parametrize("argv", [
    ["map-client", "--bank", "Not A Bank", "--client-id", "abc"],
    ["map-client", "--bank", "acme", "--client-id", "has space"],
    ["map-client", "--bank", "acme", "--client-id", ""]])
def test_invalid_bank_or_client_id_is_a_usage_error(env: dict[str, str], argv: list[str]
                                                     ) -> None:
    assert cli(env, *argv)[0] == 2


def test_app_client_mappings_work_on_every_store(store: Store) -> None:
    first, made = map_client(store, "acme", "client1")
    assert made and (first.client_id, first.bank) == ("client1", "acme")
    assert store.find_app_client("client1") == first
    assert store.find_app_client("client2") is None
    again, made_again = map_client(store, "acme", "client1")
    assert again == first and not made_again
    other, made_other = map_client(store, "globex", "client1")
    assert other == first and not made_other  # the first bank keeps it
    map_client(store, "acme", "client2")
    map_client(store, "globex", "client3")
    assert [r.client_id for r in list_clients(store, "acme")] == ["client1", "client2"]
    assert [r.client_id for r in list_clients(store, "globex")] == ["client3"]
    assert not unmap_client(store, "globex", "client1")  # not globex's
    assert store.find_app_client("client1") == first
    assert unmap_client(store, "acme", "client1")
    assert store.find_app_client("client1") is None
    assert not unmap_client(store, "acme", "client1")
    assert [r.client_id for r in list_clients(store, "acme")] == ["client2"]
    remapped, made = map_client(store, "globex", "client1")
    assert made and remapped.bank == "globex"
    assert store.banks() == []  # mappings are not ledger data: reconcile sees no bank


def test_a_version_1_sqlite_file_gains_the_app_client_table_and_keeps_its_keys(
        tmp_path: Path) -> None:
    import sqlite3

    from chalicelib.adapters.sqlite.sqlite_schema import SCHEMA_VERSION

    path = str(tmp_path / "old.db")
    key, _ = create_key(SqliteStore(path), "acme")
    with sqlite3.connect(path) as conn:  # make it the file version 1 wrote
        conn.execute("DROP TABLE app_clients")
        conn.execute("DROP TABLE rule_sets")  # added by version 3, with flag_details
        conn.execute("ALTER TABLE transactions DROP COLUMN flag_details")
        conn.execute("ALTER TABLE agg_currency DROP COLUMN credit_hi")  # added by version 4
        conn.execute("ALTER TABLE agg_currency DROP COLUMN debit_hi")
        conn.execute("PRAGMA user_version=1")
    reopened = SqliteStore(path)
    assert authenticate(reopened, key, None) == "acme"
    assert map_client(reopened, "acme", "client1")[1]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
