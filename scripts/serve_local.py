"""`make serve`: the same app as `chalice local`, through chalice's own local server machinery,
with Nagle's algorithm off (keep-alive requests do not stall ~44 ms each) and a careful front
door: Content-Length checked before a body is read, chunked bodies refused, idle connections
closed, a deadline for receiving a whole request, the server's own refusals (414, 431, 501,
505, 408) in the one error shape, `nosniff` on every answer and `no-store` on the API's, and an
access log that masks what the app's log masks."""

from __future__ import annotations

import argparse
import functools
import io
import json
import logging
import os
import signal
import socket
import sys
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import unquote

from chalice.cli.factory import CLIFactory
from chalice.deploy.validate import validate_routes
from chalice.local import (
    ChaliceRequestHandler,
    LocalDevServer,
    LocalGateway,
    create_local_server,
)

from chalicelib.config import ConfigError, load_settings
from chalicelib.errors import AppError
from chalicelib.web.framing import STANDARD_HEADERS, framing_error, log_path, protocol_error

PROJECT_DIR = Path(__file__).resolve().parent.parent
IDLE_TIMEOUT_S = 30.0
# From a request's first byte to its last: a client sending a byte just inside the idle timeout
# could otherwise hold a connection (and a thread) for ever (a slow-loris).
REQUEST_DEADLINE_S = 60.0
# Headers whose repeated lines are one comma-separated list (RFC 9110 5.3): chalice local
# passes the app only the first line of each name, API Gateway all of them.
LIST_HEADERS = ("prefer",)


class RequestDeadline(TimeoutError):
    """The request was still arriving when its deadline passed."""


class DeadlineSocket(io.RawIOBase):
    """The connection's reading side: each receive waits at most the idle timeout, and never
    past the deadline of the request being received (armed by its first byte), so a request
    that trickles in just inside the idle timeout still ends when its deadline does."""

    def __init__(self, sock: socket.socket, idle_s: float, deadline_s: float) -> None:
        self.sock, self.idle_s, self.deadline_s = sock, idle_s, deadline_s
        self.deadline: float | None = None  # None: waiting for a request's first byte
        self.expired = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        wait = self.idle_s
        if self.deadline is not None:
            wait = min(wait, self.deadline - time.monotonic())
            if wait <= 0:
                self.expired = True
                raise RequestDeadline("the request took longer than its deadline")
        self.sock.settimeout(wait)
        try:
            received = self.sock.recv_into(buffer)
        except TimeoutError:
            if self.deadline is not None and time.monotonic() >= self.deadline:
                self.expired = True
                raise RequestDeadline("the request took longer than its deadline") from None
            raise
        if received and self.deadline is None:
            self.deadline = time.monotonic() + self.deadline_s
        return received

    def received(self) -> None:
        """The whole request is in: disarm, and give writes the plain idle timeout back."""
        self.deadline = None
        self.sock.settimeout(self.idle_s)


def _repeated_credential(get_all: Any) -> AppError | None:
    """A credential header sent twice is refused here: the event chalice builds keeps only one
    of them (the first; API Gateway keeps the last), so the app would never see the other."""
    from chalicelib.usecases.caller import CREDENTIAL_HEADERS, BothCredentials

    twice = [h for h in CREDENTIAL_HEADERS if len(get_all(h) or []) > 1]
    return (BothCredentials(f"send exactly one credential ({twice[0]} was sent more than once)")
            if twice else None)


class FrontDoorHandler(ChaliceRequestHandler):
    """chalice local's handler, careful at the door: what the headers alone can refuse is
    answered (in the one error shape) before the key check and before the body is read."""

    max_body_bytes = 1024 * 1024  # set from the stage's settings by build_server
    timeout = IDLE_TIMEOUT_S  # socket timeout: an idle or stalled connection is closed
    request_deadline_s = REQUEST_DEADLINE_S

    def __init__(self, request: Any, client_address: Any, server: Any, app_object: Any,
                 config: Any) -> None:
        # chalice's own, but with path parameters percent-decoded as API Gateway decodes them
        # (chalice local passes `a%3Ab` to the app as it came: an account `a:b` the page asks
        # for would be refused as invalid)
        self.local_gateway = LocalGateway(app_object, config)
        converter = self.local_gateway.event_converter
        make_event = converter.create_lambda_event

        def decoded(*args: Any, **kwargs: Any) -> Any:
            event = make_event(*args, **kwargs)
            if event.get("pathParameters"):
                event["pathParameters"] = {name: unquote(value) for name, value
                                           in event["pathParameters"].items()}
            return event

        converter.create_lambda_event = decoded  # type: ignore[method-assign]
        BaseHTTPRequestHandler.__init__(self, request, client_address, server)

    def setup(self) -> None:
        super().setup()
        self.incoming = DeadlineSocket(self.connection, float(self.timeout or IDLE_TIMEOUT_S),
                                       self.request_deadline_s)
        self.rfile = io.BufferedReader(self.incoming)

    def handle_one_request(self) -> None:
        self.incoming.deadline = None  # a keep-alive connection waits under the idle timeout
        super().handle_one_request()  # http.server closes the connection on a TimeoutError
        if self.incoming.expired and not getattr(self, "_answered", False):
            self._answer_timeout()

    def _answer_timeout(self) -> None:
        self.incoming.expired = False
        try:
            self._refuse(protocol_error(HTTPStatus.REQUEST_TIMEOUT,
                                        "the request did not arrive within"
                                        f" {self.request_deadline_s:g} s; send it at once"))
        except OSError:  # the client is gone: nothing to tell it
            pass

    def _generic_handle(self) -> None:
        self._answered = False
        error = framing_error(self.command, self.headers.get_all("Content-Length") or [],
                              self.headers.get_all("Transfer-Encoding") or [],
                              self.max_body_bytes)
        if error is None:
            error = _repeated_credential(self.headers.get_all)
        if error is not None:
            self._refuse(error)
            return
        try:
            super()._generic_handle()
        except TimeoutError:  # the body stopped arriving (the idle timeout, or the deadline)
            self.close_connection = True
            if self.incoming.expired:
                self._answer_timeout()

    def _parse_payload(self) -> tuple[dict[str, str], bytes | None]:
        headers, body = super()._parse_payload()
        self.incoming.received()
        for name in LIST_HEADERS:
            values = self.headers.get_all(name) or []
            if len(values) > 1:
                for key in [k for k in headers if k.lower() == name]:
                    del headers[key]
                headers[name] = ", ".join(values)
        return headers, body

    # chalice binds its methods to its own _generic_handle; bind them to this one
    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    def _refuse(self, error: AppError) -> None:
        # The body (if any) is left unread, so the connection cannot be reused.
        self._answered = True
        self.close_connection = True
        self.incoming.received()  # the answer is written under the idle timeout alone
        if getattr(self, "request_version", None) not in ("HTTP/1.0", "HTTP/1.1"):
            # a request line never read, or unreadable (http.server then assumes HTTP/0.9 and
            # writes neither status line nor headers): answer as HTTP/1.1 all the same
            self.request_version = "HTTP/1.1"
        body = json.dumps(error.to_json()).encode()
        self.send_response(error.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        for name, value in {**STANDARD_HEADERS, **error.headers}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def parse_request(self) -> bool:
        """http.server's parsing, minus HTTP/0.9 (a bare `GET /path`: no headers, no status
        line, nothing of the API's contract can be said in it)."""
        if not super().parse_request():
            return False
        if self.request_version == "HTTP/0.9":
            self.send_error(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, "send HTTP/1.1")
            return False
        return True

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        """http.server's own refusals (a request line or header too long, too many headers,
        an unknown method or HTTP version, a malformed request line) in the one error shape
        instead of its HTML page."""
        self._refuse(protocol_error(code, message))

    def _send_http_response(self, code: int, headers: Any, body: Any) -> None:
        """Whatever chalice's local gateway answers (the app, or its own 403 for an unknown
        route) is never sniffed, and never stored unless it says otherwise."""
        headers = dict(headers or {})
        for name, value in STANDARD_HEADERS.items():
            if not any(key.lower() == name.lower() for key in headers):
                headers[name] = value
        super()._send_http_response(code, headers, body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """The access line without the query string, with account numbers masked, capped."""
        method = getattr(self, "command", None) or "-"
        target = log_path(getattr(self, "path", "") or "")
        version = getattr(self, "request_version", None) or "HTTP/1.1"
        self.log_message('"%s %s %s" %s', method, target, version,
                         str(getattr(code, "value", code)))

    def log_error(self, format: str, *args: Any) -> None:
        """http.server's error lines quote the raw request line: keep only the status."""
        code = args[0] if args and isinstance(args[0], int) else None
        self.log_message("error %s", "request timed out" if code is None else f"code {code}")


class NoNagleHandler(FrontDoorHandler):
    """chalice local's handler with TCP_NODELAY: http.server writes the headers and the body
    separately, and with Nagle on the body waits for the client's delayed ACK (~40 ms)."""

    disable_nagle_algorithm = True


class QuietNoNagleHandler(NoNagleHandler):
    """The same without the per-request access log line on stderr (benchmarks, the demo)."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


def build_server(host: str = "127.0.0.1", port: int = 8000, stage: str = "dev",
                 quiet: bool = False, project_dir: Path = PROJECT_DIR,
                 idle_timeout_s: float = IDLE_TIMEOUT_S,
                 request_deadline_s: float = REQUEST_DEADLINE_S) -> LocalDevServer:
    """What `chalice local --stage STAGE` builds: the stage's config and environment variables,
    the app object from app.py, chalice's LocalDevServer; only the handler class differs. The
    settings are read once here, so a misconfigured stage refuses to start (ConfigError)."""
    os.environ["AWS_CHALICE_CLI_MODE"] = "true"  # as the chalice CLI sets it
    factory = CLIFactory(str(project_dir), environ=os.environ)
    config = factory.create_config_obj(chalice_stage_name=stage)
    app_obj = config.chalice_app  # imports app.py after the stage's variables are set
    settings = load_settings()  # the stage's variables are in os.environ now
    validate_routes(app_obj.routes)
    server = create_local_server(app_obj, config, host, port)
    base = QuietNoNagleHandler if quiet else NoNagleHandler
    handler = type(base.__name__, (base,), {"max_body_bytes": settings.max_body_bytes,
                                            "timeout": idle_timeout_s,
                                            "request_deadline_s": request_deadline_s})
    server.server.RequestHandlerClass = functools.partial(  # type: ignore[assignment]
        handler, app_object=app_obj, config=config)
    return server


def start_consumer() -> None:
    """The local server is an entry point: it builds the runtime and starts the embedded
    queue's consumer threads and the webhooks' dispatcher and delivery threads (a request
    never does), which also drain what a previous run left. On SQS the consumer is the
    Lambda: nothing to start."""
    from chalicelib.bootstrap import get_runtime
    from chalicelib.usecases import webhook_delivery
    from chalicelib.usecases.consumer import start_local_workers

    try:
        rt = get_runtime()
        if rt.settings.queue.kind == "sqlite":
            start_local_workers(rt)
            webhook_delivery.start_local_workers(rt)  # the outbox's dispatcher and deliveries
    except Exception as exc:  # a broken config is answered by each request, as before
        print(f"ingest consumer not started: {exc}", file=sys.stderr)


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)  # unwinds serve_forever so the socket is closed in `finally`


def main(argv: list[str] | None = None) -> int:
    """Serve until Ctrl-C or SIGTERM; `--port 0` picks a free port and prints it."""
    parser = argparse.ArgumentParser(prog="python -m scripts.serve_local", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--stage", default="dev", help="the Chalice stage (default dev)")
    parser.add_argument("--quiet", action="store_true", help="no access log on stderr")
    parser.add_argument("--idle-timeout", type=float, default=IDLE_TIMEOUT_S,
                        help=f"seconds an idle connection is kept (default {IDLE_TIMEOUT_S:g})")
    parser.add_argument("--request-deadline", type=float, default=REQUEST_DEADLINE_S,
                        help="seconds a request may take to arrive, first byte to last, however"
                             f" steadily it trickles in (default {REQUEST_DEADLINE_S:g}): 408")
    args = parser.parse_args(argv)
    # chalice local logs the app to stdout at INFO; keep that.
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    try:
        server = build_server(args.host, args.port, args.stage, args.quiet,
                              idle_timeout_s=args.idle_timeout,
                              request_deadline_s=args.request_deadline)
    except ConfigError as exc:
        print(f"serve_local: refusing to start on stage {args.stage!r}: {exc}", file=sys.stderr)
        return 2
    start_consumer()
    host, port = server.server.server_address[:2]
    signal.signal(signal.SIGTERM, _stop)
    # one write, so no other thread's output can land inside the line a launcher looks for
    sys.stdout.write(f"Serving on http://{host}:{port}\n")
    sys.stdout.flush()
    try:
        server.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
