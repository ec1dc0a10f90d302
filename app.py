"""The Chalice app: routes parse the request, call chalicelib, and errors are rendered here."""

from __future__ import annotations

import functools
import traceback
import uuid
from collections.abc import Callable
from typing import Any

from chalice.app import Chalice, CloudWatchEvent, Rate, Request, Response, SQSEvent

from chalicelib.bootstrap import get_runtime
from chalicelib.config import ConfigError
from chalicelib.domain.timeutil import now_utc
from chalicelib.domain.validation import parse_json
from chalicelib.errors import (
    AppError,
    InternalServerError,
    MethodNotAllowedError,
    ServiceUnavailableError,
)
from chalicelib.observability import RequestObserver, log
from chalicelib.ports.store import StoreError, StoreRefused
from chalicelib.usecases import (
    alerts,
    analytics,
    consumer,
    ingest_async,
    ingest_sync,
    queries,
    replay_jobs,
    rules_admin,
)
from chalicelib.usecases.caller import identify
from chalicelib.web import dashboard
from chalicelib.web.framing import STANDARD_HEADERS

app = Chalice(app_name="txn-stream")
INGEST_QUEUE = "txn-stream-prod-ingest.fifo"  # infra/resources.json's IngestQueue
WEBHOOK_QUEUE = "txn-stream-prod-webhooks.fifo"  # infra/resources.json's WebhookQueue
PUBLIC_PATHS = frozenset({"/health", "/", "/dashboard", "/dashboard/static/{name}"})


def error_response(exc: AppError) -> Response:
    """The one error shape: Chalice's Code and Message, plus Details."""
    return Response(body=exc.to_json(), status_code=exc.status,
                    headers={**STANDARD_HEADERS, **exc.headers})


def _standard_headers(response: Response) -> Response:
    """`nosniff` on every answer, `no-store` on all but those that set their own caching."""
    present = {name.lower() for name in response.headers}
    for name, value in STANDARD_HEADERS.items():
        if name.lower() not in present:
            response.headers[name] = value
    return response


def _where(exc: BaseException) -> list[str]:
    """The traceback as `file:line function` frames: where it broke, never what it held."""
    return [f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}"
            for f in traceback.extract_tb(exc.__traceback__)[-8:]]


def render_exception(exc: Exception) -> Response:
    """The one mapping from an exception to an answer, for routes and middleware alike:
    domain errors are 4xx; a store that is down is 503; a request the store refuses as invalid
    (StoreRefused), a misconfiguration or a bug is 500,
    logged at ERROR (type and frames only: a message may quote input) and, through the
    observing middleware, counted in ServerErrors."""
    if isinstance(exc, AppError):
        return error_response(exc)
    if isinstance(exc, StoreRefused):  # a request the store calls invalid: our bug, not 503
        log("ERROR", "store_refused", error=str(exc), where=_where(exc))
        return error_response(InternalServerError("an internal error occurred"))
    if isinstance(exc, StoreError):
        log("ERROR", "store_unavailable", error=str(exc))
        return error_response(ServiceUnavailableError("the store is unavailable; retry"))
    if isinstance(exc, ConfigError):  # our own messages: they name the setting, never a value
        log("ERROR", "config_error", error=str(exc))
        return error_response(InternalServerError("the service is misconfigured; see its log"))
    log("ERROR", "unhandled_error", error_type=type(exc).__name__, where=_where(exc))
    return error_response(InternalServerError("an internal error occurred"))


def _render_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except Exception as exc:
            return render_exception(exc)
    return wrapper


def _in_error_shape(response: Response) -> Response:
    """Chalice's own answers (405 for a wrong method, its 500) in the one error shape; every
    answer with the standard headers (`nosniff`; `no-store` unless it sets its own caching)."""
    body = response.body
    if response.status_code < 400 or (isinstance(body, dict) and "Details" in body):
        return _standard_headers(response)
    if response.status_code == 405:
        allowed = str(response.headers.get("Allow", ""))
        method = str(body.get("Message", "")).rsplit(" ", 1)[-1] if isinstance(body, dict) else ""
        error: AppError = MethodNotAllowedError(
            f"{method or 'this method'} is not allowed here; use {allowed}",
            headers={"Allow": allowed})
    elif isinstance(body, dict) and isinstance(body.get("Code"), str):
        error = AppError(str(body.get("Message", "")))
        error.status, error.code = response.status_code, body["Code"]
    else:
        error = InternalServerError("an internal error occurred")
    return error_response(error)


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
    """Log and measure every request (registered first, so it wraps the key check too); what a
    use case counts while it runs (ingest outcomes) lands in this request's record."""
    event.context["requestId"] = _request_id(event)  # the same id for the route's use case
    observer = RequestObserver(event.context["requestId"], event.method,
                               str(event.context.get("resourcePath", "")), _stage())
    if event.uri_params and "account" in event.uri_params:
        observer.fields["account"] = event.uri_params["account"]  # masked by the logger
    with observer:
        try:
            response = _in_error_shape(get_response(event))
            authorizer = event.context.get("authorizer") or {}
            bank = authorizer.get("principalId")
            observer.identify(authorizer)
        except Exception as exc:  # whatever escaped: answered, logged and counted like the rest
            response, bank = render_exception(exc), None
        observer.finish(response.status_code, response.body, bank)
    return response


def _repeated_headers(event: Request) -> list[str]:
    """Header names the request carried more than once (API Gateway's multiValueHeaders)."""
    multi = event.to_original_event().get("multiValueHeaders") or {}
    return [name for name, values in multi.items() if isinstance(values, list) and len(values) > 1]


@app.middleware("http")
def require_caller(event: Request, get_response: Callable[[Request], Response]) -> Response:
    """Map `x-api-key` or a bearer token to a bank for every route but the public ones (health,
    the dashboard's page and files), and check the token's scope against the method and route
    (runs the same locally and on AWS)."""
    if event.context.get("resourcePath") in PUBLIC_PATHS:
        return get_response(event)
    try:
        caller = identify(get_runtime(), event.headers, event.method, _repeated_headers(event),
                          str(event.context.get("resourcePath") or ""))
    except Exception as exc:  # a misconfigured store is answered and seen like a route's error
        event.context["authorizer"] = {"refused": getattr(exc, "reason", None)}
        return render_exception(exc)
    event.context["authorizer"] = caller.context()
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


def _base_path(request: Request) -> str:
    """The API's base path as the caller sees it (API Gateway's stage, e.g. `/api`)."""
    path, resource = str(request.context.get("path") or ""), str(request.context.get(
        "resourcePath") or "")
    return path[:-len(resource)] if resource and path.endswith(resource) else ""


def _every_value(request: Request, name: str) -> str | None:
    """A list-valued header's values of every line, joined with commas (RFC 9110 5.3): API
    Gateway's `headers` keeps only the last of repeated ones, `multiValueHeaders` all."""
    multi = request.to_original_event().get("multiValueHeaders") or {}
    values = [v for key, found in multi.items() if key.lower() == name for v in found or ()]
    return ", ".join(values) if values else request.headers.get(name)


@route("/transactions", methods=["POST"], content_types=["*/*"])
def post_transactions() -> Response:
    request = _request()
    if ingest_async.wants_async(_every_value(request, "prefer")):
        request_id, body = ingest_async.post(get_runtime(), _bank(),
                                             request.headers.get("content-type"),
                                             _raw_body(request), now_utc())
        return Response(body=body, status_code=202, headers={
            "Location": f"{_base_path(request)}/ingest/{request_id}",
            "Preference-Applied": "respond-async"})
    status, body = ingest_sync.post_transactions(get_runtime(), _bank(),
                                                 request.headers.get("content-type"),
                                                 _raw_body(request), now_utc(),
                                                 str(request.context["requestId"]))
    return Response(body=body, status_code=status)


@route("/statements", methods=["POST"], content_types=["*/*"])
def post_statements() -> Response:
    from chalicelib.usecases import statements  # a cold start for JSON never loads the parsers

    request = _request()
    answer = statements.post_statement(get_runtime(), _bank(), request.headers.get("content-type"),
                                       request.query_params, _every_value(request, "prefer"),
                                       _raw_body(request), now_utc(),
                                       str(request.context["requestId"]))
    headers: dict[str, str | list[str]] = {} if answer.request_id is None else {
        "Location": f"{_base_path(request)}/ingest/{answer.request_id}",
        "Preference-Applied": "respond-async"}
    return Response(body=answer.body, status_code=answer.status, headers=headers)


@route("/statements/uploads", methods=["POST"], content_types=["*/*"])
def post_statement_upload() -> Response:
    from chalicelib.usecases import statement_uploads

    request = _request()
    request_id, body = statement_uploads.request_upload(get_runtime(), _bank(),
                                                        request.query_params, now_utc())
    return Response(body=body, status_code=201,
                    headers={"Location": f"{_base_path(request)}/ingest/{request_id}"})


@app.lambda_function(name="import_statement_upload")
def import_statement_upload(event: dict[str, Any], context: Any) -> dict[str, int]:
    """The upload bucket's object-created notification (S3 cannot notify a FIFO queue)."""
    from chalicelib.usecases import statement_uploads

    return statement_uploads.on_s3_records(get_runtime(), event.get("Records") or [], now_utc())


@route("/analytics", methods=["GET"])
def get_analytics() -> dict[str, Any]:
    return queries.get_analytics(get_runtime(), _bank(), _request().query_params, now_utc())


@route("/analytics/series", methods=["GET"])
def get_analytics_series() -> dict[str, Any]:
    return queries.get_series(get_runtime(), _bank(), _request().query_params, now_utc())


@route("/transactions/{tx_id}", methods=["GET"])
def get_transaction(tx_id: str) -> dict[str, Any]:
    return analytics.get_transaction(get_runtime().store, _bank(), tx_id)


@route("/accounts/{account}", methods=["GET"])
def get_account(account: str) -> dict[str, Any]:
    return analytics.account_summary(get_runtime().store, _bank(), account)


@route("/accounts/{account}/transactions", methods=["GET"])
def get_account_transactions(account: str) -> dict[str, Any]:
    rt = get_runtime()
    return analytics.account_history(rt.store, _bank(), account, _request().query_params,
                                     rt.settings.cursor_secret)


@route("/ingest/{request_id}", methods=["GET"])
def get_ingest(request_id: str) -> dict[str, Any]:
    return ingest_async.status(get_runtime().receipts, _bank(), request_id)


@app.on_sqs_message(queue=INGEST_QUEUE, batch_size=10)
def consume_ingest(event: SQSEvent) -> dict[str, Any]:
    """The asynchronous path's consumer on AWS (partial batch failures, FIFO rule)."""
    return consumer.on_sqs_records(get_runtime(), [r.to_dict() for r in event])


@route("/health", methods=["GET"])
def health() -> dict[str, str]:
    return queries.health(get_runtime())


def _page(answer: dashboard.Answer) -> Response:
    return Response(body=answer.body, status_code=answer.status, headers=dict(answer.headers))


@route("/", methods=["GET"])
def index() -> Response:
    location = dashboard.redirect_location(_request().context.get("path"))
    return Response(body="", status_code=302,
                    headers={**dashboard.SECURITY_HEADERS, "Location": location})


@route("/dashboard", methods=["GET"])
def get_dashboard() -> Response:
    request = _request()
    moved = dashboard.canonical_location(request.context.get("path"), request.query_params)
    if moved is not None:
        return Response(body="", status_code=301,
                        headers={**dashboard.SECURITY_HEADERS, "Location": moved})
    return _page(dashboard.shell(request.query_params, request.headers.get("if-none-match")))


@route("/dashboard/static/{name}", methods=["GET"])
def get_dashboard_file(name: str) -> Response:
    request = _request()
    return _page(dashboard.asset(name, request.query_params, request.headers.get("if-none-match")))


# --- rules a bank owns: thin routes over usecases/rules_admin.py ------------------------

@route("/rules", methods=["GET"])
def get_rules() -> dict[str, Any]:
    return rules_admin.get_rules(get_runtime().store, _bank(), _request().query_params,
                               get_runtime().settings.rules)


@route("/rules", methods=["PUT"], content_types=["*/*"])
def put_rules() -> dict[str, Any]:
    rt, request = get_runtime(), _request()
    ingest_sync.check_content_type(request.headers.get("content-type"))
    body = parse_json(_raw_body(request), rt.settings.max_body_bytes)
    who = rules_admin.who_is(request.context["authorizer"], request.headers.get("x-api-key"),
                           rt.store)
    return rules_admin.put_rules(rt.store, _bank(), body, who, now_utc(), rt.settings.rules,
                               rt.rule_sets)


@route("/rules/replay", methods=["POST"], content_types=["*/*"])
def post_rules_replay() -> Response:
    rt, request = get_runtime(), _request()
    ingest_sync.check_content_type(request.headers.get("content-type"))
    body = parse_json(_raw_body(request), rt.settings.max_body_bytes)
    active = rules_admin.active_rule_set(rt.store, _bank(), rt.settings.rules, rt.rule_sets)
    asked = ingest_async.wants_async(_every_value(request, "prefer"))
    if not asked:
        try:
            return Response(body=rules_admin.replay(rt.store, _bank(), body, rt.settings.rules,
                                                    active), status_code=200)
        except rules_admin.ReplayTooLong:
            if rt.replay_jobs is None:
                raise
    job = replay_jobs.submit(rt, _bank(), rules_admin.replay_request(body, rt.settings.rules,
                                                                     active), now_utc())
    headers: dict[str, str | list[str]] = {
        "Location": f"{_base_path(request)}/rules/replay/{job['job_id']}"}
    if asked:
        headers["Preference-Applied"] = "respond-async"
    return Response(body=job, status_code=202, headers=headers)


@route("/rules/replay/{job_id}", methods=["GET"])
def get_rules_replay(job_id: str) -> dict[str, Any]:
    return replay_jobs.status(get_runtime(), _bank(), job_id)


# --- webhooks: thin routes over usecases/webhooks.py; delivery in usecases/webhook_delivery.py

@route("/webhooks", methods=["POST"], content_types=["*/*"])
def post_webhook() -> Response:
    from chalicelib.usecases import webhooks  # loaded on first use: not on ingest's cold start

    rt, request = get_runtime(), _request()
    ingest_sync.check_content_type(request.headers.get("content-type"))
    body = parse_json(_raw_body(request), rt.settings.max_body_bytes)
    made = webhooks.register(rt, _bank(), body, now_utc())
    return Response(body=made, status_code=201,
                    headers={"Location": f"{_base_path(request)}/webhooks/{made['id']}"})


@route("/webhooks", methods=["GET"])
def get_webhooks() -> dict[str, Any]:
    from chalicelib.usecases import webhooks  # loaded on first use: not on ingest's cold start

    return webhooks.list_webhooks(get_runtime(), _bank())


@route("/webhooks/{webhook_id}", methods=["DELETE"])
def delete_webhook(webhook_id: str) -> Response:
    from chalicelib.usecases import webhooks  # loaded on first use: not on ingest's cold start

    webhooks.delete(get_runtime(), _bank(), webhook_id, now_utc())
    return Response(body="", status_code=204)


@route("/webhooks/{webhook_id}/test", methods=["POST"], content_types=["*/*"])
def post_webhook_test(webhook_id: str) -> Response:
    from chalicelib.usecases import webhooks  # loaded on first use: not on ingest's cold start

    return Response(body=webhooks.ping(get_runtime(), _bank(), webhook_id, now_utc()),
                    status_code=202)


@route("/webhooks/{webhook_id}/deliveries", methods=["GET"])
def get_webhook_deliveries(webhook_id: str) -> dict[str, Any]:
    from chalicelib.usecases import webhooks  # loaded on first use: not on ingest's cold start

    return webhooks.deliveries(get_runtime(), _bank(), webhook_id, _request().query_params)


@app.schedule(Rate(1, unit=Rate.MINUTES), name="dispatch_webhooks")
def dispatch_webhooks(event: CloudWatchEvent) -> dict[str, int]:
    """The outbox's dispatcher on AWS: every minute, until the outbox is empty (or 50 s)."""
    from chalicelib.usecases import webhook_delivery

    return {"dispatched": webhook_delivery.dispatch_all(get_runtime())}


@app.on_sqs_message(queue=WEBHOOK_QUEUE, batch_size=10, name="deliver_webhooks")
def deliver_webhooks(event: SQSEvent) -> dict[str, Any]:
    """The delivery queue's consumer on AWS (partial batch failures: retries wait out their
    backoff as the message's visibility)."""
    from chalicelib.usecases import webhook_delivery

    return webhook_delivery.on_sqs_records(get_runtime(), [r.to_dict() for r in event])


# --- alerts and suppressions: thin routes over usecases/alerts.py ------------------------

def _json_body() -> Any:
    rt, request = get_runtime(), _request()
    ingest_sync.check_content_type(request.headers.get("content-type"))
    return parse_json(_raw_body(request), rt.settings.max_body_bytes)


def _who() -> str:
    request = _request()
    return rules_admin.who_is(request.context["authorizer"], request.headers.get("x-api-key"),
                              get_runtime().store)


@route("/alerts", methods=["GET"])
def get_alerts() -> dict[str, Any]:
    rt = get_runtime()
    return alerts.list_alerts(rt.store, _bank(), _request().query_params,
                              rt.settings.cursor_secret)


@route("/alerts/{transaction_id}", methods=["GET"])
def get_alert(transaction_id: str) -> dict[str, Any]:
    return alerts.get_alert(get_runtime().store, _bank(), transaction_id)


@route("/alerts/{transaction_id}", methods=["POST"], content_types=["*/*"])
def post_alert(transaction_id: str) -> dict[str, Any]:
    body = _json_body()
    return alerts.triage(get_runtime().store, _bank(), transaction_id, body, _who(), now_utc())


@route("/suppressions", methods=["POST"], content_types=["*/*"])
def post_suppression() -> Response:
    body = _json_body()
    made = alerts.create_suppression(get_runtime().store, _bank(), body, _who(), now_utc())
    return Response(body=made, status_code=201, headers={
        "Location": f"{_base_path(_request())}/suppressions/{made['id']}"})


@route("/suppressions", methods=["GET"])
def get_suppressions() -> dict[str, Any]:
    return alerts.list_suppressions(get_runtime().store, _bank(), _request().query_params,
                                    now_utc())


@route("/suppressions/{suppression_id}", methods=["DELETE"])
def delete_suppression(suppression_id: str) -> Response:
    alerts.delete_suppression(get_runtime().store, _bank(), suppression_id)
    return Response(body="", status_code=204)
