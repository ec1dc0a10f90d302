"""`make serve`: the same app as `chalice local`, through chalice's own local server machinery,
but with Nagle's algorithm off so keep-alive requests do not stall ~44 ms each."""

from __future__ import annotations

import argparse
import functools
import logging
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from chalice.cli.factory import CLIFactory
from chalice.deploy.validate import validate_routes
from chalice.local import ChaliceRequestHandler, LocalDevServer, create_local_server

PROJECT_DIR = Path(__file__).resolve().parent.parent


class NoNagleHandler(ChaliceRequestHandler):
    """chalice local's handler with TCP_NODELAY: http.server writes the headers and the body
    separately, and with Nagle on the body waits for the client's delayed ACK (~40 ms)."""

    disable_nagle_algorithm = True


class QuietNoNagleHandler(NoNagleHandler):
    """The same without the per-request access log line on stderr (benchmarks, the demo)."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


def build_server(host: str = "127.0.0.1", port: int = 8000, stage: str = "dev",
                 quiet: bool = False, project_dir: Path = PROJECT_DIR) -> LocalDevServer:
    """What `chalice local --stage STAGE` builds: the stage's config and environment variables,
    the app object from app.py, chalice's LocalDevServer; only the handler class differs."""
    os.environ["AWS_CHALICE_CLI_MODE"] = "true"  # as the chalice CLI sets it
    factory = CLIFactory(str(project_dir), environ=os.environ)
    config = factory.create_config_obj(chalice_stage_name=stage)
    app_obj = config.chalice_app  # imports app.py after the stage's variables are set
    validate_routes(app_obj.routes)
    server = create_local_server(app_obj, config, host, port)
    handler = QuietNoNagleHandler if quiet else NoNagleHandler
    server.server.RequestHandlerClass = functools.partial(  # type: ignore[assignment]
        handler, app_object=app_obj, config=config)
    return server


def start_consumer() -> None:
    """Consume what the embedded ingest queue holds from the start (a previous run may have
    left messages), instead of on the first asynchronous request as under `chalice local`."""
    from chalicelib.queue.runtime import get_async
    from chalicelib.runtime import get_runtime

    try:
        get_async(get_runtime())
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
    args = parser.parse_args(argv)
    # chalice local logs the app to stdout at INFO; keep that.
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    server = build_server(args.host, args.port, args.stage, args.quiet)
    start_consumer()
    host, port = server.server.server_address[:2]
    signal.signal(signal.SIGTERM, _stop)
    print(f"Serving on http://{host}:{port}", flush=True)
    try:
        server.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
