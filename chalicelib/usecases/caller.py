"""Who is calling: an API key or a Cognito bearer token, mapped to one bank and its scopes."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.bootstrap import Runtime
from chalicelib.errors import (
    AppError,
    BadRequestError,
    ForbiddenError,
    ServiceUnavailableError,
    UnauthorizedError,
)
from chalicelib.observability import log
from chalicelib.ports.tokens import JwksUnavailable, TokenRejected
from chalicelib.usecases.api_keys import BANK_PATTERN, authenticate

RESOURCE_SERVER = "txn-stream"  # the Cognito resource server's identifier
READ_SCOPE = f"{RESOURCE_SERVER}/read"  # GET routes
WRITE_SCOPE = f"{RESOURCE_SERVER}/write"  # POST /transactions, /statements, /rules/replay
RULES_SCOPE = f"{RESOURCE_SERVER}/rules"  # PUT /rules: replacing the bank's rule set
BANK_GROUP_PREFIX = "bank-"  # a person belongs to bank B through the group `bank-B`
WRITERS_GROUP = "txn-stream-writers"  # a person in it may also write (people read by default)
RULE_ADMINS_GROUP = "txn-stream-rule-admins"  # a person in it may also change the rules
# Routes that change what the bank's monitoring decides: a token needs the rules scope, not
# only the write one (an API key is the bank's own credential and may; docs/auth.md).
RULES_ROUTES = frozenset({("PUT", "/rules")})
BEARER = re.compile(r"Bearer +([A-Za-z0-9_.=-]+)", re.IGNORECASE)
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Caller:
    """The bank a request acts for, and how it proved it."""

    bank: str
    auth: str  # "key" or "token"
    scopes: frozenset[str] = frozenset({READ_SCOPE, WRITE_SCOPE, RULES_SCOPE})
    client_id: str | None = None
    user: str | None = None  # the person's `sub` (a UUID: never a name or an e-mail)

    def context(self) -> dict[str, Any]:
        """What the middleware leaves in the request context (principalId is the bank, as an
        API Gateway authorizer would set it)."""
        return {"principalId": self.bank, "auth": self.auth, "client_id": self.client_id,
                "user": self.user}


class Refused(AppError):
    """A refusal with a low-cardinality `reason`, counted by the metric AuthRefused."""

    reason = "refused"


class Unauthenticated(Refused, UnauthorizedError):
    """401: no credential, or one that proves nothing."""

    def __init__(self, reason: str, message: str, bearer: bool = False) -> None:
        # RFC 6750: a refused bearer token is answered with a WWW-Authenticate challenge.
        headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if bearer else None
        AppError.__init__(self, message, headers=headers)
        self.reason = reason


class NotAllowed(Refused, ForbiddenError):
    """403: a proven caller that may not do this."""

    def __init__(self, reason: str, message: str) -> None:
        AppError.__init__(self, message)
        self.reason = reason


class BothCredentials(Refused, BadRequestError):
    """400: more than one credential in one request (a key and a token, or two of either)."""

    reason = "both_credentials"


CREDENTIAL_HEADERS = ("x-api-key", "authorization")


def required_scope(http_method: str, resource_path: str = "") -> str:
    """Reading routes need the read scope; changing the rules (RULES_ROUTES) the rules scope;
    everything else (POST /transactions) the write one."""
    method = http_method.upper()
    if method in READ_METHODS:
        return READ_SCOPE
    return RULES_SCOPE if (method, resource_path) in RULES_ROUTES else WRITE_SCOPE


def identify(rt: Runtime, headers: Mapping[str, str], http_method: str,
             repeated: Collection[str] = (), resource_path: str = "") -> Caller:
    """The caller of a request, allowed to use `http_method`; raises Refused (400/401/403) or
    ServiceUnavailableError (503: the store or the identity provider is down). `repeated`: the
    header names the request carried more than once (which one a server keeps differs: the
    local server kept the first, API Gateway keeps the last)."""
    key = headers.get("x-api-key") or ""  # as sent: a key is compared byte for byte
    authorization = (headers.get("authorization") or "").strip()
    twice = sorted(h for h in CREDENTIAL_HEADERS if h in {r.lower() for r in repeated})
    if (key and authorization) or twice:
        # Two credentials could name two banks; guessing which one the client meant could act
        # on the wrong bank or hide a revoked key, so the client is told to pick one.
        raise BothCredentials("send exactly one credential: one x-api-key or one "
                              "Authorization: Bearer" + (f" ({twice[0]} was sent more than "
                                                         "once)" if twice else ""))
    if authorization:
        return _bearer(rt, authorization, http_method, resource_path)
    try:
        bank = authenticate(rt.store, key or None, rt.settings.demo_api_key, rt.keys)
    except UnauthorizedError as exc:
        raise Unauthenticated("missing_credentials", "send your API key in the x-api-key "
                              "header or a bearer token in Authorization") from exc
    except ForbiddenError as exc:
        raise NotAllowed("invalid_api_key", exc.message) from exc
    return Caller(bank, "key")


def _bearer(rt: Runtime, authorization: str, http_method: str,
            resource_path: str = "") -> Caller:
    verifier = rt.verifier
    if verifier is None:
        raise Unauthenticated("bearer_disabled", "bearer auth is not enabled for this stage; "
                              "use x-api-key")
    match = BEARER.fullmatch(authorization)
    if match is None:
        raise Unauthenticated("malformed_token", "Authorization must be `Bearer <token>`",
                              bearer=True)
    try:
        claims = verifier.verify(match.group(1))
    except TokenRejected as exc:
        raise Unauthenticated(exc.reason, exc.message, bearer=True) from exc
    except JwksUnavailable as exc:
        log("ERROR", "jwks_unavailable", jwks_url=verifier.jwks_url, error=str(exc))
        raise ServiceUnavailableError("the identity provider's keys cannot be fetched; retry",
                                      retry_after_s=5) from exc
    caller = _person(claims) if _is_person(claims) else _system(rt, claims)
    needed = required_scope(http_method, resource_path)
    if needed not in caller.scopes:
        raise NotAllowed("missing_scope", f"the token lacks the scope {needed}")
    return caller


def _is_person(claims: Mapping[str, Any]) -> bool:
    # A user's access token names its user; a client-credentials token has no user (its sub is
    # the app client's id).
    return "username" in claims or "cognito:groups" in claims


def _token_scopes(claims: Mapping[str, Any]) -> set[str]:
    scope = claims.get("scope")
    words = scope.split() if isinstance(scope, str) else []
    return {w for w in words if w in (READ_SCOPE, WRITE_SCOPE, RULES_SCOPE)}


def _person(claims: Mapping[str, Any]) -> Caller:
    groups = claims.get("cognito:groups")
    groups = [g for g in groups if isinstance(g, str)] if isinstance(groups, list) else []
    banks = sorted({g[len(BANK_GROUP_PREFIX):] for g in groups if g.startswith(BANK_GROUP_PREFIX)
                    and BANK_PATTERN.fullmatch(g[len(BANK_GROUP_PREFIX):])})
    if not banks:
        raise NotAllowed("no_bank", "the user belongs to no bank group (bank-<bank>)")
    if len(banks) > 1:
        raise NotAllowed("many_banks", "the user belongs to more than one bank group")
    scopes = _token_scopes(claims) | {READ_SCOPE}
    if WRITERS_GROUP in groups:
        scopes.add(WRITE_SCOPE)
    if RULE_ADMINS_GROUP in groups:
        scopes.add(RULES_SCOPE)
    return Caller(banks[0], "token", frozenset(scopes), str(claims.get("client_id")),
                  str(claims.get("sub")))


def _system(rt: Runtime, claims: Mapping[str, Any]) -> Caller:
    client_id = str(claims.get("client_id"))
    bank = rt.clients.get(client_id, _bank_of_client(rt))
    if bank is None:
        raise NotAllowed("no_bank", "the app client is mapped to no bank "
                         "(python -m scripts.keys map-client)")
    return Caller(bank, "token", frozenset(_token_scopes(claims)), client_id)


def _bank_of_client(rt: Runtime) -> Callable[[str], str | None]:
    def load(client_id: str) -> str | None:
        record = rt.store.find_app_client(client_id)
        return record.bank if record is not None else None
    return load

