"""`python -m simulator`: generate, send (or print), watch, summarise, verify, report."""

from __future__ import annotations

import json
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console

from simulator import console, options, preflight, runner, verify
from simulator.bank import build_cast
from simulator.generator import Generator, Mix, take
from simulator.options import Options
from simulator.pace import Spread
from simulator.plan import Group
from simulator.report import write_report
from simulator.tally import Tally
from simulator.transport import Client, Endpoint, FatalError, parse_url
from simulator.wire import units

OK, UNEXPECTED, USAGE, INTERRUPTED = 0, 1, 2, 130
# After Ctrl-C, how long answers already on their way may still arrive: a person expects the
# summary at once, so what is still in flight after this is abandoned and counted unknown.
GRACE_S = 1.0


def stream(opts: Options, start: datetime) -> Iterator[Group]:
    """The run's groups of transactions (bounded by --count if given)."""
    cast = build_cast(opts.seed, opts.accounts, opts.currencies)
    # A steady --rate paces simulated time like real time; else 20 transactions a second.
    gap = 1 / opts.rate if opts.rate and not opts.start else Mix.gap_s
    mix = Mix(opts.scenario, opts.invalid_rate, opts.duplicate_rate, gap)
    if opts.start:
        # A pinned --start keeps the whole stream a pure function of the seed.
        generator = Generator(cast, opts.seed, start, mix)
    else:
        # Live: the cap is the real clock, so no transaction is ever stamped in the future;
        # --history spreads the run over the hours before `start` (now) instead.
        spread = (Spread(start - timedelta(hours=opts.history), start, opts.count or 1)
                  if opts.history else None)
        generator = Generator(cast, opts.seed, start, mix, lambda: datetime.now(UTC),
                              timedelta(0), spread)
    groups = generator.groups()
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


def check(opts: Options, endpoint: Endpoint, before: dict[str, Any], tally: Tally,
          out: Console) -> list[str]:
    """--verify: GET /analytics again; its movement must be what was accepted, plus anywhere
    from none to all of the transactions whose outcome is unknown. Prints the verdict."""
    reader = Client(endpoint, opts.api_key, opts.timeout, 2, bearer_token=opts.bearer_token)
    try:
        after = preflight.analytics(reader)
        unresolved = verify.resolve(reader, tally)  # read back what can be settled exactly
    except FatalError as exc:
        drift = [f"cannot verify: {exc}"]
    else:
        want = verify.expected(tally.accepted.values())
        got = verify.change(verify.snapshot(before), verify.snapshot(after))
        drift = unresolved + verify.drift(want, got, verify.expected(tally.unknown.values()))
    finally:
        reader.close()
    if drift:
        out.print("verify: [red]DRIFT[/]\n  " + "\n  ".join(drift), soft_wrap=True)
    elif tally.unknown:
        why = f"; {len(tally.unclaimed)} answered duplicate on first delivery" if tally.unclaimed \
            else ""
        out.print(f"verify: [green]OK[/], analytics moved by what was accepted plus "
                  f"{verify.stored_of_unknown(want, got)} of the {len(tally.unknown)} "
                  f"transaction(s) whose outcome was unknown{why}", highlight=False, soft_wrap=True)
    else:
        out.print("verify: [green]OK[/], analytics moved exactly by what was accepted")
    return drift


def main(argv: list[str] | None = None) -> int:
    """Run the simulator; the exit status says whether everything went as expected."""
    opts = options.parse(argv, secrets.randbelow(2 ** 31))
    start = opts.start or datetime.now(UTC)
    if opts.statement_format:
        from simulator.statement_run import run_statements

        return run_statements(opts)
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
        run.join(GRACE_S)
        abandoned = run.tally.abandon()
        err.print(f"interrupted: {abandoned} request(s) in flight abandoned, their outcome "
                  "unknown (maybe stored)", highlight=False)
    run.tally.finished = time.perf_counter()
    out.print(console.summary_table(run.tally))
    drift: list[str] | None = None
    if opts.verify and not run.fatal:
        drift = check(opts, endpoint, before, run.tally, out)
    for sample in run.tally.samples:
        err.print(f"unexpected: {sample}", highlight=False, markup=False)
    if run.fatal:
        print(f"error: {run.fatal}", file=sys.stderr)
    status = (INTERRUPTED if interrupted else USAGE if run.fatal
              else UNEXPECTED if run.tally.unexpected or drift else OK)
    if opts.output:
        write_report(opts.output, opts, run.tally, drift, status)
    return status
