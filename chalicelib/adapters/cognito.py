"""Cognito bearer tokens: RS256 signatures checked against the pool's JWKS with PyJWT."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

from chalicelib.config import CognitoConfig
from chalicelib.ports.tokens import JwksUnavailable, TokenRejected

JWKS_TIMEOUT_S = 3.0  # a Lambda has 29 s; an identity provider that slow is an outage
REFETCH_INTERVAL_S = 60.0  # an unknown kid refetches the JWKS at most this often
LEEWAY_S = 5  # clock skew allowed on exp, nbf and iat
MAX_TOKEN_CHARS = 8192  # Cognito's access tokens are ~1 KB; more is not a token of theirs
FAILURE_MEMORY_S = 5.0  # a failed fetch answers the tokens of the next seconds (503)
ACCESS = "access"


def _jwt() -> ModuleType:
    # PyJWT and cryptography cost tens of milliseconds to import: only a process that sees a
    # bearer token pays it, and only once (tests/e2e/test_cold_start.py checks the app never does).
    import jwt

    return jwt


class CognitoVerifier:
    """Checks access tokens of one issuer. PyJWT's `PyJWKClient` fetches and parses the JWKS;
    around it: a known kid is answered from memory without waiting on anything, an unknown kid
    refetches at most once a minute, one fetch is in flight at a time, and a failed fetch is
    remembered for a few seconds so a JWKS outage answers 503 at once instead of stalling every
    request for its timeout in turn."""

    def __init__(self, config: CognitoConfig,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self._client: Any = None  # made on the first fetch (PyJWT is imported only then)
        self._keys: dict[str, Any] | None = None  # RS256 signing keys by kid
        self._fetched_at = 0.0
        self._failed_at: float | None = None
        self._lock = threading.Lock()
        self.fetches = 0  # how many times the JWKS was asked for (tests count them)

    @property
    def jwks_url(self) -> str:
        return self.config.jwks_url

    def _fetch(self) -> None:
        jwt = _jwt()
        if self._client is None:
            self._client = jwt.PyJWKClient(
                self.config.jwks_url, cache_jwk_set=False, timeout=JWKS_TIMEOUT_S,
                headers={"Accept": "application/json", "User-Agent": "txn-stream"})
        self.fetches += 1
        self._fetched_at = self._clock()
        try:
            jwk_set = self._client.get_jwk_set(refresh=True)
        except (jwt.PyJWKClientError, jwt.PyJWKSetError, ValueError) as exc:
            # a connection error, a timeout, or an answer that is not a usable JWKS
            self._failed_at = self._clock()
            raise JwksUnavailable(f"GET {self.config.jwks_url}: {exc}") from exc
        self._failed_at = None
        # RS256 signing keys only: a token naming an encryption key or another type is refused
        # as signed by an unknown key.
        self._keys = {k.key_id: k.key for k in jwk_set.keys
                      if isinstance(k.key_id, str) and k.key_type == "RSA"
                      and k.public_key_use in (None, "sig") and k.algorithm_name == "RS256"}

    def _check_failure(self) -> None:
        failed_at = self._failed_at
        if failed_at is not None and self._clock() - failed_at < FAILURE_MEMORY_S:
            raise JwksUnavailable(f"GET {self.config.jwks_url} failed "
                                  f"{self._clock() - failed_at:.1f} s ago")

    def _key_for(self, kid: str) -> Any:
        keys = self._keys
        if keys is not None and kid in keys:
            return keys[kid]  # a known kid never waits for a fetch another token started
        self._check_failure()
        with self._lock:  # one fetch in flight; the others wait for its answer
            keys = self._keys
            if keys is None or (kid not in keys
                                and self._clock() - self._fetched_at >= REFETCH_INTERVAL_S):
                self._check_failure()
                self._fetch()
            key = (self._keys or {}).get(kid)
        if key is None:
            raise TokenRejected("unknown_key", "the token is signed by a key this stage does "
                                "not know")
        return key

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a valid access token; TokenRejected (401) otherwise, JwksUnavailable
        (503) when the keys cannot be had."""
        if len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
            raise TokenRejected("malformed_token", "the bearer token is not a JWT")
        jwt = _jwt()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise TokenRejected("malformed_token", "the bearer token is not a JWT") from exc
        if header.get("alg") != "RS256":  # refuses `none` and HS256-with-the-public-key alike
            raise TokenRejected("bad_signature", "the token must be signed with RS256")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise TokenRejected("malformed_token", "the token's header names no key (kid)")
        claims = self._decode(jwt, token, self._key_for(kid))
        _check_claim_types(claims)
        if claims.get("token_use") != ACCESS:
            raise TokenRejected("wrong_token_use", "send an access token, not an id token")
        if claims.get("client_id") not in self.config.client_ids:
            raise TokenRejected("wrong_client", "the token was issued to an app client this "
                                "stage does not accept")
        return claims

    def _decode(self, jwt: ModuleType, token: str, key: Any) -> dict[str, Any]:
        # PyJWT checks the signature before any claim, so edited claims fail as a bad signature.
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=["RS256"], issuer=self.config.issuer, leeway=LEEWAY_S,
                options={"require": ["exp", "iat", "iss", "token_use"], "verify_aud": False})
        except jwt.ExpiredSignatureError as exc:
            raise TokenRejected("expired", "the token has expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise TokenRejected("not_yet_valid", "the token is not valid yet") from exc
        except jwt.InvalidIssuerError as exc:
            raise TokenRejected("wrong_issuer", "the token comes from another issuer") from exc
        except (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError) as exc:
            raise TokenRejected("bad_signature", "the token's signature is not valid") from exc
        except jwt.InvalidTokenError as exc:
            raise TokenRejected("malformed_token", f"the token is not valid: {exc}") from exc
        return claims


# The type of every claim the service (or PyJWT, for it) reads: a token the pool signed may
# still carry a claim of another type (a list for client_id), and that is a refusal (401), never
# a crash. A claim present as JSON null has no type: refused too, not read as absent (a null
# scope read as "no scope" answered 403, a null username made a person of a system client).
CLAIM_TYPES = {"token_use": "string", "client_id": "string", "sub": "string",
               "username": "string", "iss": "string", "scope": "string",
               "cognito:groups": "list of strings", "exp": "number", "iat": "number",
               "nbf": "number"}


def _has_type(value: Any, kind: str) -> bool:
    if kind == "number":  # bool is an int to Python: PyJWT read `"iat": false` as the epoch
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "list of strings":
        return isinstance(value, list) and all(isinstance(item, str) for item in value)
    return isinstance(value, str)


def _check_claim_types(claims: dict[str, Any]) -> None:
    for name, kind in CLAIM_TYPES.items():
        if name in claims and not _has_type(claims[name], kind):
            raise TokenRejected("malformed_token", f"the token's {name} claim must be a {kind}")


TokenVerifier = CognitoVerifier  # the name the tests and docs use for this adapter
