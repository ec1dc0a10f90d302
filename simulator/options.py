"""Command-line options of `python -m simulator`, parsed into one immutable value."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from datetime import datetime

from simulator.fraud import PATTERNS
from simulator.money import DEFAULT_CURRENCIES, MINOR_DIGITS

DEFAULT_URL = "http://127.0.0.1:8000"  # where `chalice local` / `make serve` listen
DEV_KEY = "demo-key-change-me"  # the dev stage's documented demo bank key
KEY_ENV = "TXN_API_KEY"
TOKEN_ENV = "TXN_BEARER_TOKEN"
MAX_HISTORY_H = 366 * 24  # --history: a year of the past at most


@dataclass(frozen=True)
class Options:
    """Everything a run needs."""

    url: str = DEFAULT_URL
    api_key: str = DEV_KEY
    bearer_token: str | None = None  # sent instead of the key when given
    count: int | None = 1000
    duration: float | None = None
    rate: float | None = None
    concurrency: int = 4
    batch_size: int = 1
    accounts: int = 2000
    seed: int = 0
    start: datetime | None = None
    history: float | None = None  # hours: spread the run over the past, ending now
    invalid_rate: float = 0.02
    duplicate_rate: float = 0.02
    scenario: str = "normal"
    currencies: tuple[str, ...] = DEFAULT_CURRENCIES
    dry_run: bool = False
    verify: bool = False
    output: str | None = None
    retries: int = 6
    timeout: float = 30.0
    progress: bool = True
    asynchronous: bool = False
    poll_timeout: float = 300.0
    statement_format: str | None = None  # write statement files instead of JSON transactions
    statement_file: str | None = None  # where to write them (`-`: stdout); else POST them
    statements: int = 1
    unbalanced: bool = False


def _fraction(text: str) -> float:
    value = float(text)  # a probability, not money
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def _token_file(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            token = handle.read().strip()
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read {path}: {exc.strerror}") from exc
    if not token:
        raise argparse.ArgumentTypeError(f"{path} is empty")
    return token


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _batch(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 500:
        raise argparse.ArgumentTypeError("must be 1 to 500 (the API's largest batch)")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _currencies(text: str) -> tuple[str, ...]:
    codes = tuple(c.strip().upper() for c in text.split(",") if c.strip())
    unknown = [c for c in codes if c not in MINOR_DIGITS]
    if not codes or unknown:
        raise argparse.ArgumentTypeError(f"choose from {','.join(sorted(MINOR_DIGITS))}")
    return codes


def _start(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("needs a timezone, e.g. 2026-01-10T14:00:00Z")
    return moment


def _hours(text: str) -> float:
    value = float(text)  # a span of time, not money
    if not 0 < value <= MAX_HISTORY_H:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most {MAX_HISTORY_H}")
    return value


def parser() -> argparse.ArgumentParser:
    """The argument parser (its --help is the simulator's manual)."""
    p = argparse.ArgumentParser(
        prog="python -m simulator",
        description="A Faker bank: streams realistic transactions to the txn-stream API "
                    "(POST /transactions), checks every answer, and reports what happened.",
        epilog="Examples:\n"
               "  python -m simulator --count 5000 --batch-size 100 --verify\n"
               "  python -m simulator --duration 60 --rate 200 --scenario fraud\n"
               "  python -m simulator --dry-run --count 5 --seed 7\n"
               "  python -m simulator --count 5000 --history 72 --scenario fraud\n"
               "  python -m simulator --async --count 3000 --batch-size 50 --verify\n"
               "Exit status: 0 all as expected; 1 something unexpected (a valid transaction "
               "rejected, an invalid one accepted, transport errors after retries, verify "
               "drift); 2 usage or connection error; 130 interrupted.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default=DEFAULT_URL, help=f"API base URL (default {DEFAULT_URL})")
    p.add_argument("--api-key", default=os.environ.get(KEY_ENV) or DEV_KEY,
                   help=f"the bank's key, sent as x-api-key (default: ${KEY_ENV}, else the dev "
                        "stage's demo key)")
    token = p.add_mutually_exclusive_group()
    token.add_argument("--bearer-token", default=os.environ.get(TOKEN_ENV) or None,
                       metavar="JWT", help="a Cognito access token, sent as Authorization: "
                       f"Bearer instead of the key (default: ${TOKEN_ENV})")
    token.add_argument("--bearer-token-file", type=_token_file, metavar="PATH",
                       help="read the access token from a file (keeps it out of `ps`)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--count", type=_positive_int, help="transactions to send (default 1000)")
    size.add_argument("--duration", type=_positive, help="send for this many seconds instead")
    p.add_argument("--rate", type=_positive, help="steady rate in transactions/s "
                                                  "(token bucket; default: as fast as possible)")
    p.add_argument("--concurrency", type=_positive_int, default=4,
                   help="requests in flight (default 4)")
    p.add_argument("--batch-size", type=_batch, default=1, metavar="1-500",
                   help="transactions per request; 1 sends each on its own (default 1)")
    p.add_argument("--accounts", type=_positive_int, default=2000,
                   help="size of the account pool (default 2000)")
    p.add_argument("--seed", type=int, help="makes the data reproducible (default: random, "
                                            "printed)")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--start", type=_start, help="first timestamp (default now); with --seed "
                                                   "it pins ids and timestamps too")
    when.add_argument("--history", type=_hours, metavar="HOURS",
                      help="backdate the run: spread its --count transactions over the last "
                           "HOURS hours, busier by day than by night (UTC), all before now")
    p.add_argument("--invalid-rate", type=_fraction, default=0.02,
                   help="share of deliberately invalid transactions (default 0.02)")
    p.add_argument("--duplicate-rate", type=_fraction, default=0.02,
                   help="share of identical replays of earlier ones (default 0.02)")
    p.add_argument("--scenario", choices=("normal", "fraud"), default="normal",
                   help=f"'fraud' injects patterns tripping each rule: {', '.join(PATTERNS)}")
    p.add_argument("--currencies", type=_currencies, default=DEFAULT_CURRENCIES,
                   help=f"currencies of the accounts (default {','.join(DEFAULT_CURRENCIES)})")
    p.add_argument("--dry-run", action="store_true",
                   help="print the transactions as JSON lines on stdout; send nothing")
    p.add_argument("--verify", action="store_true",
                   help="compare GET /analytics before and after with what was accepted")
    p.add_argument("--output", metavar="REPORT.json", help="write the run's report as JSON")
    p.add_argument("--retries", type=int, default=6,
                   help="retries of a request on 429, 5xx or connection errors (default 6)")
    p.add_argument("--timeout", type=_positive, default=30.0,
                   help="seconds to wait for an answer (default 30)")
    p.add_argument("--async", dest="asynchronous", action="store_true",
                   help="send with 'Prefer: respond-async': the API queues the items (202) and "
                        "the simulator polls each Location until every item is done")
    p.add_argument("--poll-timeout", type=_positive, default=300.0,
                   help="--async: seconds a receipt may stay pending before its items count as "
                        "errors (default 300)")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no live progress bar")
    files = p.add_argument_group("statement files (POST /statements)")
    files.add_argument("--format", dest="statement_format",
                       choices=("mt940", "camt053", "camt052", "camt054"),
                       help="write one statement file in this format instead of sending JSON "
                            "transactions; --count is the entries per statement")
    files.add_argument("--statement-file", metavar="PATH",
                       help="write the file there (`-`: stdout) instead of sending it")
    files.add_argument("--statements", type=_positive_int, default=1,
                       help="statements in the file (default 1), each on its own account")
    files.add_argument("--unbalanced", action="store_true",
                       help="closing balances one minor unit off: the API must answer 422")
    return p


def parse(argv: list[str] | None, random_seed: int) -> Options:
    """Options from `argv`; `random_seed` is used when --seed is not given."""
    ns = parser().parse_args(argv)
    invalid_and_dup = ns.invalid_rate + ns.duplicate_rate
    if invalid_and_dup > 1:
        parser().error("--invalid-rate plus --duplicate-rate must not exceed 1")
    if ns.history and ns.duration:
        parser().error("--history spreads a --count of transactions, not a --duration")
    return Options(url=ns.url.rstrip("/"), api_key=ns.api_key,
                   bearer_token=ns.bearer_token_file or ns.bearer_token,
                   count=None if ns.duration else (ns.count or 1000), duration=ns.duration,
                   rate=ns.rate, concurrency=ns.concurrency, batch_size=ns.batch_size,
                   accounts=ns.accounts, seed=random_seed if ns.seed is None else ns.seed,
                   start=ns.start, history=ns.history, invalid_rate=ns.invalid_rate,
                   duplicate_rate=ns.duplicate_rate, scenario=ns.scenario,
                   currencies=ns.currencies, dry_run=ns.dry_run, verify=ns.verify,
                   output=ns.output, retries=ns.retries, timeout=ns.timeout,
                   progress=ns.progress, asynchronous=ns.asynchronous,
                   poll_timeout=ns.poll_timeout, statement_format=ns.statement_format,
                   statement_file=ns.statement_file, statements=ns.statements,
                   unbalanced=ns.unbalanced)
