"""The Chalice app: routes parse the request, call chalicelib, and errors are rendered here."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import Any

from chalice.app import Chalice, Request, Response

from chalicelib import analytics, dashboard, service
from chalicelib.auth import KeyCache, authenticate
from chalicelib.errors import AppError, ServiceUnavailableError
from chalicelib.observability import RequestObserver, log
from chalicelib.runtime import get_runtime
from chalicelib.storage.port import StoreError
from chalicelib.storage.s3_archive import ArchiveError, archive_for
from chalicelib.timeutil import now_utc

app = Chalice(app_name="txn-stream")
PUBLIC_PATHS = frozenset({"/health", "/", "/dashboard", "/dashboard/static/{name}"})
_key_cache = KeyCache()


def error_response(exc: AppError) -> Response:
    """The one error shape: Chalice's Code and Message, plus Details."""
    return Response(body=exc.to_json(), status_code=exc.status, headers=dict(exc.headers))


def _render_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except AppError as exc:
            return error_response(exc)
        except StoreError as exc:
            log("ERROR", "store_unavailable", error=str(exc))
            return error_response(ServiceUnavailableError("the store is unavailable; retry"))
    return wrapper


def route(path: str, **options: Any) -> Callable[[Callable[..., Any]], Any]:
    """`app.route` whose view's domain errors become responses in the one error shape."""
    def register(view: Callable[..., Any]) -> Any:
        return app.route(path, **options)(_render_errors(view))
    return register


def _request_id(event: Request) -> str:
    """API Gateway's request id, else Lambda's (chalice local and the test client make one)."""
    return str(event.context.get("requestId")
               or getattr(event.lambda_context, "aws_request_id", None) or uuid.uuid4())


def _stage() -> str:
    try:
        return get_runtime().settings.stage
    except Exception:  # a broken config is reported by the request itself; the log goes on
        return "unknown"


@app.middleware("http")
def observe_request(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """Log and measure every request (registered first, so it wraps the key check too)."""
    observer = RequestObserver(_request_id(event), event.method,
                               str(event.context.get("resourcePath", "")), _stage())
    if event.uri_params and "account" in event.uri_params:
        observer.fields["account"] = event.uri_params["account"]  # masked by the logger
    response = get_response(event)
    bank = (event.context.get("authorizer") or {}).get("principalId")
    if observer.is_ingest and bank and 200 <= response.status_code < 300:
        _archive(event, bank, observer)
    observer.finish(response.status_code, response.body, bank)
    return response


def _archive(event: Request, bank: str, observer: RequestObserver) -> None:
    """Write an accepted body to the raw archive, when one is configured. The transactions are
    already committed, so a failed write does not fail the request: it is logged at error
    level and counted (ArchiveFailures) for an alarm; the ledger has lost nothing."""
    bucket = get_runtime().settings.archive_bucket
    if not bucket:
        return
    try:
        archive_for(bucket).put(bank, observer.request_id, _raw_body(event), now_utc())
        observer.count("ArchiveFailures", 0)
    except ArchiveError as exc:
        log("ERROR", "archive_failed", request_id=observer.request_id, bank=bank, error=str(exc))
        observer.count("ArchiveFailures", 1)


@app.middleware("http")
def require_api_key(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """Map `x-api-key` to a bank for every route but /health (runs locally and on AWS)."""
    if event.context.get("resourcePath") in PUBLIC_PATHS:
        return get_response(event)
    try:
        rt = get_runtime()
        bank = authenticate(rt.store, event.headers.get("x-api-key"),
                            rt.settings.demo_api_key, _key_cache, rt.settings.key_cache_ttl_s)
    except AppError as exc:
        return error_response(exc)
    except StoreError as exc:
        log("ERROR", "store_unavailable", error=str(exc))
        return error_response(ServiceUnavailableError("the store is unavailable; retry"))
    event.context["authorizer"] = {"principalId": bank}
    return get_response(event)


def _bank() -> str:
    request = app.current_request
    assert request is not None
    return str(request.context["authorizer"]["principalId"])


def _request() -> Request:
    request = app.current_request
    assert request is not None
    return request


def _raw_body(request: Request) -> bytes:
    raw = request.raw_body or b""
    return raw.encode("utf-8") if isinstance(raw, str) else raw


@route("/transactions", methods=["POST"], content_types=["*/*"])
def post_transactions() -> Response:
    request = _request()
    status, body = service.post_transactions(get_runtime(), _bank(),
                                             request.headers.get("content-type"),
                                             _raw_body(request), now_utc())
    return Response(body=body, status_code=status)


@route("/analytics", methods=["GET"])
def get_analytics() -> dict[str, Any]:
    return service.get_analytics(get_runtime(), _bank(), _request().query_params, now_utc())


@route("/analytics/series", methods=["GET"])
def get_analytics_series() -> dict[str, Any]:
    return service.get_series(get_runtime(), _bank(), _request().query_params, now_utc())


@route("/transactions/{tx_id}", methods=["GET"])
def get_transaction(tx_id: str) -> dict[str, Any]:
    return analytics.get_transaction(get_runtime().store, _bank(), tx_id)


@route("/accounts/{account}", methods=["GET"])
def get_account(account: str) -> dict[str, Any]:
    return analytics.account_summary(get_runtime().store, _bank(), account)


@route("/accounts/{account}/transactions", methods=["GET"])
def get_account_transactions(account: str) -> dict[str, Any]:
    return analytics.account_history(get_runtime().store, _bank(), account,
                                     _request().query_params)


@route("/health", methods=["GET"])
def health() -> dict[str, str]:
    return service.health(get_runtime())


def _page(answer: dashboard.Answer) -> Response:
    return Response(body=answer.body, status_code=answer.status, headers=dict(answer.headers))


@route("/", methods=["GET"])
def index() -> Response:
    location = dashboard.redirect_location(_request().context.get("path"))
    return Response(body="", status_code=302,
                    headers={**dashboard.SECURITY_HEADERS, "Location": location})


@route("/dashboard", methods=["GET"])
def get_dashboard() -> Response:
    return _page(dashboard.shell(_request().headers.get("if-none-match")))


@route("/dashboard/static/{name}", methods=["GET"])
def get_dashboard_file(name: str) -> Response:
    request = _request()
    return _page(dashboard.asset(name, request.query_params, request.headers.get("if-none-match")))
