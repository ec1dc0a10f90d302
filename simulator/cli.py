"""`python -m simulator`: generate, send (or print), watch, summarise, verify, report."""

from __future__ import annotations

import json
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

from simulator import console, options, preflight, runner, verify
from simulator.bank import build_cast
from simulator.generator import Generator, Mix, take
from simulator.options import Options
from simulator.plan import Group
from simulator.report import write_report
from simulator.transport import Client, FatalError, parse_url
from simulator.wire import units

OK, UNEXPECTED, USAGE, INTERRUPTED = 0, 1, 2, 130


def stream(opts: Options, start: datetime) -> Iterator[Group]:
    """The run's groups of transactions (bounded by --count if given)."""
    cast = build_cast(opts.seed, opts.accounts, opts.currencies)
    mix = Mix(opts.scenario, opts.invalid_rate, opts.duplicate_rate)
    # A pinned --start keeps the whole stream a pure function of the seed; otherwise the
    # timestamp cap follows the real clock so a long run never gets ahead of the API.
    live = None if opts.start else (lambda: datetime.now(UTC))
    groups = Generator(cast, opts.seed, start, mix, live).groups()
    return take(groups, opts.count) if opts.count else groups


def dry_run(opts: Options, start: datetime) -> int:
    """JSON lines on stdout, exactly the transactions a real run would send."""
    if opts.count is None:
        print("error: --dry-run needs --count", file=sys.stderr)
        return USAGE
    out = sys.stdout
    for group in stream(opts, start):
        for item in group:
            out.write(json.dumps(item.raw, ensure_ascii=False) + "\n")
    out.flush()
    return OK


def main(argv: list[str] | None = None) -> int:
    """Run the simulator; the exit status says whether everything went as expected."""
    opts = options.parse(argv, secrets.randbelow(2 ** 31))
    start = opts.start or datetime.now(UTC)
    if opts.dry_run:
        return dry_run(opts, start)
    out, err = console.make_console(), console.make_console(stderr=True)
    try:
        endpoint = parse_url(opts.url)
        before = preflight.check(endpoint, opts.api_key, opts.timeout, opts.bearer_token)
    except FatalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE
    size = f"{opts.count:,} transactions" if opts.count else f"for {opts.duration:g} s"
    err.print(f"sending {size} to {endpoint.url} (seed {opts.seed}, scenario {opts.scenario}, "
              f"batch {opts.batch_size}, concurrency {opts.concurrency}"
              f"{f', {opts.rate:g} tx/s' if opts.rate else ''}"
              f"{', asynchronous' if opts.asynchronous else ''})", highlight=False)

    def make_client(stop: threading.Event) -> Client:
        return Client(endpoint, opts.api_key, opts.timeout, opts.retries, stop,
                      bearer_token=opts.bearer_token)

    run = runner.start(units(stream(opts, start), opts.batch_size), make_client,
                       opts.concurrency, opts.rate, opts.duration, opts.asynchronous,
                       opts.poll_timeout)
    interrupted = False
    try:
        console.watch(run, opts.count, err, opts.progress)
    except KeyboardInterrupt:
        interrupted = True
        run.stop.set()
        err.print("interrupted: finishing requests in flight ...")
        run.join(opts.timeout + 5)
    run.tally.finished = time.perf_counter()
    out.print(console.summary_table(run.tally))
    drift: list[str] | None = None
    if opts.verify and not run.fatal:
        reader = Client(endpoint, opts.api_key, opts.timeout, 2,
                        bearer_token=opts.bearer_token)
        try:
            after = preflight.analytics(reader)
        except FatalError as exc:
            drift = [f"cannot verify: {exc}"]
        else:
            unresolved = verify.resolve(reader, run.tally)
            drift = unresolved + verify.drift(
                verify.expected(run.tally.accepted.values()),
                verify.change(verify.snapshot(before), verify.snapshot(after)))
        finally:
            reader.close()
        out.print("verify: [green]OK[/], analytics moved exactly by what was accepted"
                  if not drift else "verify: [red]DRIFT[/]\n  " + "\n  ".join(drift))
    for sample in run.tally.samples:
        err.print(f"unexpected: {sample}", highlight=False, markup=False)
    if run.fatal:
        print(f"error: {run.fatal}", file=sys.stderr)
    status = (INTERRUPTED if interrupted else USAGE if run.fatal
              else UNEXPECTED if run.tally.unexpected or drift else OK)
    if opts.output:
        write_report(opts.output, opts, run.tally, drift, status)
    return status
