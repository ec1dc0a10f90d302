"""`make tour`: docs/tour.md, run. Starts what the tour needs in a temporary folder (the local
API on SQLite, its raw archive on moto's S3 served from this process, and, when Java and
DynamoDB Local are there, the prod stage on DynamoDB Local with its queue on moto's SQS), runs
the tour's command blocks (```sh tour) in order in one bash session, prints each step's output
under its heading, and stops everything. `--serve` starts the same, prints the variables to
export, and waits, for taking the tour by hand in another shell.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import queue
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any

from scripts.demo import PROJECT_DIR, free_port, stop_process, wait_for_health
from scripts.dynamodb_local import (
    CREDENTIALS,
    REGION,
    DynamoDBLocal,
    EmulatorUnavailable,
    install_dir,
    java,
)

TOUR_MD = PROJECT_DIR / "docs" / "tour.md"
ARCHIVE_BUCKET = "txn-stream-prod-archive"  # the bucket .chalice/policy-prod.json names
TABLE = "txn-stream-prod"  # the prod stage's TABLE_NAME
DYNAMODB = "dynamodb"  # what a block marked ```sh tour dynamodb needs
STEP_TIMEOUT_S = 120.0  # one block; a busy 2-core machine starts Python slowly
START_TIMEOUT_S = 120.0
FENCE = re.compile(r"^(`{3,})(.*)$")


@dataclass
class Block:
    """A command block of the tour, the heading it sits under, and the output it shows."""

    heading: str
    command: str
    expected: str | None  # the ```output block that follows it, if any
    needs: frozenset[str]  # e.g. {"dynamodb"}: run only where that stand-in is up
    line: int  # where the command starts in docs/tour.md (1-based)


def parse(text: str) -> list[Block]:
    """The ```sh tour blocks in order, each with the ```... output block following it (before
    the next command block or heading)."""
    blocks: list[Block] = []
    lines = text.splitlines()
    heading, waiting = "", None
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            heading, waiting = line.lstrip("#").strip(), None
        fence = FENCE.match(line)
        if fence:
            marker, words = fence.group(1), fence.group(2).split()
            start, body = i + 1, []
            i += 1
            while i < len(lines) and not lines[i].startswith(marker):
                body.append(lines[i])
                i += 1
            if words[1:2] == ["tour"]:
                waiting = Block(heading, "\n".join(body), None, frozenset(words[2:]), start + 1)
                blocks.append(waiting)
            elif "output" in words and waiting is not None:
                waiting.expected, waiting = "\n".join(body), None
        i += 1
    return blocks


class Shell:
    """One bash session for the whole tour, like a person's terminal: what a step exports is
    there for the next. A step's status is non-zero if any command in it failed."""

    MARK = "__tour_step_done__"

    def __init__(self, env: dict[str, str], cwd: Path = PROJECT_DIR) -> None:
        self.env = {**os.environ, **env}
        self.cwd = cwd
        self.proc: subprocess.Popen[str] | None = None
        self.lines: queue.Queue[str | None] = queue.Queue()

    def __enter__(self) -> Shell:
        self.proc = subprocess.Popen(
            ["bash", "--noprofile", "--norc"], cwd=self.cwd, env=self.env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True)  # its own process group: stopped whole at the end
        threading.Thread(target=self._read, daemon=True).start()
        self._send("set -o pipefail\ntrap 'tour_failed=$?' ERR\n")
        return self

    def __exit__(self, *exc: object) -> None:
        proc = self.proc
        if proc is None:
            return
        with contextlib.suppress(OSError):
            assert proc.stdin is not None
            proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # anything a step left running
        stop_process(proc)

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _send(self, text: str) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(text)
        self.proc.stdin.flush()

    def run(self, command: str, timeout: float = STEP_TIMEOUT_S) -> tuple[str, int]:
        """Run a block (stdin from /dev/null); its output and status (127: the shell died,
        124: timed out)."""
        self._send(f"tour_failed=0\n{{\n{command}\n}} < /dev/null\n"
                   f"printf '\\n%s %s\\n' {self.MARK} \"$tour_failed\"\n")
        out: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return "".join(out) + f"\n(timed out after {timeout:g} s)", 124
            if line is None:
                return "".join(out), 127
            if line.startswith(self.MARK):
                text = "".join(out)
                return text[:-1] if text.endswith("\n") else text, int(line.split()[1])
            out.append(line)


def _launch_server(stage: str, log: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """`scripts.serve_local` on a free port, its stdout (the app's log lines: what CloudWatch
    Logs would hold) appended to `log`; `_server_url` waits for it."""
    with log.open("a", encoding="utf-8") as handle:  # the child keeps its own copy
        return subprocess.Popen(
            [sys.executable, "-m", "scripts.serve_local", "--port", "0", "--quiet", "--stage",
             stage], cwd=PROJECT_DIR, env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
            text=True, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT)


def _server_url(proc: subprocess.Popen[str], log: Path) -> str:
    """The URL a launched server says it serves on, once it has said so."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and proc.poll() is None:
        found = re.search(r"Serving on (http://[\w.\-]+:\d+)", log.read_text(encoding="utf-8"))
        if found:
            return found.group(1).rstrip("/")
        time.sleep(0.05)
    stop_process(proc)
    raise RuntimeError(f"{log.name}: the server did not start:\n{log.read_text(encoding='utf-8')}")


class World:
    """What the tour runs against, in `workdir`: moto's server in this process (S3, SQS), the
    dev stage's API on SQLite archiving to its S3 (no consumer threads: the tour consumes the
    queue itself), and with `dynamodb`, DynamoDB Local (started here, or the one passed in) with
    the prod stage's API on it and its queues on moto's SQS. A context manager: everything it
    started is stopped."""

    def __init__(self, workdir: Path, dynamodb: DynamoDBLocal | bool = True,
                 say: Callable[[str], None] = print) -> None:
        self.workdir = workdir
        self.say = say
        self.ddb: DynamoDBLocal | None = dynamodb if isinstance(dynamodb, DynamoDBLocal) else None
        self.own_ddb = dynamodb is True
        self.skipped: dict[str, str] = {}  # what cannot run here -> why
        self.env: dict[str, str] = {}
        self._servers: list[subprocess.Popen[str]] = []
        self._moto: Any = None

    def __enter__(self) -> World:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start_moto(self) -> dict[str, str]:
        """moto's server in this process, for S3 (the archive's bucket) and SQS (the prod
        stage's queues, made by `_start_prod`)."""
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access line per S3 call
        port = free_port()
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self._moto.start()
        url = f"http://127.0.0.1:{port}"
        env = {"AWS_ENDPOINT_URL_S3": url, "AWS_ENDPOINT_URL_SQS": url,
               "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, **CREDENTIALS}
        self._local_client("s3", url).create_bucket(Bucket=ARCHIVE_BUCKET)
        return env

    @staticmethod
    def _local_client(service: str, endpoint: str) -> Any:
        """A boto3 client of `service` on a local stand-in (never AWS)."""
        import boto3

        session: Any = boto3.session.Session()  # the stubs' per-service overloads add nothing
        return session.client(
            service, endpoint_url=endpoint, region_name=REGION,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"])

    def _dynamodb(self) -> DynamoDBLocal | None:
        """The DynamoDB Local to use (not started yet if it is ours), or None with the reason
        its steps are skipped."""
        if not self.own_ddb:
            if self.ddb is None:
                self.skipped[DYNAMODB] = "DynamoDB Local was not asked for"
            return self.ddb
        try:
            java()
            install_dir()
        except EmulatorUnavailable as exc:  # no java, or `make install` has not run npm
            self.skipped[DYNAMODB] = str(exc)
            return None
        return DynamoDBLocal()

    def start(self) -> None:
        """Start every stand-in and the servers; the processes boot side by side."""
        tour = self.workdir
        (tour / "prod").mkdir(parents=True, exist_ok=True)
        aws = self._start_moto()
        dev_env = {**aws, "SQLITE_PATH": str(tour / "ledger.db"), "ARCHIVE_BUCKET":
                   ARCHIVE_BUCKET, "QUEUE_LOCAL_WORKERS": "0"}
        dev = _launch_server("dev", tour / "dev.log", dev_env)
        self._servers.append(dev)
        self.env = {"TOUR": str(tour), "API": "", "SQLITE_PATH": dev_env["SQLITE_PATH"],
                    "STAGE": "dev", **aws}
        self.ddb = self._dynamodb()
        if self.ddb is not None:
            # the prod stage as deployed: DynamoDB, and SQS (so no consumer threads: on AWS the
            # consumer is a Lambda function; here `scripts.worker` stands in)
            from scripts.provision_queues import provision_queues

            queues = provision_queues(self._local_client("sqs", aws["AWS_ENDPOINT_URL_SQS"]))
            self.env.update({name: queues[name] for name in ("QUEUE_URL",
                                                             "DEAD_LETTER_QUEUE_URL")})
            # its server needs the table only for its first request
            prod = _launch_server("prod", tour / "prod.log", {
                **aws, **self.ddb.env, **queues, "SQLITE_PATH": str(tour / "prod" / "ledger.db"),
                "CURSOR_SECRET": secrets.token_urlsafe(32)})
            self._servers.append(prod)
            if self.own_ddb:
                self.ddb.start()  # from this thread: the JVM dies with the thread starting it
            self._provision(self.ddb)
            url = _server_url(prod, tour / "prod.log")
            wait_for_health(url, START_TIMEOUT_S)
            self.env.update({"DDB_API": url, "AWS_ENDPOINT_URL_DYNAMODB": self.ddb.endpoint})
        self.env["API"] = _server_url(dev, tour / "dev.log")
        wait_for_health(self.env["API"], START_TIMEOUT_S)

    def _provision(self, ddb: DynamoDBLocal) -> None:
        """A fresh `txn-stream-prod` made from the template: the tour shows every item in it."""
        from scripts.provision import provision

        client = self._local_client("dynamodb", ddb.endpoint)
        if TABLE in client.list_tables()["TableNames"]:
            client.delete_table(TableName=TABLE)
        with contextlib.redirect_stderr(io.StringIO()):  # its warning: no PITR locally
            provision(client, TABLE)

    def stop(self) -> None:
        """Stop the servers, the emulator if started here, and moto's S3."""
        for proc in self._servers:
            stop_process(proc)
        self._servers.clear()
        if self.ddb is not None:
            if self.own_ddb:
                self.ddb.stop()
            else:  # an emulator lent by the caller goes back without the tour's table
                with contextlib.suppress(Exception):
                    self._local_client("dynamodb", self.ddb.endpoint).delete_table(
                        TableName=TABLE)
        if self._moto is not None:
            with contextlib.suppress(Exception):
                self._moto.stop()
            self._moto = None

    def exports(self) -> str:
        """The shell lines that point a person's shell at this world."""
        return "export " + " ".join(f"{name}={shlex.quote(value)}"
                                    for name, value in self.env.items())


def run_tour(blocks: list[Block], world: World, out: IO[str] = sys.stdout,
             echo: bool = True) -> list[tuple[Block, str, int | None]]:
    """Every block in order in one shell; what each printed and its status (None: skipped)."""
    results: list[tuple[Block, str, int | None]] = []
    heading = None
    with Shell(world.env) as shell:
        for block in blocks:
            if echo and block.heading != heading:
                heading = block.heading
                out.write(f"\n== {heading} ==\n")
            missing = sorted(block.needs & set(world.skipped))
            if missing:
                why = "; ".join(world.skipped[m] for m in missing)
                results.append((block, "", None))
                if echo:
                    out.write(f"(skipped, needs {', '.join(missing)}: {why})\n")
                continue
            if echo:
                out.write("".join(f"$ {line}\n" for line in block.command.splitlines()))
                out.flush()
            text, status = shell.run(block.command)
            results.append((block, text, status))
            if echo:
                out.write(text + ("\n" if text else ""))
                if status:
                    out.write(f"(exit status {status}: docs/tour.md line {block.line})\n")
                out.flush()
    return results


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the tour (exit 1 if a step failed), or with --serve keep its world up."""
    parser = argparse.ArgumentParser(prog="python -m scripts.tour", description=__doc__)
    parser.add_argument("--serve", action="store_true",
                        help="start the tour's servers, print the exports and wait (Ctrl-C)")
    parser.add_argument("--no-dynamodb", action="store_true",
                        help="skip the steps on DynamoDB Local (faster)")
    args = parser.parse_args(argv)
    began = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="txn-tour-"))
    try:
        with World(workdir, dynamodb=not args.no_dynamodb) as world:
            for need, why in world.skipped.items():
                print(f"the {need} steps will be skipped: {why}")
            if args.serve:
                signal.signal(signal.SIGTERM, _interrupt)
                print("The tour's servers are up (Ctrl-C stops them). In another shell, from"
                      f" {PROJECT_DIR}:\n{world.exports()}", flush=True)
                with contextlib.suppress(KeyboardInterrupt):
                    while True:
                        time.sleep(3600)
                return 0
            print(f"started in {time.monotonic() - began:.1f} s; the tour's files: {workdir}")
            results = run_tour(parse(TOUR_MD.read_text(encoding="utf-8")), world)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    failed = [b for b, _, status in results if status]
    skipped = [b for b, _, status in results if status is None]
    print(f"\ntour: {len(results) - len(skipped)} steps run, {len(skipped)} skipped, "
          f"{len(failed)} failed, in {time.monotonic() - began:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
