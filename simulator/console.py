"""What a person sees: a live progress bar, the run's summary and the analytics, with rich."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
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
    """A console; when not a terminal (CI, pipes) as wide as `COLUMNS` says, else wide enough
    for the tables (120), not rich's 80."""
    probe = Console(stderr=stderr)
    if probe.is_terminal:
        return probe  # rich reads COLUMNS itself, else the terminal's size
    columns = os.environ.get("COLUMNS", "")
    return Console(stderr=stderr, width=int(columns) if columns.isdigit() else 120)


def titled_table(title: str, **options: Any) -> Table:
    """A table at least as wide as its title: rich wraps a title to the table's width, so a
    narrow table would break its title over lines (mid-word where a word does not fit)."""
    return Table(title=title, min_width=len(title), header_style="bold", **options)


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
    """GET /analytics as tables: the totals with one column per currency (so that 80 columns
    hold them whole: a row per currency would cut the amounts short), then flags by rule."""
    totals: dict[str, Any] = body.get("totals", {})
    currencies = sorted(totals)
    table = titled_table(f"analytics: {body.get('count', 0):,} transactions, "
                         f"{body.get('accounts', 0):,} accounts")
    table.add_column("per currency")
    for currency in currencies:
        table.add_column(currency, justify="right")
    rows: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("credits", lambda t: f"{t['credits']['count']:,}"),
        ("credit total", lambda t: _money(t["credits"]["total"])),
        ("debits", lambda t: f"{t['debits']['count']:,}"),
        ("debit total", lambda t: _money(t["debits"]["total"])),
        ("net", lambda t: _money(t["net"])),
        ("largest", lambda t: _money((t.get("max_transaction") or {}).get("amount", "0"))),
    ]
    for name, cell in rows:
        table.add_row(name, *(cell(totals[currency]) for currency in currencies))
    flags = body.get("flags", {})
    by_rule = titled_table(f"flags: {flags.get('count', 0):,} flagged transactions")
    by_rule.add_column("rule")
    by_rule.add_column("transactions", justify="right")
    for rule, n in sorted(flags.get("by_rule", {}).items(), key=lambda kv: (-kv[1], kv[0])):
        by_rule.add_row(rule, f"{n:,}")
    return [table, by_rule]


def _money(text: Any) -> str:
    """A decimal string with thousands separators, digits kept exactly."""
    amount = Decimal(str(text))
    return f"{amount:,f}"
