"""The token verifier on its own: JWKS caching and key rotation, and the stage configuration."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.adapters.cognito import FAILURE_MEMORY_S, REFETCH_INTERVAL_S, TokenVerifier
from chalicelib.config import CognitoConfig, ConfigError, load_settings
from chalicelib.ports.tokens import JwksUnavailable, TokenRejected
from tests.support.idp import ISSUER, LocalIdp, new_key, public_jwk

pytestmark = [pytest.mark.e2e]  # a local identity provider serves the JWKS


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def idp() -> Iterator[LocalIdp]:
    with LocalIdp() as running:
        yield running


def verifier(idp: LocalIdp, clock: Clock) -> TokenVerifier:
    return TokenVerifier(CognitoConfig(ISSUER, idp.url, frozenset({"c1"})), clock=clock)


def test_a_rotated_key_is_fetched_on_its_first_token(idp: LocalIdp) -> None:
    clock = Clock()
    check = verifier(idp, clock)
    assert check.verify(idp.system_token("c1"))["client_id"] == "c1"
    rotated = new_key()
    idp.jwks["keys"].append(public_jwk(rotated, "test-key-2"))
    clock.now += REFETCH_INTERVAL_S
    claims = check.verify(idp.mint(rotated, "test-key-2", sub="c1", client_id="c1"))
    assert claims["sub"] == "c1" and idp.hits == 2


def test_unknown_kids_refetch_the_jwks_at_most_once_a_minute(idp: LocalIdp) -> None:
    clock = Clock()
    check = verifier(idp, clock)
    check.verify(idp.system_token("c1"))
    for second in range(0, 120, 10):
        clock.now = 1000.0 + second
        with pytest.raises(TokenRejected) as refused:
            check.verify(idp.mint(None, f"unknown-{second}", sub="c1", client_id="c1"))
        assert refused.value.reason == "unknown_key"
    # twelve unknown kids over 110 s: fetched for the first token (t=0), then once at t=60
    assert idp.hits == 2
    assert check.fetches == 2


def test_a_known_kid_never_refetches(idp: LocalIdp) -> None:
    clock = Clock()
    check = verifier(idp, clock)
    for _ in range(3):
        clock.now += 3600
        check.verify(idp.system_token("c1"))
    assert idp.hits == 1


def test_a_failed_fetch_is_remembered_briefly_then_tried_again(idp: LocalIdp) -> None:
    clock = Clock()
    check = verifier(idp, clock)
    idp.status = 503
    with pytest.raises(JwksUnavailable):
        check.verify(idp.system_token("c1"))
    idp.status = 200
    with pytest.raises(JwksUnavailable):  # within the failure's memory: no second fetch
        check.verify(idp.system_token("c1"))
    assert idp.hits == 1
    clock.now += FAILURE_MEMORY_S
    assert check.verify(idp.system_token("c1"))["client_id"] == "c1"
    assert idp.hits == 2


def test_what_is_not_a_jwks_and_an_unreachable_jwks_are_unavailable(idp: LocalIdp) -> None:
    idp.jwks = {"not": "keys"}  # type: ignore[dict-item]
    with pytest.raises(JwksUnavailable):
        verifier(idp, Clock()).verify(idp.system_token("c1"))
    gone = TokenVerifier(CognitoConfig(ISSUER, "http://127.0.0.1:9/jwks.json",
                                       frozenset({"c1"})))
    with pytest.raises(JwksUnavailable):
        gone.verify(idp.system_token("c1"))


def test_only_rsa_signing_keys_sign(idp: LocalIdp) -> None:
    rsa_key = public_jwk(idp.key, "a")
    idp.jwks = {"keys": [rsa_key, {**rsa_key, "kid": "enc", "use": "enc"},
                         {**rsa_key, "kid": "hs", "alg": "HS256"},
                         {"kty": "oct", "kid": "sym", "k": "c2VjcmV0"},
                         {**rsa_key, "kid": None}, "junk",
                         {"kty": "RSA", "kid": "broken", "n": "x"}]}
    check = verifier(idp, Clock())
    assert check.verify(idp.mint(kid="a", sub="c1", client_id="c1"))["client_id"] == "c1"
    for kid in ("enc", "hs", "sym", "broken"):
        with pytest.raises(TokenRejected) as refused:
            check.verify(idp.mint(kid=kid, sub="c1", client_id="c1"))
        assert refused.value.reason == "unknown_key"


def test_concurrent_tokens_during_a_jwks_outage_share_one_fetch(idp: LocalIdp) -> None:
    """Four requests while the JWKS hangs: one fetch times out and all four are answered by
    it (they used to refetch in turn, 3, 6, 9 and 12 s)."""
    check = verifier(idp, Clock())
    idp.held = True
    outcomes: list[str] = []

    def call() -> None:
        try:
            check.verify(idp.system_token("c1"))
            outcomes.append("ok")
        except JwksUnavailable:
            outcomes.append("unavailable")

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert outcomes == ["unavailable"] * 4
    assert idp.hits == 1


def test_an_unknown_kid_never_stalls_valid_tokens(idp: LocalIdp) -> None:
    clock = Clock()
    check = verifier(idp, clock)
    check.verify(idp.system_token("c1"))
    clock.now += REFETCH_INTERVAL_S
    idp.held = True  # the unknown kid's refetch hangs until released
    refused: list[str] = []

    def send_unknown() -> None:
        try:
            check.verify(idp.mint(None, "unknown", sub="c1", client_id="c1"))
        except TokenRejected as exc:
            refused.append(exc.reason)

    unknown = threading.Thread(target=send_unknown)
    unknown.start()
    deadline = time.monotonic() + 30
    while idp.hits < 2:  # its fetch is in flight
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert check.verify(idp.system_token("c1"))["client_id"] == "c1"
    assert unknown.is_alive()  # a valid token was answered while that fetch still hung
    idp.release.set()
    unknown.join(30)
    assert refused == ["unknown_key"]


def test_a_claim_of_an_unexpected_type_is_refused_not_a_crash(idp: LocalIdp) -> None:
    check = verifier(idp, Clock())
    claims: dict[str, Any]
    for claims in ({"client_id": ["c1"]}, {"client_id": {"c": 1}}, {"sub": 5},
                   {"scope": ["txn-stream/read"]}, {"cognito:groups": "bank-a"},
                   {"cognito:groups": [1]}, {"token_use": ["access"]}, {"username": {}}):
        merged: dict[str, Any] = {"sub": "c1", "client_id": "c1", **claims}
        token = idp.mint(None, None, **merged)
        with pytest.raises(TokenRejected) as refused:
            check.verify(token)
        assert refused.value.reason == "malformed_token", claims


def test_the_issuer_comes_from_the_pool_id_and_its_region() -> None:
    config = load_settings({"COGNITO_USER_POOL_ID": "eu-west-1_AbC123",
                            "COGNITO_CLIENT_IDS": "a, b,,"}).cognito
    assert config == CognitoConfig(
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123",
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123/.well-known/jwks.json",
        frozenset({"a", "b"}))


def test_issuer_and_jwks_location_can_be_overridden_for_a_local_idp() -> None:
    config = load_settings({"COGNITO_USER_POOL_ID": "us-east-1_X", "COGNITO_CLIENT_IDS": "a",
                            "COGNITO_JWKS_URL": "http://127.0.0.1:5000/us-east-1_X/.well-known/"
                            "jwks.json"}).cognito
    assert config is not None
    assert config.issuer == "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_X"
    assert config.jwks_url.startswith("http://127.0.0.1:5000/")
    local = load_settings({"COGNITO_ISSUER": "http://idp.test/pool/", "COGNITO_CLIENT_IDS": "a"})
    assert local.cognito is not None and local.cognito.issuer == "http://idp.test/pool"
    assert local.cognito.jwks_url == "http://idp.test/pool/.well-known/jwks.json"


def test_cognito_settings_that_cannot_work_are_config_errors() -> None:
    assert load_settings({}).cognito is None
    with pytest.raises(ConfigError, match="COGNITO_CLIENT_IDS"):
        load_settings({"COGNITO_USER_POOL_ID": "us-east-1_X"})
    with pytest.raises(ConfigError, match="COGNITO_JWKS_URL"):
        load_settings({"COGNITO_USER_POOL_ID": "us-east-1_X", "COGNITO_CLIENT_IDS": "a",
                       "COGNITO_JWKS_URL": "file:///etc/passwd"})
