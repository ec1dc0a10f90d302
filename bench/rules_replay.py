"""How long POST /rules/replay takes on DynamoDB Local: `python -m bench.rules_replay [N ...]`.

Seeds a fresh table with N transactions of one bank in a 30-day window (BatchWriteItem of the
items ingest writes, flags included: seeding through ingest would take minutes), then times the
replay use case over that window with a 10-rule candidate set, split into the read (the
parallel scan) and the evaluation, with the replay's CPU time in this process (on a shared
machine the wall time also counts waiting for a core). Prints seconds per size and the linear
extrapolation to 100,000 transactions against API Gateway's 29 s. DynamoDB Local is not
DynamoDB: the scan's speed here is the emulator's (a JVM over SQLite on this machine), so the
figure is a local measure, not a promise about AWS.

The read is also timed against its baseline in the same run: whole items parsed by botocore
and decoded by the codec (what the replay read before it asked for a projection and took the
pages as sent), through a client of its own without the raw-pages hook, interleaved with the
read as it is (`read x`: baseline seconds / current seconds, wall and CPU).
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from chalicelib.adapters.dynamo import dynamo_codec as codec
from chalicelib.adapters.dynamo import dynamo_table as t
from chalicelib.adapters.dynamo.dynamo_store import DynamoStore
from chalicelib.domain.model import Transaction
from chalicelib.domain.rule_sets import default_rule_set, evaluate_set, remember
from chalicelib.domain.rules import AccountState, RuleConfig
from chalicelib.usecases import rules_admin as rule_sets
from scripts.dynamodb_local import CREDENTIALS, REGION, DynamoDBLocal
from scripts.provision import create_table_request

BANK = "bench"
START = datetime(2026, 1, 1, tzinfo=UTC)
CANDIDATE = [
    {"name": "big", "builtin": "large_amount", "params": {"amount": "5000"}},
    {"name": "unusual", "builtin": "unusual_amount", "params": {"z": "3", "min_history": 10}},
    {"name": "burst", "builtin": "velocity", "params": {"count": 5, "window_s": 600}},
    {"name": "round", "builtin": "round_amount"},
    {"name": "structuring", "builtin": "structuring"},
    {"name": "rapid", "builtin": "rapid_in_out"},
    {"name": "night_wire", "when": 'channel == "wire" and (hour < 6 or hour >= 22)'},
    {"name": "weekend", "when": "weekday >= 5 and amount > 2000"},
    {"name": "busy", "when": "count_24h > 20 and sum_24h > 10000"},
    {"name": "odd", "when": "zscore > 4 and history > 20"},
]


def transactions(n: int) -> list[Transaction]:
    """n transactions over 30 days and n // 20 accounts, flagged by the default set."""
    accounts = max(1, n // 20)
    step = timedelta(days=30) / n
    rules = default_rule_set(RuleConfig())
    states: dict[str, AccountState] = {}
    out = []
    for i in range(n):
        account = f"AC{i % accounts:05d}"
        amount = Decimal(f"{(i * 7919) % 3000 + 1}.{i % 100:02d}")
        if i % 97 == 0:
            amount = Decimal(f"{12000 + i % 5000}.00")
        tx = Transaction(f"t{i:07d}", account, amount, "USD", "debit" if i % 3 else "credit",
                         START + step * i, channel="wire" if i % 11 == 0 else "card")
        state = states.get(account, AccountState())
        outcome = evaluate_set(tx, state, rules)
        tx = tx.with_flags(outcome.flags, outcome.details)
        states[account] = remember(state, tx, rules)
        out.append(tx)
    return out


def seed(store: DynamoStore, txs: list[Transaction]) -> float:
    started = time.perf_counter()
    store.db.batch_write([{"PutRequest": {"Item": codec.to_wire(codec.tx_item(BANK, t))}}
                          for t in txs])
    return time.perf_counter() - started


def baseline_read(store: DynamoStore, client: Any) -> int:
    """The window read as before: whole items, botocore's parse, the codec's decode."""
    table = t.DynamoTable(store.table, client)
    items = table.scan_segments(
        8, FilterExpression="begins_with(pk, :p) AND g1sk BETWEEN :a AND :b",
        ExpressionAttributeValues={":p": {"S": t.tx_prefixes(BANK)[0]},
                                   ":a": {"S": "2025"}, ":b": {"S": "2027"}})
    return sum(1 for w in items if codec.tx_from(codec.from_wire(w)) is not None)


def timed(fn: Any) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def read_ratio(store: DynamoStore, plain: Any, runs: int = 3) -> tuple[float, float]:
    """Median of baseline/current over interleaved runs, for wall and CPU time."""
    import statistics

    wall, cpu = [], []
    for _ in range(runs):
        old = timed(lambda: baseline_read(store, plain))
        new = timed(lambda: sum(1 for _ in store.transactions_between(BANK, "2025", "2027")))
        wall.append(old[0] / new[0])
        cpu.append(old[1] / new[1])
    return statistics.median(wall), statistics.median(cpu)


def measure(client: Any, n: int, plain: Any) -> dict[str, float]:
    table = f"bench-replay-{n}"
    client.create_table(**create_table_request(table))
    try:
        store = DynamoStore(table, client=client)
        seeded = seed(store, transactions(n))
        body = {"since": "2026-01-01T00:00:00Z", "until": "2026-01-31T00:00:00Z",
                "rules": CANDIDATE}
        started = time.perf_counter()
        read = sum(1 for _ in store.transactions_between(BANK, "2025", "2027"))
        read_s = time.perf_counter() - started
        started, cpu = time.perf_counter(), time.process_time()
        # no budget here: the figure is how long the whole replay takes, however long
        answer = rule_sets.replay(store, BANK, body, RuleConfig(),
                                  default_rule_set(RuleConfig()), unbounded=True)
        total_s, cpu_s = time.perf_counter() - started, time.process_time() - cpu
        assert read == n and answer["transactions"] == n, (read, answer["transactions"])
        assert baseline_read(store, plain) == n
        ratio_wall, ratio_cpu = read_ratio(store, plain)
        return {"n": n, "seed_s": seeded, "scan_s": read_s, "replay_s": total_s,
                "cpu_s": cpu_s, "added": answer["added"]["count"],
                "removed": answer["removed"]["count"], "x_wall": ratio_wall,
                "x_cpu": ratio_cpu}
    finally:
        client.delete_table(TableName=table)


def main(argv: list[str]) -> None:
    import boto3

    sizes = [int(a) for a in argv] or [2_000, 5_000, 10_000]
    with DynamoDBLocal() as emulator:
        def make() -> Any:
            return boto3.client("dynamodb", endpoint_url=emulator.endpoint, region_name=REGION,
                                aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                                aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
        client, plain = make(), make()  # `plain` never gets the raw-pages hook
        rows = [measure(client, n, plain) for n in sizes]
    print(f"{'n':>8} {'seed s':>8} {'scan s':>8} {'replay s':>9} {'cpu s':>6} {'us/tx':>7} "
          "added removed  read x (wall, cpu)")
    for r in rows:
        print(f"{r['n']:>8} {r['seed_s']:>8.2f} {r['scan_s']:>8.2f} {r['replay_s']:>9.2f} "
              f"{r['cpu_s']:>6.2f} {r['replay_s'] / r['n'] * 1e6:>7.0f} {r['added']:>5} "
              f"{r['removed']:>7}  {r['x_wall']:.2f}, {r['x_cpu']:.2f}")
    print("(cpu s: this process's CPU time in the replay; the rest of its time is the "
          "emulator's, or waiting for a core on a busy machine)")
    largest = rows[-1]
    per_tx = largest["replay_s"] / largest["n"]
    projected = per_tx * 100_000
    print(f"extrapolated to 100,000 transactions: {projected:.1f} s "
          f"({'fits' if projected < 29 else 'does NOT fit'} API Gateway's 29 s)")


if __name__ == "__main__":
    main(sys.argv[1:])
