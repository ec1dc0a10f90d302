"""`python -m scripts.reconcile`: recompute aggregates from the transactions, report drift."""

from __future__ import annotations

import argparse
import functools
import sys

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from chalicelib.bootstrap import open_store
from chalicelib.config import ConfigError, Settings, load_settings
from chalicelib.domain.aggregates import BANK_KEY
from chalicelib.ports.store import StoreError
from chalicelib.usecases.reconcile import (
    find_drift,
    find_history_drift,
    repair,
    repair_history,
)


def main(argv: list[str] | None = None) -> int:
    """Exit 0 when every aggregate matches (or was repaired), 1 on drift, 2 on error."""
    parser = argparse.ArgumentParser(
        prog="python -m scripts.reconcile",
        description="Recompute every aggregate from the stored transactions and compare. The "
                    "store is the one the environment names (STORE, SQLITE_PATH, TABLE_NAME).")
    parser.add_argument("--bank", action="append",
                        help="bank to check (repeatable; default: every bank)")
    parser.add_argument("--repair", action="store_true",
                        help="overwrite drifted aggregates with the recomputed values")
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    failed = False
    try:
        settings = load_settings()
        store = open_store(settings)
        where = _where(settings)
        print(f"checking the {where}")
        banks = args.bank or store.banks()
        drifted = 0
        for bank in banks:
            total = store.get_buckets(bank, [BANK_KEY]).get(BANK_KEY)
            with Progress(TextColumn(f"[bold]{bank}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=console, transient=True) as bar:
                task = bar.add_task("scan", total=total.count if total else None)
                drift = find_drift(store, bank, functools.partial(bar.advance, task))
            histories = find_history_drift(store, bank)
            for item in drift:
                print(f"{bank}: drift {item.describe()}")
            for lost in histories:
                print(f"{bank}: history of {lost.account}: missing {list(lost.missing)},"
                      f" stray {list(lost.stray)}")
            if (drift or histories) and args.repair:
                try:
                    repair(store, bank, drift)
                    repair_history(store, bank, histories)
                except Exception as exc:  # one bank's failure is a line and exit 2, never a
                    # traceback; the other banks are still checked
                    console.print(f"[red]error:[/red] repair of {escape(bank)} failed: "
                                  f"{type(exc).__name__}: {escape(str(exc))}")
                    failed = True
                    continue
                print(f"{bank}: repaired {len(drift)} aggregates and {len(histories)} account"
                      f" histories in the {where}")
            elif not drift and not histories:
                print(f"{bank}: OK in the {where}")
            drifted += 0 if args.repair else len(drift) + len(histories)
    except (ConfigError, StoreError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    return 2 if failed else 1 if drifted else 0


def _where(settings: Settings) -> str:
    """The store checked, as the report names it."""
    if settings.store == "dynamodb":
        return f"dynamodb table {settings.table_name}"
    return f"sqlite {settings.sqlite_path}"


if __name__ == "__main__":
    sys.exit(main())
