"""The verifier on tokens the pool signed whose claims have unexpected types: every one a 401
(`malformed_token`), never a crash, never read as absent (the JWKS in hand: no socket)."""

from __future__ import annotations

import time
from functools import cache
from typing import Any

import pytest

from chalicelib.config import CognitoConfig
from chalicelib.ports.tokens import TokenRejected
from tests.support.idp import ISSUER, KeysInHand, new_key, signed

KID = "claims-key"


@cache
def pool() -> tuple[Any, KeysInHand]:
    """The pool's key and a verifier holding it (made once, on the first test: not at import)."""
    key = new_key()
    config = CognitoConfig(ISSUER, "https://idp.invalid/jwks.json", frozenset({"c1"}))
    return key, KeysInHand(config, {KID: key.public_key()})


def verify(claims: dict[str, Any]) -> dict[str, Any]:
    key, check = pool()
    return check.verify(signed(claims, key, KID))


def good() -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISSUER, "token_use": "access", "iat": now, "exp": now + 3600, "sub": "c1",
            "client_id": "c1", "scope": "txn-stream/read"}


ODD = {"list": ["c1"], "object": {"c": 1}, "number": 5, "null": None, "true": True,
       "false": False}
TEXT_CLAIMS = ["client_id", "sub", "token_use", "scope", "username", "iss"]
TIME_CLAIMS = ["exp", "iat", "nbf"]
CASES = [(name, kind) for name in TEXT_CLAIMS for kind in ODD] + [
    (name, kind) for name in TIME_CLAIMS for kind in ("list", "object", "null", "true", "false")
] + [("cognito:groups", kind) for kind in ("object", "number", "null", "true")] + [
    ("cognito:groups", "numbers in the list"), ("exp", "numeric text"), ("iat", "numeric text")]
VALUES = {**ODD, "numbers in the list": [1], "numeric text": "1700000000"}


def test_a_token_of_good_claims_is_accepted() -> None:
    assert verify(good())["client_id"] == "c1"


def test_numbers_that_are_not_integers_are_still_times() -> None:
    claims = {**good(), "exp": time.time() + 3600.5, "iat": time.time() - 0.5}
    assert verify(claims)["sub"] == "c1"


@pytest.mark.parametrize(("name", "kind"), CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_a_claim_of_an_unexpected_type_is_a_401_not_a_crash_nor_absent(name: str,
                                                                       kind: str) -> None:
    with pytest.raises(TokenRejected) as refused:
        verify({**good(), name: VALUES[kind]})
    # PyJWT refuses some first (a null exp is missing, a list iss another issuer): all are 401s
    assert refused.value.reason in ("malformed_token", "expired", "wrong_issuer",
                                    "wrong_client", "wrong_token_use"), (name, kind)
