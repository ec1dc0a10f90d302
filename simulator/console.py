"""What a person sees: a live progress bar, the run's summary and the analytics, with rich."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from simulator.runner import Run
from simulator.tally import Tally


def make_console(stderr: bool = False) -> Console:
    """A console; when not a terminal (CI, pipes) wide enough for the tables, not 80 columns."""
    probe = Console(stderr=stderr)
    return probe if probe.is_terminal else Console(stderr=stderr, width=120)


def outcomes(tally: Tally) -> str:
    c = tally.counts
    return (f"[green]{c['created']} created[/] {c['duplicate']} dup "
            f"[yellow]{c['rejected']} rejected[/] [red]{c['conflict'] + c['error']} err[/] "
            f"{c['unknown']} unknown")


def watch(run: Run, total: int | None, console: Console, show: bool) -> None:
    """Refresh a progress bar until the run's threads are done (Ctrl-C propagates)."""
    columns = (SpinnerColumn(), BarColumn(bar_width=20), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]:>8} tx/s"), TextColumn("{task.fields[outcomes]}"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, disable=not show, transient=False) as progress:
        task = progress.add_task("send", total=total, rate="0", outcomes="")
        while True:
            done = not run.alive()
            tally = run.tally
            progress.update(task, completed=tally.sent,
                            rate=f"{tally.sent / max(tally.elapsed, 1e-9):,.0f}",
                            outcomes=outcomes(tally))
            if done:
                return
            time.sleep(0.1)


def summary_table(tally: Tally) -> Table:
    """Sent, each outcome, throughput and latency percentiles."""
    table = Table(title="simulator run", show_header=True, header_style="bold")
    table.add_column("measure")
    table.add_column("value", justify="right")
    c = tally.counts
    rows = [("sent", tally.sent), ("created", c["created"]), ("duplicates", c["duplicate"]),
            ("conflicts", c["conflict"]), ("rejected", c["rejected"]), ("errors", c["error"]),
            ("unknown (maybe stored)", c["unknown"]), ("requests", tally.requests)]
    for name, value in rows:
        table.add_row(name, f"{value:,}")
    table.add_row("tx/s", f"{tally.sent / max(tally.elapsed, 1e-9):,.0f}")
    for label, q in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99)):
        table.add_row(f"latency {label}", f"{tally.latency_ms(q):.1f} ms")
    if tally.completions:  # --async: from the POST until every item of it was done
        for label, q in (("p50", 0.50), ("p95", 0.95)):
            table.add_row(f"done after {label}", f"{tally.latency_ms(q, True):.1f} ms")
    if tally.patterns["sent"]:
        table.add_row("fraud patterns flagged",
                      f"{tally.patterns['flagged']}/{tally.patterns['sent']}")
    table.add_row("unexpected", f"[{'red' if tally.unexpected else 'green'}]"
                                f"{tally.unexpected}[/]")
    return table


def analytics_tables(body: dict[str, Any]) -> list[Table]:
    """GET /analytics as tables: totals per currency, then flags by rule."""
    totals = Table(title=f"analytics: {body.get('count', 0):,} transactions, "
                         f"{body.get('accounts', 0):,} accounts", header_style="bold")
    for name in ("currency", "credits", "credit total", "debits", "debit total", "net",
                 "largest"):
        totals.add_column(name, justify="left" if name == "currency" else "right")
    for currency, t in sorted(body.get("totals", {}).items()):
        largest = t.get("max_transaction") or {}
        totals.add_row(currency, f"{t['credits']['count']:,}",
                       _money(t["credits"]["total"]), f"{t['debits']['count']:,}",
                       _money(t["debits"]["total"]), _money(t["net"]),
                       _money(largest.get("amount", "0")))
    flags = body.get("flags", {})
    by_rule = Table(title=f"flags: {flags.get('count', 0):,} flagged transactions",
                    header_style="bold")
    by_rule.add_column("rule")
    by_rule.add_column("transactions", justify="right")
    for rule, n in sorted(flags.get("by_rule", {}).items()):
        by_rule.add_row(rule, f"{n:,}")
    return [totals, by_rule]


def _money(text: Any) -> str:
    """A decimal string with thousands separators, digits kept exactly."""
    amount = Decimal(str(text))
    return f"{amount:,f}"
