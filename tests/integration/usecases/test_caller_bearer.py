"""Bearer tokens through the app: people by their bank group, systems by their app client,
scopes per method, every forgery and bad claim refused with 401/403 in the error shape."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import app
from chalicelib.adapters.sqlite import SqliteStore
from chalicelib.bootstrap import bootstrap, set_runtime
from chalicelib.config import load_settings
from chalicelib.usecases.app_clients import map_client, unmap_client
from tests.support.factories import raw_tx
from tests.support.idp import (
    ISSUER,
    LocalIdp,
    b64,
    hs256_with_public_key,
    new_key,
    unsigned,
    with_edited_claims,
)

pytestmark = [pytest.mark.e2e]  # a local identity provider serves the JWKS

PEOPLE = "people-client"
SYSTEM = "systemclient1"
OTHER_SYSTEM = "systemclient2"
DEMO_KEY = "demo-key-for-bearer-tests"


@pytest.fixture
def idp() -> Iterator[LocalIdp]:
    with LocalIdp() as running:
        yield running


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(str(tmp_path / "ledger.db"))


def install(store: SqliteStore, env: dict[str, str]) -> None:
    settings = load_settings({"SQLITE_PATH": store.path, "STAGE": "dev", "DEMO_API_KEY": DEMO_KEY,
                              "KEY_CACHE_TTL_S": "0", **env})
    set_runtime(bootstrap(settings, store))


@pytest.fixture
def client(idp: LocalIdp, store: SqliteStore) -> Iterator[Client]:
    install(store, idp.env(PEOPLE, SYSTEM, OTHER_SYSTEM))
    with Client(app) as test_client:
        yield test_client
    set_runtime(None)


def get(client: Client, token: str, path: str = "/analytics") -> Any:
    return client.http.get(path, headers={"authorization": f"Bearer {token}"})


def post(client: Client, token: str, body: dict[str, Any] | None = None) -> Any:
    return client.http.post("/transactions", body=json.dumps(body or raw_tx()),
                            headers={"authorization": f"Bearer {token}",
                                     "content-type": "application/json"})


def refusal(response: Any) -> tuple[int, str, str]:
    body = json.loads(response.body)
    assert set(body) == {"Code", "Message", "Details"}
    return response.status_code, body["Code"], body["Message"]


def test_a_person_in_bank_acme_reads_acme(client: Client, idp: LocalIdp) -> None:
    answer = get(client, idp.person_token(PEOPLE, ["bank-acme"]))
    assert answer.status_code == 200
    assert json.loads(answer.body)["count"] == 0


def test_a_persons_token_reads_only_unless_in_the_writers_group(
        client: Client, idp: LocalIdp) -> None:
    reader = idp.person_token(PEOPLE, ["bank-acme"])
    status, code, message = refusal(post(client, reader))
    assert (status, code) == (403, "ForbiddenError") and "txn-stream/write" in message
    writer = idp.person_token(PEOPLE, ["bank-acme", "txn-stream-writers"])
    assert post(client, writer).status_code == 201
    assert json.loads(get(client, reader).body)["count"] == 1


def test_a_token_sees_only_its_own_banks_data(client: Client, idp: LocalIdp) -> None:
    tx = raw_tx(id="only-demo")
    assert client.http.post("/transactions", body=json.dumps(tx), headers={
        "x-api-key": DEMO_KEY, "content-type": "application/json"}).status_code == 201
    acme = idp.person_token(PEOPLE, ["bank-acme"])
    assert get(client, acme, "/transactions/only-demo").status_code == 404
    demo = idp.person_token(PEOPLE, ["bank-demo"])
    assert get(client, demo, "/transactions/only-demo").status_code == 200


@pytest.mark.parametrize("groups, reason", [
    ([], "no bank"), (["admins", "bank-"], "no bank"), (["bank-Not_Valid"], "no bank"),
    (["bank-acme", "bank-globex"], "more than one bank")])
def test_a_person_without_exactly_one_bank_is_403(
        client: Client, idp: LocalIdp, groups: list[str], reason: str) -> None:
    status, code, message = refusal(get(client, idp.person_token(PEOPLE, groups)))
    assert (status, code) == (403, "ForbiddenError") and reason in message


def forgeries(idp: LocalIdp) -> dict[str, str]:
    good = idp.person_token(PEOPLE, ["bank-acme"])
    claims = {"iss": ISSUER, "token_use": "access", "client_id": PEOPLE, "sub": "x",
              "username": "x", "cognito:groups": ["bank-acme"], "iat": int(time.time()),
              "exp": int(time.time()) + 3600}
    person: dict[str, Any] = {"sub": "x", "client_id": PEOPLE, "username": "x",
                              "cognito:groups": ["bank-acme"]}
    return {
        "another key, our kid": idp.mint(new_key(), None, **person),
        "alg none": unsigned(claims),
        "alg none, signature kept": unsigned(claims) + good.split(".")[2],
        "HS256 with the public key as secret": hs256_with_public_key(claims, idp.key, idp.kid),
        "edited group": with_edited_claims(good, **{"cognito:groups": ["bank-globex"]}),
        "edited expiry": with_edited_claims(
            idp.person_token(PEOPLE, ["bank-acme"], exp=int(time.time()) - 60),
            exp=int(time.time()) + 3600),
        "unknown kid": idp.mint(None, "rotated-away", **person),
    }


def test_forged_tokens_are_401(client: Client, idp: LocalIdp) -> None:
    for name, token in forgeries(idp).items():
        response = get(client, token)
        status, code, _ = refusal(response)
        assert (status, code) == (401, "UnauthorizedError"), name
        assert response.headers["WWW-Authenticate"].startswith("Bearer"), name


@pytest.mark.parametrize("claims, message", [
    ({"exp": int(time.time()) - 30}, "expired"),
    ({"iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600}, "expired"),
    ({"nbf": int(time.time()) + 600}, "not valid yet"),
    ({"iat": int(time.time()) + 600}, "not valid yet"),
    ({"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other"}, "another issuer"),
    ({"client_id": "some-other-client"}, "app client"),
    ({"token_use": "id"}, "access token"),
    ({"exp": None}, "exp"),
    ({"token_use": None}, "token_use"),
])
def test_bad_claims_are_401(client: Client, idp: LocalIdp, claims: dict[str, Any],
                            message: str) -> None:
    claims = dict(claims)
    token = idp.person_token(claims.pop("client_id", PEOPLE), ["bank-acme"], **claims)
    status, code, text = refusal(get(client, token))
    assert (status, code) == (401, "UnauthorizedError") and message in text


@pytest.mark.parametrize("header", [
    "Bearer", "Bearer not-a-jwt", "Bearer a.b.c", "Basic dXNlcjpwYXNz", "Bearer a.b",
    "Bearer " + "a" * 9000 + ".b.c", "Bearer eyJhbGciOiJSUzI1NiJ9.e30.x y"])
def test_malformed_authorization_is_401(client: Client, header: str) -> None:
    response = client.http.get("/analytics", headers={"authorization": header})
    assert refusal(response)[:2] == (401, "UnauthorizedError")


def test_an_api_key_and_a_token_together_are_400(client: Client, idp: LocalIdp) -> None:
    response = client.http.get("/analytics", headers={
        "x-api-key": DEMO_KEY, "authorization": f"Bearer {idp.person_token(PEOPLE, [])}"})
    status, code, message = refusal(response)
    assert (status, code) == (400, "BadRequestError") and "exactly one credential" in message


def test_api_keys_work_as_before_beside_bearer_auth(client: Client) -> None:
    assert client.http.get("/analytics", headers={"x-api-key": DEMO_KEY}).status_code == 200
    assert client.http.get("/analytics", headers={"x-api-key": "nope"}).status_code == 403
    assert refusal(client.http.get("/analytics"))[:2] == (401, "UnauthorizedError")


def test_without_cognito_configured_bearer_is_401_and_says_so(
        store: SqliteStore, idp: LocalIdp) -> None:
    install(store, {})
    with Client(app) as client:
        status, code, message = refusal(get(client, idp.person_token(PEOPLE, ["bank-acme"])))
        assert client.http.get("/analytics", headers={"x-api-key": DEMO_KEY}).status_code == 200
    set_runtime(None)
    assert (status, code) == (401, "UnauthorizedError")
    assert "bearer auth is not enabled for this stage" in message
    assert idp.hits == 0


def test_the_jwks_is_fetched_once_for_many_requests(client: Client, idp: LocalIdp) -> None:
    for _ in range(5):
        assert get(client, idp.person_token(PEOPLE, ["bank-acme"])).status_code == 200
    assert idp.hits == 1


def test_an_unreachable_jwks_is_503_with_a_log_line_never_500(
        store: SqliteStore, capsys: pytest.CaptureFixture[str]) -> None:
    with LocalIdp() as idp:
        token = idp.person_token(PEOPLE, ["bank-acme"])
        env = idp.env(PEOPLE)
        idp.status = 500
        install(store, env)
        with Client(app) as client:
            broken = get(client, token)
    install(store, env)  # the same configuration, the server now gone
    with Client(app) as client:
        gone = get(client, token)
    set_runtime(None)
    for response in (broken, gone):
        status, code, _ = refusal(response)
        assert (status, code) == (503, "ServiceUnavailableError")
        assert response.headers["Retry-After"] == "5"
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    assert sum(1 for line in lines if line.get("event") == "jwks_unavailable") == 2


def test_the_log_line_names_the_method_and_ids_never_the_token(
        client: Client, idp: LocalIdp, capsys: pytest.CaptureFixture[str]) -> None:
    token = idp.person_token(PEOPLE, ["bank-acme"], sub="user-uuid-1")
    capsys.readouterr()
    assert get(client, token).status_code == 200
    out = capsys.readouterr().out
    assert token not in out and token.split(".")[2] not in out
    (line,) = [json.loads(x) for x in out.splitlines() if '"event":"request"' in x]
    assert (line["auth"], line["client_id"], line["user"], line["bank"]) == (
        "token", PEOPLE, "user-uuid-1", "acme")
    client.http.get("/analytics", headers={"x-api-key": DEMO_KEY})
    (key_line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()
                   if '"event":"request"' in x]
    assert key_line["auth"] == "key" and "client_id" not in key_line


def test_refusals_are_counted_by_reason_with_a_low_cardinality_dimension(
        client: Client, idp: LocalIdp, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    get(client, idp.person_token(PEOPLE, ["bank-acme"], exp=int(time.time()) - 60))
    get(client, idp.person_token(PEOPLE, []))
    client.http.get("/analytics")
    client.http.get("/analytics", headers={"x-api-key": "wrong"})
    records = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"_aws"' in x]
    refused = [r for r in records if "AuthRefused" in r]
    assert [r["Reason"] for r in refused] == [
        "expired", "no_bank", "missing_credentials", "invalid_api_key"]
    for record in refused:
        (directive,) = record["_aws"]["CloudWatchMetrics"]
        assert directive["Dimensions"] == [["stage", "Reason"]]
        assert directive["Metrics"] == [{"Name": "AuthRefused", "Unit": "Count"}]
        assert record["AuthRefused"] == 1


def test_a_bank_system_reads_and_writes_with_its_client_credentials_token(
        client: Client, idp: LocalIdp, store: SqliteStore) -> None:
    map_client(store, "acme", SYSTEM)
    token = idp.system_token(SYSTEM)
    assert post(client, token).status_code == 201
    assert json.loads(get(client, token).body)["count"] == 1
    person = idp.person_token(PEOPLE, ["bank-acme"])
    assert json.loads(get(client, person).body)["count"] == 1  # the same bank


def test_a_systems_token_may_do_only_what_its_scopes_say(
        client: Client, idp: LocalIdp, store: SqliteStore) -> None:
    map_client(store, "acme", SYSTEM)
    reader = idp.system_token(SYSTEM, "txn-stream/read")
    writer = idp.system_token(SYSTEM, "txn-stream/write")
    neither = idp.system_token(SYSTEM, "openid other-api/write txn-stream/admin")
    assert get(client, reader).status_code == 200
    assert refusal(post(client, reader))[:2] == (403, "ForbiddenError")
    assert post(client, writer).status_code == 201
    assert refusal(get(client, writer))[:2] == (403, "ForbiddenError")
    assert refusal(get(client, neither))[:2] == (403, "ForbiddenError")


def test_an_unmapped_system_is_403_until_mapped_and_again_once_unmapped(
        client: Client, idp: LocalIdp, store: SqliteStore) -> None:
    token = idp.system_token(SYSTEM)
    status, code, message = refusal(get(client, token))
    assert (status, code) == (403, "ForbiddenError") and "mapped to no bank" in message
    map_client(store, "acme", SYSTEM)
    assert get(client, token).status_code == 200  # KEY_CACHE_TTL_S=0 here
    unmap_client(store, "acme", SYSTEM)
    assert refusal(get(client, token))[0] == 403


def test_two_systems_of_two_banks_see_only_their_own(
        client: Client, idp: LocalIdp, store: SqliteStore) -> None:
    map_client(store, "acme", SYSTEM)
    map_client(store, "globex", OTHER_SYSTEM)
    acme, globex = idp.system_token(SYSTEM), idp.system_token(OTHER_SYSTEM)
    assert post(client, acme, raw_tx("same-id")).status_code == 201
    assert get(client, globex, "/transactions/same-id").status_code == 404
    assert post(client, globex, raw_tx("same-id", amount="99.00")).status_code == 201
    assert json.loads(get(client, acme, "/transactions/same-id").body)["amount"] == "10.00"


def test_a_system_client_not_accepted_by_the_stage_is_401_even_if_mapped(
        client: Client, idp: LocalIdp, store: SqliteStore) -> None:
    map_client(store, "acme", "stranger")
    status, code, message = refusal(get(client, idp.system_token("stranger")))
    assert (status, code) == (401, "UnauthorizedError") and "app client" in message


def test_an_expired_system_token_is_401(client: Client, idp: LocalIdp,
                                        store: SqliteStore) -> None:
    map_client(store, "acme", SYSTEM)
    token = idp.system_token(SYSTEM, exp=int(time.time()) - 60, iat=int(time.time()) - 3660)
    assert refusal(get(client, token))[:2] == (401, "UnauthorizedError")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4), max_leaves=8)
segments = st.one_of(
    st.text(max_size=40),
    json_values.map(lambda v: b64(json.dumps(v).encode())),
    st.dictionaries(st.sampled_from(["alg", "kid", "typ", "exp", "iss", "token_use",
                                     "client_id", "cognito:groups", "username", "scope"]),
                    json_values, max_size=6).map(lambda v: b64(json.dumps(v).encode())))


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(segments, min_size=1, max_size=4),
       scheme=st.sampled_from(["Bearer ", "bearer ", "Bearer  ", "Basic ", ""]))
def test_hostile_tokens_get_a_4xx_never_a_5xx(client: Client, parts: list[str],
                                              scheme: str) -> None:
    header = (scheme + ".".join(parts)).strip()
    if not header or any(c in header for c in "\r\n\x00"):
        return  # not sendable as one header value
    response = client.http.get("/analytics", headers={"authorization": header})
    status, code, _ = refusal(response)
    assert status in (401, 403), (status, code, header)


def put_rules(client: Client, token: str) -> Any:
    return client.http.put("/rules", body=json.dumps({"rules": [
        {"name": "big", "builtin": "large_amount", "params": {"amount": "5000"}}]}),
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"})


def test_changing_the_rules_takes_the_rules_scope_not_only_the_write_one(
        client: Client, idp: LocalIdp, store: SqliteStore) -> None:
    map_client(store, "acme", SYSTEM)
    writer = idp.person_token(PEOPLE, ["bank-acme", "txn-stream-writers"])
    status, code, message = refusal(put_rules(client, writer))
    assert (status, code) == (403, "ForbiddenError") and "txn-stream/rules" in message
    assert post(client, writer).status_code == 201  # writing transactions still works
    admin = idp.person_token(PEOPLE, ["bank-acme", "txn-stream-rule-admins"])
    assert put_rules(client, admin).status_code == 200
    assert refusal(put_rules(client, idp.system_token(SYSTEM, "txn-stream/write")))[0] == 403
    assert put_rules(client, idp.system_token(SYSTEM, "txn-stream/rules")).status_code == 200
    assert json.loads(get(client, admin, "/rules").body)["version"] == 2
