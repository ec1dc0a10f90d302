"""A local identity provider for tests: an RSA key, its JWKS served over HTTP on a free port,
and access tokens minted like Cognito's (client-credentials tokens, which moto cannot issue)."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib.adapters.cognito import CognitoVerifier
from chalicelib.config import CognitoConfig

ISSUER = "http://idp.test/pool"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "alg": "RS256", "use": "sig"}


def public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class LocalIdp:
    """Serves `/jwks.json` (the keys in `self.jwks`, editable while it runs) and counts GETs."""

    def __init__(self) -> None:
        self.key = new_key()
        self.kid = "test-key-1"
        self.jwks: dict[str, Any] = {"keys": [public_jwk(self.key, self.kid)]}
        self.hits = 0
        self.status = 200
        self.held = False  # True: each GET waits for `release` (a JWKS that hangs)
        self.release = threading.Event()
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                idp.hits += 1
                if idp.held:
                    idp.release.wait(30)
                body = json.dumps(idp.jwks).encode()
                self.send_response(idp.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        # a short poll: shutdown() waits up to one poll interval, 0.5 s by default, per test
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)

    def __enter__(self) -> LocalIdp:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def env(self, *client_ids: str) -> dict[str, str]:
        return {"COGNITO_ISSUER": ISSUER, "COGNITO_JWKS_URL": self.url,
                "COGNITO_CLIENT_IDS": ",".join(client_ids)}

    def mint(self, key: rsa.RSAPrivateKey | None = None, kid: str | None = None,
             **claims: Any) -> str:
        """A token signed by our key (or `key`), with Cognito's access-token claims by default;
        a claim given as None is left out."""
        now = int(time.time())
        body: dict[str, Any] = {"iss": ISSUER, "token_use": "access", "iat": now,
                                "auth_time": now, "exp": now + 3600, "jti": str(uuid.uuid4()),
                                "version": 2}
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, key or self.key, algorithm="RS256",
                          headers={"kid": kid or self.kid})

    def system_token(self, client_id: str, scope: str = "txn-stream/read txn-stream/write",
                     **claims: Any) -> str:
        """What Cognito's token endpoint answers to a client-credentials grant."""
        return self.mint(**{"sub": client_id, "client_id": client_id, "scope": scope, **claims})

    def person_token(self, client_id: str, groups: list[str], **claims: Any) -> str:
        """What Cognito issues to a signed-in user (InitiateAuth)."""
        return self.mint(**{"sub": str(uuid.uuid4()), "client_id": client_id,
                            "username": "someone", "scope": "aws.cognito.signin.user.admin",
                            "cognito:groups": groups, **claims})


def signed(claims: dict[str, Any], key: rsa.RSAPrivateKey, kid: str) -> str:
    """A token signed by `key` over exactly `claims` (a None stays a JSON null; PyJWT's
    `jwt.encode` would refuse to sign some of them, an `iss` that is not a string)."""
    return jwt.api_jws.encode(json.dumps(claims).encode(), key, algorithm="RS256",
                              headers={"kid": kid})


class KeysInHand(CognitoVerifier):
    """The pool's verifier with its JWKS already fetched: no HTTP, so a test that may open no
    socket can send bearer tokens through every check after the fetch (the fetch itself is
    tested against LocalIdp)."""

    def __init__(self, config: CognitoConfig, keys: dict[str, rsa.RSAPublicKey]) -> None:
        super().__init__(config)
        self.in_hand = keys

    def _fetch(self) -> None:
        self.fetches += 1
        self._fetched_at = self._clock()
        self._keys = dict(self.in_hand)


def unsigned(claims: dict[str, Any], alg: str = "none") -> str:
    """A token with `alg: none` (no signature at all)."""
    header = {"alg": alg, "typ": "JWT", "kid": "test-key-1"}
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}."


def hs256_with_public_key(claims: dict[str, Any], key: rsa.RSAPrivateKey, kid: str) -> str:
    """The classic confusion attack: HMAC-signed with the RSA public key as the secret."""
    import hashlib
    import hmac

    header = {"alg": "HS256", "typ": "JWT", "kid": kid}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    mac = hmac.new(public_pem(key), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def with_edited_claims(token: str, **changes: Any) -> str:
    """The same header and signature over a payload changed after signing."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    return f"{header}.{b64(json.dumps(claims).encode())}.{signature}"
