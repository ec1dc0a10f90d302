"""End to end through real `chalice local`: people signed in to moto's Cognito (server mode,
real RS256 tokens, JWKS served at /<pool>/.well-known/jwks.json) read and write their own bank
only; a bank's system, mapped with `scripts.keys map-client`, sends with a client-credentials
token; the simulator sends with a bearer token."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from scripts.demo import PROJECT_DIR, LocalServer, free_port
from tests.support.factories import raw_tx
from tests.support.idp import LocalIdp, unsigned, with_edited_claims

pytestmark = [pytest.mark.e2e, pytest.mark.emulator]

PASSWORD = "Correct-horse-1!"
DEMO_KEY = "demo-key-change-me"  # the dev stage's


@dataclass
class Pool:
    endpoint: str
    pool_id: str
    client_id: str
    tokens: dict[str, dict[str, str]]  # user -> AccessToken, IdToken


def sign_in(idp: Any, pool_id: str, client_id: str, user: str, groups: list[str]
            ) -> dict[str, str]:
    idp.admin_create_user(UserPoolId=pool_id, Username=user, TemporaryPassword="Temp-pass-1!")
    idp.admin_set_user_password(UserPoolId=pool_id, Username=user, Password=PASSWORD,
                                Permanent=True)
    for group in groups:
        idp.admin_add_user_to_group(UserPoolId=pool_id, Username=user, GroupName=group)
    result = idp.admin_initiate_auth(UserPoolId=pool_id, ClientId=client_id,
                                     AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                     AuthParameters={"USERNAME": user, "PASSWORD": PASSWORD})
    return dict(result["AuthenticationResult"])


@pytest.fixture(scope="module")
def pool() -> Iterator[Pool]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        idp = boto3.client("cognito-idp", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        pool_id = idp.create_user_pool(PoolName="txn-stream-e2e")["UserPool"]["Id"]
        idp.create_resource_server(UserPoolId=pool_id, Identifier="txn-stream", Name="txn-stream",
                                   Scopes=[{"ScopeName": "read", "ScopeDescription": "read"},
                                           {"ScopeName": "write", "ScopeDescription": "write"}])
        client_id = idp.create_user_pool_client(
            UserPoolId=pool_id, ClientName="people",
            ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        )["UserPoolClient"]["ClientId"]
        for group in ("bank-acme", "bank-globex", "txn-stream-writers"):
            idp.create_group(UserPoolId=pool_id, GroupName=group)
        users = {"alice": ["bank-acme"], "walter": ["bank-acme", "txn-stream-writers"],
                 "gina": ["bank-globex"], "nobody": [], "twice": ["bank-acme", "bank-globex"]}
        tokens = {user: sign_in(idp, pool_id, client_id, user, groups)
                  for user, groups in users.items()}
        yield Pool(endpoint, pool_id, client_id, tokens)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def api(pool: Pool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {"COGNITO_USER_POOL_ID": pool.pool_id, "COGNITO_CLIENT_IDS": pool.client_id,
           # moto's tokens name the AWS issuer (derived from the pool id, as on AWS); only the
           # keys live elsewhere
           "COGNITO_JWKS_URL": f"{pool.endpoint}/{pool.pool_id}/.well-known/jwks.json"}
    db = tmp_path_factory.mktemp("cognito") / "ledger.db"
    with LocalServer(str(db), kind="chalice", env=env) as server:
        yield server.url


def call(url: str, path: str, token: str | None = None, body: Any = None,
         key: str | None = None) -> tuple[int, Any]:
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    if key:
        headers["x-api-key"] = key
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, headers=headers,
                                     method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def access(pool: Pool, user: str) -> str:
    return pool.tokens[user]["AccessToken"]


def test_a_signed_in_person_reads_their_bank_and_a_writer_writes_it(
        pool: Pool, api: str, tmp_path: Path) -> None:
    status, body = call(api, "/transactions", access(pool, "walter"), raw_tx(id="acme-1"))
    assert status == 201, body
    token_file = tmp_path / "token"
    token_file.write_text(access(pool, "walter") + "\n")
    sent = subprocess.run(
        [sys.executable, "-m", "simulator", "--url", api, "--bearer-token-file",
         str(token_file), "--count", "200", "--batch-size", "50", "--seed", "3", "--verify",
         "--no-progress"], cwd=PROJECT_DIR, capture_output=True, text=True,
        stdin=subprocess.DEVNULL, timeout=120, check=False,
        env={k: v for k, v in os.environ.items() if k != "TXN_API_KEY"})
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "verify: OK" in sent.stdout
    status, analytics = call(api, "/analytics", access(pool, "alice"))
    assert status == 200 and analytics["count"] >= 190
    assert call(api, "/transactions/acme-1", access(pool, "alice"))[0] == 200


def test_a_reader_cannot_write(pool: Pool, api: str) -> None:
    status, body = call(api, "/transactions", access(pool, "alice"), raw_tx(id="nope"))
    assert (status, body["Code"]) == (403, "ForbiddenError")
    assert "txn-stream/write" in body["Message"]


def test_a_person_cannot_read_another_banks_data(pool: Pool, api: str) -> None:
    assert call(api, "/transactions", access(pool, "walter"), raw_tx(id="acme-2"))[0] == 201
    assert call(api, "/transactions/acme-2", access(pool, "gina"))[0] == 404
    assert call(api, "/analytics", access(pool, "gina"))[1]["count"] == 0
    assert call(api, "/transactions/acme-2", key=DEMO_KEY)[0] == 404
    assert call(api, "/transactions/acme-2", access(pool, "alice"))[0] == 200


@pytest.mark.parametrize("user, status, words", [
    ("nobody", 403, "no bank group"), ("twice", 403, "more than one bank")])
def test_a_person_without_exactly_one_bank_is_403(pool: Pool, api: str, user: str,
                                                  status: int, words: str) -> None:
    answer, body = call(api, "/analytics", access(pool, user))
    assert (answer, body["Code"]) == (status, "ForbiddenError") and words in body["Message"]


def test_forged_and_misused_tokens_are_401(pool: Pool, api: str) -> None:
    alice = access(pool, "alice")
    claims = json.loads(json.dumps({"iss": f"https://cognito-idp.us-east-1.amazonaws.com/"
                                    f"{pool.pool_id}", "token_use": "access",
                                    "client_id": pool.client_id, "username": "alice",
                                    "cognito:groups": ["bank-globex"], "exp": 4102444800,
                                    "iat": 1700000000}))
    for name, token in {
        "id token": pool.tokens["alice"]["IdToken"],
        "edited groups": with_edited_claims(alice, **{"cognito:groups": ["bank-globex"]}),
        "alg none": unsigned(claims),
        "truncated": alice[:-10],
    }.items():
        status, body = call(api, "/analytics", token)
        assert (status, body["Code"]) == (401, "UnauthorizedError"), name


def test_both_credentials_are_400_and_the_demo_key_still_works(pool: Pool, api: str) -> None:
    assert call(api, "/analytics", access(pool, "alice"), key=DEMO_KEY)[0] == 400
    assert call(api, "/analytics", key=DEMO_KEY)[0] == 200


def test_a_bank_system_sends_with_a_client_credentials_token(tmp_path: Path) -> None:
    # moto has no client-credentials endpoint: the token is minted with a test key whose
    # JWKS is served on a free port, and the stage trusts that issuer (COGNITO_ISSUER).
    db = str(tmp_path / "ledger.db")
    with LocalIdp() as idp:
        env = {**idp.env("banksystem1"), "SQLITE_PATH": db}
        mapped = subprocess.run(
            [sys.executable, "-m", "scripts.keys", "map-client", "--bank", "acme",
             "--client-id", "banksystem1"], cwd=PROJECT_DIR, capture_output=True, text=True,
            env={**os.environ, **env, "STORE": "sqlite"}, timeout=60, check=False)
        assert mapped.returncode == 0, mapped.stderr
        with LocalServer(db, kind="chalice", env=env) as server:
            token_file = tmp_path / "token"
            token_file.write_text(idp.system_token("banksystem1"))
            sent = subprocess.run(
                [sys.executable, "-m", "simulator", "--url", server.url, "--bearer-token-file",
                 str(token_file), "--count", "100", "--batch-size", "25", "--seed", "4",
                 "--verify", "--no-progress"], cwd=PROJECT_DIR, capture_output=True,
                text=True, stdin=subprocess.DEVNULL, timeout=120, check=False)
            assert sent.returncode == 0, sent.stdout + sent.stderr
            reader = idp.system_token("banksystem1", "txn-stream/read")
            assert call(server.url, "/analytics", reader)[0] == 200
            assert call(server.url, "/transactions", reader, raw_tx(id="r"))[0] == 403
            expired = idp.system_token("banksystem1", exp=int(time.time()) - 60,
                                       iat=int(time.time()) - 3660)
            assert call(server.url, "/analytics", expired)[0] == 401
            stranger = idp.system_token("notaccepted1")
            assert call(server.url, "/analytics", stranger)[0] == 401
        assert idp.hits == 1  # one JWKS fetch for the whole run of the server
