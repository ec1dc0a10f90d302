"""Cognito bearer tokens: RS256 signatures checked against the pool's JWKS with PyJWT."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from types import ModuleType
from typing import Any

from chalicelib.config import CognitoConfig

JWKS_TIMEOUT_S = 3.0  # a Lambda has 29 s; an identity provider that slow is an outage
REFETCH_INTERVAL_S = 60.0  # an unknown kid refetches the JWKS at most this often
LEEWAY_S = 5  # clock skew allowed on exp, nbf and iat
MAX_TOKEN_CHARS = 8192  # Cognito's access tokens are ~1 KB; more is not a token of theirs
MAX_JWKS_BYTES = 1_000_000
ACCESS = "access"


class TokenRejected(Exception):
    """The token is not one this stage accepts; `reason` is a short fixed word for metrics."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class JwksUnavailable(Exception):
    """The identity provider's keys could not be fetched or read (a dependency outage)."""


def _jwt() -> ModuleType:
    # PyJWT and cryptography cost tens of milliseconds to import: only a process that sees a
    # bearer token pays it, and only once (tests/e2e/test_cold_start.py checks the app never does).
    import jwt

    return jwt


def fetch_jwks(url: str, timeout_s: float = JWKS_TIMEOUT_S) -> dict[str, Any]:
    """The JSON Web Key Set at `url` (urllib: nothing else to vendor)."""
    request = urllib.request.Request(url, headers={"Accept": "application/json",
                                                   "User-Agent": "txn-stream"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body = response.read(MAX_JWKS_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:  # HTTPError is a URLError
        raise JwksUnavailable(f"GET {url}: {exc}") from exc
    if len(body) > MAX_JWKS_BYTES:
        raise JwksUnavailable(f"GET {url}: more than {MAX_JWKS_BYTES} bytes")
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise JwksUnavailable(f"GET {url}: not JSON") from exc
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksUnavailable(f"GET {url}: no 'keys' list")
    return document


def signing_keys(document: dict[str, Any]) -> dict[str, Any]:
    """The RS256 signing keys of a JWKS by kid; other keys (encryption, other types) are left
    out, so a token naming them is refused as signed by an unknown key."""
    jwt = _jwt()
    keys: dict[str, Any] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA":
            continue
        if entry.get("use", "sig") != "sig" or entry.get("alg", "RS256") != "RS256":
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str):
            continue
        try:
            keys[kid] = jwt.PyJWK(entry, algorithm="RS256").key
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError):
            continue  # a malformed entry is skipped; its kid then signs nothing
    return keys


class TokenVerifier:
    """Checks access tokens of one issuer. The JWKS is fetched once per warm process and again
    only for a kid it does not hold (key rotation), at most once a minute."""

    def __init__(self, config: CognitoConfig,
                 fetch: Callable[[str], dict[str, Any]] = fetch_jwks,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._fetch = fetch
        self._clock = clock
        self._keys: dict[str, Any] | None = None
        self._fetched_at = 0.0
        self._lock = threading.Lock()
        self.fetches = 0  # how many times the JWKS was asked for (tests count them)

    def _refresh(self) -> None:
        self._fetched_at = self._clock()
        self.fetches += 1
        self._keys = signing_keys(self._fetch(self.config.jwks_url))

    def _key_for(self, kid: str) -> Any:
        # One thread fetches while the others wait for its answer rather than fetching too.
        with self._lock:
            if self._keys is None:
                self._refresh()
            elif (kid not in self._keys
                  and self._clock() - self._fetched_at >= REFETCH_INTERVAL_S):
                self._refresh()
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


_verifiers: dict[CognitoConfig, TokenVerifier] = {}
_verifiers_lock = threading.Lock()


def verifier_for(config: CognitoConfig) -> TokenVerifier:
    """The process's verifier for `config`, made on first use so its JWKS is fetched once."""
    with _verifiers_lock:
        verifier = _verifiers.get(config)
        if verifier is None:
            verifier = _verifiers[config] = TokenVerifier(config)
        return verifier
