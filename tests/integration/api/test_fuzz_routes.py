"""Every route, every parameter, every store (SQLite, moto, DynamoDB Local): generated requests
(path segments, query strings, headers and bodies of arbitrary unicode with lone surrogates,
decimals of extreme exponents and precision, timestamps at every calendar edge, real and forged
cursors and request ids, `Prefer` headers as RFC 7240 reads them and not, text fields holding
control and bidi characters, wrong methods, unknown routes, bearer tokens the pool signed whose
claims have unexpected types, two credentials in one request), against a bank whose totals are
already past 64 bits of minor units. Every answer is below 500; every refusal is in the one
error shape; a refused request, and any read, stores nothing; a 2xx validates against
openapi.yaml; `Prefer` decides sync or async exactly as RFC 7240 reads it; a claim of an
unexpected type is a 401; more than one credential is a 400; nothing stored holds a refused
character; the totals stay exact.

A fast slice runs in the fast loop (`pytest -m "not slow"`); the rest is marked `slow` and runs
in `make test`, sharded so pytest-xdist spreads it over the cores.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from chalice.local import RouteMatcher
from chalice.test import Client, HTTPResponse
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from app import PUBLIC_PATHS, app
from chalicelib.bootstrap import Runtime, bootstrap, set_runtime
from chalicelib.config import CognitoConfig, Settings, WebhookSettings
from chalicelib.domain.aggregates import BANK_KEY, Bucket, CurrencyTotals
from chalicelib.domain.model import OPTIONAL_TEXT_FIELDS
from chalicelib.domain.timeutil import format_timestamp, now_utc
from chalicelib.ports.store import Store
from chalicelib.usecases.app_clients import map_client
from chalicelib.usecases.caller import READ_SCOPE, WRITE_SCOPE, WRITERS_GROUP
from chalicelib.usecases.consumer import drain
from chalicelib.usecases.reconcile import recompute
from tests.integration.api.test_openapi import response_schema
from tests.support.asyncing import install
from tests.support.aws_calls import record_aws_calls
from tests.support.edges import check_error_shape, send_repeated
from tests.support.factories import raw_tx
from tests.support.idp import ISSUER, KeysInHand, new_key, signed
from tests.support.stores import EMULATED, STORES

KEY = "fuzz-routes-key"
PER_EXAMPLE = 8
BANK = "demo"
MAX_BODY = 16 * 1024
# (store, shard, examples, slow): 875 in the fast slice (175 of them on DynamoDB Local, which
# refuses what moto accepts), 42,900 more in the slow one (`make test` runs both: 43,775). A
# quarter of them carry no good key (class 2 tokens, class 4 pairs): the fast slice grew so the
# requests with the bank's key stay as many as before those classes.
SHARDS = [("sqlite", 0, 700, False), ("sqlite", 5, 1_200, True), ("dynamodb", 0, 200, True),
          ("dynamodb-local", 0, 175, False),
          *[("sqlite", n, 10_000, True) for n in range(1, 3)],
          ("dynamodb", 1, 1_500, True)]
# run by test_fuzz_routes_more.py: pytest-xdist hands out whole modules (--dist loadfile), so the
# big shards in two modules run on two workers at once instead of one after the other
MORE_SHARDS = [("sqlite", n, 10_000, True) for n in range(3, 5)]
ROUTES = {"/transactions": ("POST",), "/analytics": ("GET",), "/transactions/{tx_id}": ("GET",),
          "/accounts/{account}": ("GET",), "/accounts/{account}/transactions": ("GET",),
          "/health": ("GET",), "/analytics/series": ("GET",), "/ingest/{request_id}": ("GET",),
          "/": ("GET",), "/dashboard": ("GET",), "/dashboard/static/{name}": ("GET",),
          "/rules": ("GET", "PUT"), "/rules/replay": ("POST",),
          "/rules/replay/{job_id}": ("GET",),
          # statement files have a fuzz of their own (test_statements_fuzz.py): here, methods
          "/statements": ("POST",), "/statements/uploads": ("POST",),
          "/alerts": ("GET",), "/alerts/{transaction_id}": ("GET", "POST"),
          "/suppressions": ("GET", "POST"), "/suppressions/{suppression_id}": ("DELETE",),
          "/webhooks": ("GET", "POST"), "/webhooks/{webhook_id}": ("DELETE",),
          "/webhooks/{webhook_id}/test": ("POST",), "/webhooks/{webhook_id}/deliveries": ("GET",)}
# the routes whose 2xx may write
WRITING = {("POST", "/transactions"), ("PUT", "/rules"), ("POST", "/statements"),
           ("POST", "/statements/uploads"), ("POST", "/webhooks"),
           ("DELETE", "/webhooks/{webhook_id}"), ("POST", "/alerts/{transaction_id}"),
           ("POST", "/suppressions"), ("DELETE", "/suppressions/{suppression_id}")}
# Every bank total starts here, past 2^63 minor units: SQLite's plain INTEGER turned such sums
# into inexact REALs; the run ends by checking they stayed exact.
SEEDED_TOTAL = Decimal(2**63 - 1).scaleb(-2)
# HEAD and OPTIONS are left out: chalice local answers OPTIONS itself (a CORS preflight, 200
# without a body, which its test client cannot even read), and neither reaches the app on AWS
# (API Gateway answers methods a route lacks with its 403).
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
MATCHER = RouteMatcher(sorted(app.routes))

ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=40)  # surrogates too
SHORT_TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=8)
ASCII_TEXT = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)


# --- decimals: extreme exponents and precision, as JSON numbers and as strings ---------------
def _number(digits: str, fraction: str, exponent: int | None, upper: bool) -> str:
    text = digits + ("." + fraction if fraction else "")
    if exponent is not None:
        text += ("E" if upper else "e") + str(exponent)
    return text


# Character classes drawn as text of an alphabet: the same strings as the regular expressions
# they replace (`[1-9][0-9]{0,14}`, ...), each drawn in one choice instead of one per character
# (from_regex cost four to six times as much per draw).
NUMERALS = "0123456789"
ALPHANUMERIC = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" + NUMERALS
DIGITS = st.one_of(st.builds(str.__add__, st.sampled_from(NUMERALS[1:]),
                             st.text(NUMERALS, max_size=14)), st.just("0"),
                   st.integers(1, 400).map(lambda n: "1" + "0" * n))
FRACTIONS = st.one_of(st.just(""), st.text(NUMERALS, min_size=1, max_size=4),
                      st.integers(3, 400).map(lambda n: "0" * n + "1"),
                      st.integers(3, 60).map(lambda n: "0" * n))
EXPONENTS = st.one_of(st.none(), st.integers(-3, 13), st.integers(-2_000_000, 2_000_000),
                      st.sampled_from([-999_999, -1_000_000, -1_000_027, -1_000_028,
                                       999_999, 1_000_000, -(10**9), 10**9]))
DECIMALS = st.builds(_number, DIGITS, FRACTIONS, EXPONENTS, st.booleans())
GOOD_AMOUNTS = st.tuples(st.sampled_from(["number", "string"]), st.sampled_from(
    ["10.00", "0.01", "250.5", "9999.99", "15000", "2.5e1", "1E+3", "999999999999.99"]))
AMOUNTS = st.one_of(DECIMALS.map(lambda t: ("number", t)), DECIMALS.map(lambda t: ("string", t)))


# --- timestamps at every calendar edge --------------------------------------------------------
TIME_FRACTIONS = st.one_of(st.just(""), st.integers(0, 12).map(lambda n: "." + "9" * n),
                           st.just(",5"))


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    year = draw(st.sampled_from(["0000", "0001", "1969", "1970", "2024", "2026", "9999"]))
    month = draw(st.sampled_from(["00", "01", "02", "12", "13"]))
    day = draw(st.sampled_from(["00", "01", "28", "29", "30", "31", "32"]))
    hour = draw(st.sampled_from(["00", "13", "23", "24"]))
    minute = draw(st.sampled_from(["00", "59", "60"]))
    second = draw(st.sampled_from(["00", "59", "60"]))
    fraction = draw(TIME_FRACTIONS)
    zone = draw(st.sampled_from(["Z", "z", "+00:00", "-00:00", "+14:00", "-23:59", "+23:59",
                                 "+24:00", "+00:01", "-00:01", "+0200", "+02", "+02:00:30",
                                 ""]))
    separator = draw(st.sampled_from(["T", "T", "t", " "]))
    return f"{year}-{month}-{day}{separator}{hour}:{minute}:{second}{fraction}{zone}"


VALID_TIMES = st.sampled_from(["2026-01-10T14:00:00Z", "2026-01-10T14:30:00.5+02:00",
                               "2025-12-31T23:59:59.999999-00:00", "1970-01-01T00:00:00Z"])
TIMESTAMPS = st.one_of(VALID_TIMES, timestamps(), ANY_TEXT)


# --- bodies -------------------------------------------------------------------------------------
NUMBER_MARK = "\u0000n\u0000"


PERCENT = st.integers(0, 99)
GOOD_IDS = st.text(ALPHANUMERIC, min_size=1, max_size=8)
GOOD_ACCOUNTS = st.sampled_from(["A1", "SEED", "B2"])
CURRENCIES = st.sampled_from(["USD", "USD", "JPY", "EUR", "usd", "XXX"])
# The refused characters as the README documents them (checked here independently of the
# implementation's regex), and text that holds one among ordinary characters.
REFUSED = [*map(chr, range(0x20)), "\x7f", *map(chr, range(0x80, 0xA0)),
           *map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A))]
ALLOWED_NEIGHBOURS = ["\u00a0", "\u200e", "\u200f", "\u2028", "\u2065", "\u206a", "\u202f",
                      "é", "東", "\U0001f600", "~"]
SPIKED_TEXT = st.builds(lambda a, c, b: a + c + b, st.sampled_from(["", "Shop ", "pay "]),
                        st.sampled_from(REFUSED + ALLOWED_NEIGHBOURS),
                        st.sampled_from(["", "x", " gnp.exe"]))
FIELD_CHANGES = st.lists(st.sampled_from(["type", "description", "merchant", "channel",
                                          "counterparty", "id", "account", "extra"]),
                         max_size=2).flatmap(
    lambda names: st.fixed_dictionaries({n: st.one_of(ANY_TEXT, SPIKED_TEXT, st.none(),
                                                      st.integers(), st.booleans())
                                         for n in names}))


@st.composite
def transactions(draw: st.DrawFn) -> dict[str, Any]:
    body = raw_tx(draw(GOOD_IDS if draw(PERCENT) < 80 else ANY_TEXT),
                  account=draw(GOOD_ACCOUNTS if draw(PERCENT) < 80 else ANY_TEXT))
    kind, amount = draw(GOOD_AMOUNTS if draw(PERCENT) < 50 else AMOUNTS)
    body["amount"] = NUMBER_MARK + amount + NUMBER_MARK if kind == "number" else amount
    body["timestamp"] = draw(VALID_TIMES if draw(PERCENT) < 60 else TIMESTAMPS)
    body["currency"] = draw(CURRENCIES)
    if draw(st.integers(0, 2)) == 0:
        body.update(draw(FIELD_CHANGES))
    return body


def _dumps(value: Any) -> bytes:
    # raw JSON numbers go in unquoted; lone surrogates are escaped as JSON allows (\ud800)
    text = json.dumps(value, ensure_ascii=True)
    return text.replace('"' + json.dumps(NUMBER_MARK)[1:-1], "").replace(
        json.dumps(NUMBER_MARK)[1:-1] + '"', "").encode()


SPIKED_TX = st.builds(lambda tx_id, name, text: raw_tx(tx_id, **{name: text}), GOOD_IDS,
                      st.sampled_from(["description", "merchant", "counterparty", "channel"]),
                      SPIKED_TEXT)
BODIES = st.one_of(
    transactions().map(_dumps),
    st.lists(transactions(), min_size=1, max_size=5).map(lambda t: _dumps({"transactions": t})),
    st.binary(max_size=64),
    ANY_TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")),
)


# --- rule sets and replay windows ----------------------------------------------------------------
# Expression pieces, joined at random: most make nonsense (refused with a position), some make
# rules that then run on every later ingest (division by zero included: it must never fail one).
TOKENS = st.sampled_from(["amount", "hour", "weekday", "channel", "merchant", "count_1h",
                          "sum_24h", "zscore", "stddev", "merchant_known", ">", "<", "==", "!=",
                          ">=", "and", "or", "not", "(", ")", "/", "*", "%", "-", "0", "1000.50",
                          '"wire"', "lower(", "abs(", ",", "in", "[", "]", "1e999", ".", "x"])
EXPRESSIONS = st.one_of(st.lists(TOKENS, min_size=1, max_size=12).map(" ".join),
                        st.sampled_from(["amount > 1000.50", "amount / count_1h > 2",
                                         "hour < 6 and channel == \"wire\"",
                                         "zscore > 3", "not merchant_known and amount > 100"]),
                        ANY_TEXT)
BUILTIN_NAMES = st.sampled_from(["large_amount", "structuring", "velocity", "round_amount",
                                 "rapid_in_out", "unusual_amount", "nope"])
PARAM_NAMES = st.sampled_from(["amount", "margin", "count", "window_s", "min", "unit",
                               "tolerance", "min_amount", "z", "min_history", "by_currency",
                               "x"])
PARAM_VALUES = st.one_of(DECIMALS, DECIMALS.map(lambda d: NUMBER_MARK + d + NUMBER_MARK),
                         st.integers(-5, 100_000), ANY_TEXT, st.none(),
                         st.just({"JPY": {"amount": "5000"}}))
RULE_NAMES = st.one_of(st.sampled_from(["r1", "r2", "night_wire", "large_amount"]), ANY_TEXT)
RULES_OUT = st.one_of(
    st.fixed_dictionaries({"name": RULE_NAMES, "when": EXPRESSIONS}),
    st.fixed_dictionaries({"name": RULE_NAMES, "builtin": BUILTIN_NAMES},
                          optional={"params": st.dictionaries(PARAM_NAMES, PARAM_VALUES,
                                                              max_size=3)}),
    st.dictionaries(st.sampled_from(["name", "when", "builtin", "params", "description", "z"]),
                    st.one_of(ANY_TEXT, st.integers(), st.none()), max_size=3))
RULE_LISTS = st.lists(RULES_OUT, max_size=4)
EMPTY_OR_OBJECT = st.sampled_from([b"", b"{}"])
RULE_BODIES = st.one_of(RULE_LISTS.map(lambda r: _dumps({"rules": r})),
                        st.binary(max_size=32), EMPTY_OR_OBJECT)
REPLAY_BODIES = st.fixed_dictionaries(
    {"since": st.one_of(st.just("2026-01-10T00:00:00Z"), TIMESTAMPS),
     "until": st.one_of(st.just("2026-01-11T00:00:00Z"), TIMESTAMPS)},
    optional={"rules": RULE_LISTS, "limit": st.one_of(st.integers(-2, 2000), ANY_TEXT)}).map(
    _dumps)


# --- credentials: tokens the pool signed whose claims have unexpected types (class 2), and two
# credentials in one request (class 4) -----------------------------------------------------------
SYSTEM_CLIENT, PEOPLE_CLIENT, TOKEN_KID = "fuzzsystem1", "fuzz-people", "fuzz-key-1"
OTHER_KEY = "tsk_other-bank-key"
TIME_CLAIMS = ("exp", "iat", "nbf")
# every claim the service (or PyJWT, for it) reads
TOKEN_CLAIMS = ["client_id", "sub", "token_use", "scope", "exp", "iat", "nbf", "iss", "username",
                "cognito:groups"]
CLAIM_VALUES = st.one_of(
    st.lists(st.one_of(SHORT_TEXT, st.integers(), st.sampled_from(["bank-demo", "bank-x"])),
             max_size=2),
    st.dictionaries(SHORT_TEXT, st.one_of(SHORT_TEXT, st.integers()), max_size=2),
    st.integers(-(2**70), 2**70), st.floats(), st.none(), st.booleans(), SHORT_TEXT,
    st.sampled_from(["access", "id", SYSTEM_CLIENT, ISSUER, READ_SCOPE]))
CLAIM_CHANGES = st.dictionaries(st.sampled_from(TOKEN_CLAIMS), CLAIM_VALUES, min_size=1,
                                max_size=2)
# about 60 % the bank's key, 10 % a bad key or none, 20 % a token, 10 % two credentials
CREDENTIALS = st.sampled_from(["key"] * 6 + ["bad key", "claims", "claims", "two"])
TWO_CREDENTIALS = st.sampled_from(["two keys", "key and token", "token and key", "two tokens"])
SECOND_KEYS = st.one_of(st.sampled_from([KEY, OTHER_KEY]), ASCII_TEXT)


def claim_fits(name: str, value: Any) -> bool:
    """Whether a claim has the type the service reads it as (a JSON null has none), decided here
    independently of the verifier."""
    if name in TIME_CLAIMS:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if name == "cognito:groups":
        return isinstance(value, list) and all(isinstance(g, str) for g in value)
    return isinstance(value, str)


def good_claims(person: bool) -> dict[str, Any]:
    """An access token's claims as Cognito issues them: to a person of the bank allowed to
    write, or to an app client mapped to the bank (client credentials)."""
    now = int(time.time())
    claims: dict[str, Any] = {"iss": ISSUER, "token_use": "access", "iat": now,
                              "auth_time": now, "exp": now + 3600, "jti": "fuzz", "version": 2}
    if person:
        claims.update({"sub": str(uuid.UUID(int=7)), "client_id": PEOPLE_CLIENT,
                       "username": "analyst", "scope": "aws.cognito.signin.user.admin",
                       "cognito:groups": [f"bank-{BANK}", WRITERS_GROUP]})
    else:
        claims.update({"sub": SYSTEM_CLIENT, "client_id": SYSTEM_CLIENT,
                       "scope": f"{READ_SCOPE} {WRITE_SCOPE}"})
    return claims


# --- requests -----------------------------------------------------------------------------------
def _escape_query(text: str) -> str:
    # only what would split the query string is escaped: lone surrogates reach the app as they are
    return "".join(f"%{ord(c):02X}" if c in "%&=#+? \t\r\n" else c for c in text)


def _segment(text: str) -> str:
    return "".join(f"%{ord(c):02X}" if c in "/?#%" else c for c in text)


@dataclass
class Req:
    method: str
    path: str
    route: str | None  # None: no such route (API Gateway's own 403)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    lines: list[tuple[str, str]] = field(default_factory=list)  # headers sent more than once
    credential: str = "none"  # key, bad key, claims (class 2), two (class 4)
    good_credential: bool = False  # one credential, which proves the bank
    expect: tuple[int, str] | None = None  # the refusal due on an authenticated route
    claims: dict[str, Any] | None = None  # a token's claims changed from good ones (class 2)


SEGMENTS = st.one_of(st.text(ALPHANUMERIC + "._:-", min_size=1, max_size=34),
                     st.sampled_from(["SEED", "A1", "t1", "b1"]), ANY_TEXT.map(_segment),
                     st.integers(35, 5000).map(lambda n: "9" * n))


def _query_string(pairs: list[tuple[str, str]]) -> str:
    if not pairs:
        return ""
    return "?" + "&".join(f"{_escape_query(k)}={_escape_query(v)}" for k, v in pairs)


def queries(names: list[str], values: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    # built once, not inside a draw: a strategy built per draw costs more than drawing from it
    return st.lists(st.tuples(st.one_of(st.sampled_from(names), SHORT_TEXT), values),
                    max_size=3).map(_query_string)


def cursors(real: list[str]) -> st.SearchStrategy[str]:
    def mutate(cursor: str, at: int, char: str) -> str:
        at %= max(1, len(cursor))
        return cursor[:at] + char + cursor[at + 1:]

    return st.one_of(st.sampled_from(real), ANY_TEXT, ASCII_TEXT,
                     st.builds(mutate, st.sampled_from(real), st.integers(0, 200),
                               st.one_of(st.sampled_from("Aa0_-."), SHORT_TEXT)))


QUERY_X = queries(["x"], ANY_TEXT)
QUERY_WINDOW = queries(["since", "until"], TIMESTAMPS)
QUERY_REFRESH = queries(["refresh"], st.one_of(st.sampled_from(["1", "60", "3600", "0", "3601",
                                                                "05", "1.5", "٣"]), ANY_TEXT))
QUERY_V = queries(["v"], ANY_TEXT)
# `Prefer` values whose reading RFC 7240 settles (True: asynchronous), and anything else
PREFERS = {"respond-async": True, "RESPOND-ASYNC": True, "respond-async, wait=5": True,
           "wait=5, respond-async": True, "return=minimal,respond-async": True,
           'foo="a,b", respond-async': True, "return=minimal; respond-async": False,
           "wait=5;respond-async": False, 'foo="respond-async"': False, "respond-asyncx": False,
           "respond-async=yes": False, "return=representation": False}
PREFER = st.one_of(st.sampled_from(sorted(PREFERS)), ANY_TEXT)
WRONG_METHODS = {route: st.sampled_from([m for m in METHODS if m not in allowed])
                 for route, allowed in ROUTES.items()}
ROUTE_NAMES = st.sampled_from(sorted(ROUTES))
UNKNOWN = st.tuples(st.sampled_from(METHODS), st.sampled_from(
    ["/nope", "/transactions/a/b", "/accounts", "/analytics/x", "/health/x", "/ingest",
     "/dashboard/static", "/dashboard/x/y", "/analytics/series/x"]))
# A wrong method twice: once in 37 kinds, a 1,200-request shard met a 405 only by luck (about
# a third of those requests carry a bad credential, refused first, and Hypothesis repeats spans:
# 18 wrong-method requests, 5 distinct; none with the key once Hypothesis also drew constants
# from every test module, as it does in a whole run).
KINDS = st.sampled_from(["post", "post", "post", "text", "analytics", "series", "tx", "account",
                         "history", "history", "ingest", "health", "root", "dashboard",
                         "static", "method", "method", "unknown", "rules", "put_rules",
                         "put_rules",
                         "replay", "replay_job", "webhook_post", "webhook_post", "webhooks",
                         "webhook_delete", "webhook_test", "webhook_log", "alerts", "alerts",
                         "alert", "triage", "triage", "suppress", "suppress", "suppressions",
                         "unsuppress"])
ALERT_STATUSES = st.one_of(st.sampled_from(["open", "confirmed", "dismissed", "closed", ""]),
                           ANY_TEXT)
ALERT_RULES = st.one_of(st.sampled_from(["large_amount", "round_amount", "Bad", ""]), ANY_TEXT)
ALERT_IDS = st.one_of(st.sampled_from(["al0", "al1", "al2", "t1", "nope"]), SEGMENTS)
TRIAGE_BODIES = st.one_of(
    st.fixed_dictionaries({"status": ALERT_STATUSES},
                          optional={"note": st.one_of(ANY_TEXT, SPIKED_TEXT, st.integers()),
                                    "by": ANY_TEXT}).map(_dumps),
    st.binary(max_size=32), EMPTY_OR_OBJECT)
SOON = st.sampled_from([format_timestamp(now_utc() + timedelta(days=1)),
                        format_timestamp(now_utc() + timedelta(hours=1, microseconds=5)),
                        "2999-01-01T00:00:00Z", "2020-01-01T00:00:00Z"])
SUPPRESSION_BODIES = st.one_of(
    st.fixed_dictionaries({"account": st.one_of(GOOD_ACCOUNTS, ANY_TEXT),
                           "rule": ALERT_RULES, "until": st.one_of(SOON, TIMESTAMPS),
                           "reason": st.one_of(st.just("payroll"), ANY_TEXT, SPIKED_TEXT)},
                          optional={"id": ANY_TEXT}).map(_dumps),
    st.binary(max_size=32), EMPTY_OR_OBJECT)
SUPPRESSION_IDS = st.one_of(st.just("sup_0123456789abcdef"),
                            st.text(NUMERALS + "abcdef", min_size=16, max_size=16).map(
                                "sup_".__add__), SEGMENTS)
QUERY_VERSION = queries(["version"], st.one_of(st.sampled_from(["0", "1", "2", "99"]), ANY_TEXT))
DASHBOARD_PATHS = st.sampled_from(["/dashboard", "/dashboard", "/dashboard/"])
STATIC_NAMES = st.one_of(st.sampled_from(["app.js", "app.css", "uplot.min.js", "uplot.min.css"]),
                         SEGMENTS)
BAD_KEYS = st.one_of(ANY_TEXT, ASCII_TEXT, st.none())
BAD_CONTENT_TYPES = st.one_of(ANY_TEXT, st.none())
EXTRA_HEADERS = st.dictionaries(st.sampled_from(["accept", "x-forwarded-for", "if-none-match",
                                                 "x-amzn-trace-id"]), ANY_TEXT, max_size=2)
HISTORY_ACCOUNTS = st.one_of(st.just("SEED"), SEGMENTS)
# Webhook URLs: allowed on the dev stage, refused on every stage, and text (IP literals and
# localhost only, so no generated request makes a DNS query)
WEBHOOK_URLS = st.one_of(st.sampled_from([
    "http://127.0.0.1:9/in", "http://localhost:9/in?x=1", "https://93.184.216.34/in",
    "https://169.254.169.254/latest", "https://10.0.0.1/", "http://[::1]/", "https://[fe80::1]/",
    "https://[::ffff:10.0.0.1]/", "ftp://127.0.0.1/", "https://u:p@93.184.216.34/",
    "https://93.184.216.34/#f", "http://93.184.216.34/", "https://93.184.216.34:99999/",
    "https://0.0.0.0/", "https://224.0.0.1/", "https://[64:ff9b::a00:1]/"]), ANY_TEXT,
    st.integers(), st.none())
WEBHOOK_BODIES = st.one_of(
    st.fixed_dictionaries({"url": WEBHOOK_URLS}, optional={
        "events": st.one_of(st.lists(st.one_of(st.just("alert.opened"), ANY_TEXT), max_size=3),
                            ANY_TEXT, st.none()),
        "secret": ANY_TEXT}).map(_dumps),
    st.binary(max_size=32), EMPTY_OR_OBJECT)


def requests(real_cursors: list[str], request_ids: list[str],
             job_ids: list[str], webhook_ids: list[str],
             sign: Callable[[dict[str, Any]], str]) -> st.SearchStrategy[Req]:
    """Any request to any route (strategies built once: building them per draw is slow);
    `sign` signs a token's claims with the pool's key."""
    history_query = queries(["limit", "cursor"], st.one_of(
        cursors(real_cursors), st.sampled_from(["1", "100", "101", "0"]), ANY_TEXT))
    ingest_ids = st.one_of(st.sampled_from(request_ids), SEGMENTS)
    alerts_query = queries(["status", "rule", "account", "limit", "cursor"], st.one_of(
        cursors(real_cursors), ALERT_STATUSES, ALERT_RULES, GOOD_ACCOUNTS,
        st.sampled_from(["1", "100", "101", "0"])))
    replay_jobs = st.one_of(st.sampled_from(job_ids), SEGMENTS)
    hook_ids = st.one_of(st.sampled_from(webhook_ids), SEGMENTS)
    log_query = queries(["limit"], st.one_of(st.sampled_from(["1", "20", "100", "101", "0"]),
                                             ANY_TEXT))

    @st.composite
    def one(draw: st.DrawFn) -> Req:
        kind = draw(KINDS)
        if kind == "post":
            req = Req("POST", "/transactions" + draw(QUERY_X), "/transactions", body=draw(BODIES))
        elif kind == "text":  # a valid transaction but for one text field
            req = Req("POST", "/transactions", "/transactions", body=_dumps(draw(SPIKED_TX)))
        elif kind == "analytics":
            req = Req("GET", "/analytics" + draw(QUERY_WINDOW), "/analytics")
        elif kind == "series":
            req = Req("GET", "/analytics/series" + draw(QUERY_WINDOW), "/analytics/series")
        elif kind == "ingest":
            req = Req("GET", f"/ingest/{draw(ingest_ids)}", "/ingest/{request_id}")
        elif kind == "root":
            req = Req("GET", "/" + draw(QUERY_X), "/")
        elif kind == "dashboard":
            req = Req("GET", draw(DASHBOARD_PATHS) + draw(QUERY_REFRESH), "/dashboard")
        elif kind == "static":
            req = Req("GET", f"/dashboard/static/{draw(STATIC_NAMES)}" + draw(QUERY_V),
                      "/dashboard/static/{name}")
        elif kind == "tx":
            req = Req("GET", f"/transactions/{draw(SEGMENTS)}", "/transactions/{tx_id}")
        elif kind == "account":
            req = Req("GET", f"/accounts/{draw(SEGMENTS)}", "/accounts/{account}")
        elif kind == "history":
            req = Req("GET", f"/accounts/{draw(HISTORY_ACCOUNTS)}/transactions"
                      + draw(history_query), "/accounts/{account}/transactions")
        elif kind == "rules":
            req = Req("GET", "/rules" + draw(QUERY_VERSION), "/rules")
        elif kind == "put_rules":
            req = Req("PUT", "/rules" + draw(QUERY_X), "/rules", body=draw(RULE_BODIES))
        elif kind == "replay":
            req = Req("POST", "/rules/replay", "/rules/replay", body=draw(REPLAY_BODIES))
        elif kind == "replay_job":
            req = Req("GET", f"/rules/replay/{draw(replay_jobs)}", "/rules/replay/{job_id}")
        elif kind == "webhook_post":
            req = Req("POST", "/webhooks", "/webhooks", body=draw(WEBHOOK_BODIES))
        elif kind == "webhooks":
            req = Req("GET", "/webhooks" + draw(QUERY_X), "/webhooks")
        elif kind == "webhook_delete":
            req = Req("DELETE", f"/webhooks/{draw(hook_ids)}", "/webhooks/{webhook_id}")
        elif kind == "webhook_test":
            req = Req("POST", f"/webhooks/{draw(hook_ids)}/test", "/webhooks/{webhook_id}/test",
                      body=draw(EMPTY_OR_OBJECT))
        elif kind == "webhook_log":
            req = Req("GET", f"/webhooks/{draw(hook_ids)}/deliveries" + draw(log_query),
                      "/webhooks/{webhook_id}/deliveries")
        elif kind == "health":
            req = Req("GET", "/health" + draw(QUERY_X), "/health")
        elif kind == "alerts":
            req = Req("GET", "/alerts" + draw(alerts_query), "/alerts")
        elif kind == "alert":
            req = Req("GET", f"/alerts/{draw(ALERT_IDS)}", "/alerts/{transaction_id}")
        elif kind == "triage":
            req = Req("POST", f"/alerts/{draw(ALERT_IDS)}", "/alerts/{transaction_id}",
                      body=draw(TRIAGE_BODIES))
        elif kind == "suppress":
            req = Req("POST", "/suppressions" + draw(QUERY_X), "/suppressions",
                      body=draw(SUPPRESSION_BODIES))
        elif kind == "suppressions":
            req = Req("GET", "/suppressions" + draw(QUERY_X), "/suppressions")
        elif kind == "unsuppress":
            req = Req("DELETE", f"/suppressions/{draw(SUPPRESSION_IDS)}",
                      "/suppressions/{suppression_id}")
        elif kind == "method":
            route = draw(ROUTE_NAMES)
            path = (route.replace("{tx_id}", "t1").replace("{account}", "SEED")
                    .replace("{request_id}", "r1").replace("{name}", "app.js")
                    .replace("{job_id}", "0" * 32).replace("{webhook_id}", "wh_1")
                    .replace("{transaction_id}", "al0")
                    .replace("{suppression_id}", "sup_0123456789abcdef"))
            req = Req(draw(WRONG_METHODS[route]), path, route, body=draw(EMPTY_OR_OBJECT))
        else:
            method, path = draw(UNKNOWN)
            req = Req(method, path, None)
        credential(draw, req, sign)
        content_type = "application/json" if draw(PERCENT) < 85 else draw(BAD_CONTENT_TYPES)
        if content_type is not None:
            req.headers["content-type"] = content_type
        req.headers.update(draw(EXTRA_HEADERS))
        if draw(PERCENT) < 30:
            req.headers["prefer"] = draw(PREFER)
        return req

    return one()


def credential(draw: st.DrawFn, req: Req, sign: Callable[[dict[str, Any]], str]) -> None:
    """The request's credential: mostly the bank's key, else a bad one, a token the pool signed
    with claims of any type, or two credentials at once."""
    kind = draw(CREDENTIALS)
    if kind == "key":
        req.headers["x-api-key"], req.credential, req.good_credential = KEY, "key", True
    elif kind == "bad key":
        key = draw(BAD_KEYS)
        if key is not None:
            req.headers["x-api-key"], req.credential = key, "bad key"
    elif kind == "claims":
        changes = draw(CLAIM_CHANGES)
        token = sign({**good_claims(draw(st.booleans())), **changes})
        req.headers["authorization"], req.credential = f"Bearer {token}", "claims"
        req.claims = changes
        req.good_credential = all(claim_fits(n, v) for n, v in changes.items())
        if not req.good_credential:
            req.expect = (401, "UnauthorizedError")
    else:
        # each credential alone would be accepted: only their number is wrong
        api_key = ("x-api-key", KEY)
        person = ("authorization", f"Bearer {sign(good_claims(True))}")
        system = ("authorization", f"Bearer {sign(good_claims(False))}")
        pairs: dict[str, list[tuple[str, str]]] = {
            "two keys": [api_key, ("x-api-key", draw(SECOND_KEYS))],
            "key and token": [api_key, system], "token and key": [person, api_key],
            "two tokens": [system, person]}
        req.lines = pairs[draw(TWO_CREDENTIALS)]
        req.credential, req.expect = "two", (400, "BadRequestError")


# --- the run ------------------------------------------------------------------------------------
@contextmanager
def fuzz_runtime(store_name: str, tmp_path: Path, token_key: Any
                 ) -> Iterator[tuple[Client, Store, Runtime, Runtime]]:
    """The app on a store, with the embedded queue and a pool whose signing key is
    `token_key`'s (its app client mapped to the bank)."""
    pool = CognitoConfig(ISSUER, "https://idp.invalid/jwks.json",
                         frozenset({SYSTEM_CLIENT, PEOPLE_CLIENT}))
    with STORES[store_name](tmp_path) as store:
        hooks = WebhookSettings(store_path=str(tmp_path / "webhooks.db"), key="fuzz" * 8,
                                queue_path=str(tmp_path / "webhook-queue.db"))
        map_client(store, BANK, SYSTEM_CLIENT)
        rt = install(bootstrap(Settings(demo_api_key=KEY, max_body_bytes=MAX_BODY, max_batch=6,
                                        stage="dev", cognito=pool, webhooks=hooks), store,
                               verifier=KeysInHand(pool, {TOKEN_KID: token_key.public_key()})),
                     tmp_path)  # the embedded queue
        parts = rt  # drained by the run itself
        try:
            with Client(app) as client:
                yield client, store, rt, parts
        finally:
            set_runtime(None)


def seed_totals(store: Store) -> None:
    """The bank's totals as if it had ingested 92,234 transactions of the largest amount."""
    store.replace_buckets(BANK, {BANK_KEY: Bucket(currencies={
        code: CurrencyTotals(0, SEEDED_TOTAL, 0, SEEDED_TOTAL) for code in ("USD", "EUR")})}, [])


def seed_async(client: Client) -> list[str]:
    """The request ids of two asynchronous requests (one applied later, one not)."""
    headers = {"x-api-key": KEY, "content-type": "application/json", "prefer": "respond-async"}
    found = []
    for tx_id in ("as1", "as2"):
        answer = client.http.post("/transactions", body=json.dumps(raw_tx(tx_id)),
                                  headers=headers)
        assert answer.status_code == 202, answer.body
        found.append(json.loads(answer.body)["request_id"])
    return found


def seed_alerts(client: Client) -> list[str]:
    """Three flagged transactions (alerts al0-al2), and the real cursors of the alert queue."""
    at = format_timestamp((now_utc() - timedelta(minutes=10)).replace(microsecond=0))
    headers = {"x-api-key": KEY, "content-type": "application/json"}
    body = {"transactions": [raw_tx(f"al{i}", account="A1", amount="12345.67", timestamp=at)
                             for i in range(3)]}
    assert client.http.post("/transactions", body=json.dumps(body),
                            headers=headers).status_code == 200
    page = json.loads(client.http.get("/alerts?limit=1", headers=headers).body)
    assert page["next_cursor"], page
    return [page["next_cursor"]]


def seed_webhooks(client: Client) -> list[str]:
    """The ids of two registered webhooks (the fuzz may delete, ping and read them)."""
    headers = {"x-api-key": KEY, "content-type": "application/json"}
    found = []
    for _ in range(2):
        answer = client.http.post("/webhooks", body=json.dumps({"url": "http://127.0.0.1:9/"}),
                                  headers=headers)
        assert answer.status_code == 201, answer.body
        found.append(json.loads(answer.body)["id"])
    return found


def seed_jobs(client: Client) -> list[str]:
    """The id of a replay job (queued, run when the run drains the queue)."""
    headers = {"x-api-key": KEY, "content-type": "application/json", "prefer": "respond-async"}
    answer = client.http.post("/rules/replay", headers=headers, body=json.dumps(
        {"since": "2026-01-10T00:00:00Z", "until": "2026-01-11T00:00:00Z"}))
    assert answer.status_code == 202, answer.body
    return [json.loads(answer.body)["job_id"]]


def seed_history(client: Client) -> list[str]:
    """Twelve transactions of account SEED, and the real cursors of their pages."""
    body = {"transactions": [raw_tx(f"s{i}", account="SEED",
                                    timestamp=f"2026-01-10T10:{i:02d}:00Z") for i in range(6)]}
    headers = {"x-api-key": KEY, "content-type": "application/json"}
    for half in (0, 1):
        batch = {"transactions": [dict(t, id=f"{t['id']}-{half}") for t in body["transactions"]]}
        assert client.http.post("/transactions", body=json.dumps(batch),
                                headers=headers).status_code == 200
    found: list[str] = []
    cursor = ""
    while True:
        page = json.loads(client.http.get(
            "/accounts/SEED/transactions?limit=2" + (f"&cursor={cursor}" if cursor else ""),
            headers=headers).body)
        cursor = page["next_cursor"]
        if cursor is None:
            return found
        found.append(cursor)


WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


class WriteWatch:
    """A number that moves whenever anything is written: SQLite's data_version as another
    connection sees it (it changes on every commit of another connection), or the count of
    DynamoDB write calls the store's client made. Constant time, so it is read per request."""

    def __init__(self, store: Store) -> None:
        path = getattr(store, "path", None)
        if path is not None:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
            self.version: Callable[[], int] = lambda: int(
                conn.execute("PRAGMA data_version").fetchone()[0])
        else:
            calls = record_aws_calls(store.client)  # type: ignore[attr-defined]
            self.version = lambda: sum(1 for c in calls if c.operation in WRITES)


def _matches(path: str) -> bool:
    """Whether the path names a route, as API Gateway (and chalice local) parse it: an empty
    last segment (`/accounts/`) or a stray `;` can leave no route at all."""
    try:
        MATCHER.match_route(path)
    except ValueError:
        return False
    return True


def _wants_async(prefer: str | None) -> bool | None:
    """What RFC 7240 says of a sampled `Prefer` (None: a generated one, not settled here)."""
    return False if prefer is None else PREFERS.get(prefer)


class Checker:
    """Sends one request and checks the promises; counts what it saw."""

    def __init__(self, client: Client, store: Store) -> None:
        self.client, self.store = client, store
        self.statuses: dict[int, int] = {}
        self.credentials: dict[str, int] = {}
        self.schemas: dict[tuple[str, str, int], Any] = {}
        self.before = 0
        self.watch = WriteWatch(store)

    def schema(self, route: str, method: str, status: int) -> Any:
        key = (route, method, status)
        if key not in self.schemas:
            self.schemas[key] = jsonschema_rs.validator_for(response_schema(route, method,
                                                                            status))
        return self.schemas[key]

    def __call__(self, req: Req) -> None:
        self.before = self.watch.version()
        response = self.send(req)
        status = response.status_code
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.credentials[req.credential] = self.credentials.get(req.credential, 0) + 1
        assert status < 500, (req, status, response.body)
        written = self.watch.version() != self.before
        self.before = self.watch.version()
        if req.route is None or not _matches(req.path):  # API Gateway's own answer
            assert status == 403 and (b"Missing Authentication Token" in response.body or (
                b"Authorization header requires" in response.body
                and "authorization" in {n for n, _ in [*req.headers.items(), *req.lines]})), req
            return
        # the route the path reaches (`/alerts/` with an empty id is the listing, `/alerts`)
        req.route = MATCHER.match_route(req.path).route
        assert response.headers.get("X-Content-Type-Options") == "nosniff", (req, status)
        if req.route in PUBLIC_PATHS - {"/health"} and status < 400:  # pages, files, a redirect
            assert not written, ("a page stored something", req)
            assert status in (200, 301, 302, 304), (req, status)
            return
        assert response.headers.get("Cache-Control") == "no-store", (req, status)
        if status == 204:  # DELETE /webhooks/{id}: no body
            assert req.method == "DELETE" and not response.body, (req, response.body)
            return
        body = json.loads(response.body)
        if req.expect is not None and req.route not in PUBLIC_PATHS:
            assert (status, body.get("Code")) == req.expect, (req.claims, req, status, body)
        if status >= 400:
            check_error_shape(body)
            assert not written, ("a refusal stored something", req)
            return
        assert req.good_credential or req.route in PUBLIC_PATHS, req
        assert self.schema(req.route, req.method, status).is_valid(body), (req, body)
        if req.method == "POST" and req.route in ("/transactions", "/rules/replay"):
            expected = _wants_async(req.headers.get("prefer"))
            assert expected is None or (status == 202) == expected, (req, status)
            # a replay writes its job's record when it answers 202, and nothing else ever
            assert req.route == "/transactions" or status == 202 or not written, req
        elif (req.method, req.route) not in WRITING:
            assert not written, ("a read stored something", req)


    def send(self, req: Req) -> HTTPResponse:
        if req.lines:  # as API Gateway passes repeated headers
            return send_repeated(self.client, req.method, req.path,
                                 [*req.headers.items(), *req.lines], req.body)
        return self.client.http.request(req.method, req.path, headers=req.headers,
                                        body=req.body)


def check_stored(store: Store) -> None:
    """Nothing stored holds a refused character, and the seeded totals grew exactly by what the
    stored transactions add (a total past 64 bits of minor units kept every digit)."""
    stored = list(store.iter_transactions(BANK))
    for tx in stored:
        for name in OPTIONAL_TEXT_FIELDS:
            text = getattr(tx, name) or ""
            assert not any(c in text for c in REFUSED), (tx.id, name, text)
    expected = recompute(stored).get(BANK_KEY, Bucket())
    found = store.get_buckets(BANK, [BANK_KEY])[BANK_KEY]
    for code in ("USD", "EUR"):
        totals, want = found.currencies[code], expected.currencies.get(code, CurrencyTotals())
        assert totals.credit_total - SEEDED_TOTAL == want.credit_total, (code, totals, want)
        assert totals.debit_total - SEEDED_TOTAL == want.debit_total, (code, totals, want)


class Signer:
    """Signs claims with the pool's key, each payload once: RS256 (PKCS #1 v1.5) is
    deterministic, so the token is the same; signing was a sixth of the generation's time (a
    two-credential request carries two tokens of good claims, the same within a second)."""

    def __init__(self, key: Any) -> None:
        self.key = key
        self.tokens: dict[str, str] = {}

    def __call__(self, claims: dict[str, Any]) -> str:
        payload = json.dumps(claims)  # what signed() signs, byte for byte
        if payload not in self.tokens:
            self.tokens[payload] = signed(claims, self.key, TOKEN_KID)
        return self.tokens[payload]


def run_fuzz(store_name: str, shard: int, examples: int, tmp_path: Path) -> None:
    started = time.monotonic()
    token_key = new_key()
    with fuzz_runtime(store_name, tmp_path, token_key) as (client, store, _, parts):
        seed_totals(store)
        real = seed_history(client) + seed_alerts(client)
        request_ids = seed_async(client)
        job_ids = seed_jobs(client)
        webhook_ids = seed_webhooks(client)
        check = Checker(client, store)

        # several requests per example: the engine's own work per example, not the requests,
        # was most of the fuzz's time (the same number of requests is sent)
        @seed(1000 + shard)
        @settings(max_examples=-(-examples // PER_EXAMPLE), deadline=None, database=None,
                  phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck))
        @given(reqs=st.lists(requests(real, request_ids, job_ids, webhook_ids,
                                      Signer(token_key)),
                             min_size=PER_EXAMPLE, max_size=PER_EXAMPLE))
        def send(reqs: list[Req]) -> None:
            for req in reqs:
                check(req)

        send()
        assert client.http.get("/health").status_code == 200
        drain(parts)  # what was queued is applied: it counts in the totals checked below
        check_stored(store)
    sent = sum(check.statuses.values())
    print(f"fuzz {store_name}/{shard}: {sent} requests in {time.monotonic() - started:.1f}s, "
          f"statuses {sorted(check.statuses.items())}, "
          f"credentials {sorted(check.credentials.items())}")
    assert sent >= examples
    assert {"key", "bad key", "claims", "two"} <= set(check.credentials), check.credentials
    # a small shard (DynamoDB Local's, under 200 requests over ever more routes) may miss the
    # rarer answers; every larger one must see them all
    expected = {200, 400, 403, 404} | ({202, 405} if examples >= 500 else set())
    assert expected <= set(check.statuses), check.statuses


def _param(store: str, shard: int, examples: int, slow: bool) -> Any:
    marks = [pytest.mark.slow] if slow else []
    if store in EMULATED:
        marks.append(pytest.mark.emulator)
    return pytest.param(store, shard, examples, marks=marks, id=f"{store}-{shard}-{examples}")


@pytest.mark.parametrize(("store_name", "shard", "examples"),
                         [_param(*shard) for shard in SHARDS])
def test_every_route_and_parameter_answers_below_500_in_shape_storing_nothing_refused(
        store_name: str, shard: int, examples: int, tmp_path: Path,
        request: pytest.FixtureRequest) -> None:
    if store_name in EMULATED:
        request.getfixturevalue("dynamodb_local")  # stopped at the session's end
    run_fuzz(store_name, shard, examples, tmp_path)


def test_the_fuzz_knows_every_route_and_method_the_app_serves() -> None:
    served = {path: tuple(sorted(methods)) for path, methods in
              ((p, app.routes[p].keys()) for p in app.routes)}
    assert served == {path: tuple(sorted(methods)) for path, methods in ROUTES.items()}


def total_requests(select: Callable[[bool], bool]) -> int:
    return sum(n for _, _, n, slow in SHARDS + MORE_SHARDS if select(slow))
