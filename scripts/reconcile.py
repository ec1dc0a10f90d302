"""`python -m scripts.reconcile`: recompute aggregates from the transactions, report drift."""

from __future__ import annotations

import argparse
import functools
import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from chalicelib.bootstrap import open_store
from chalicelib.config import ConfigError, load_settings
from chalicelib.domain.aggregates import BANK_KEY
from chalicelib.ports.store import StoreError
from chalicelib.usecases.reconcile import find_drift, repair


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
    try:
        store = open_store(load_settings())
        banks = args.bank or store.banks()
        drifted = 0
        for bank in banks:
            total = store.get_buckets(bank, [BANK_KEY]).get(BANK_KEY)
            with Progress(TextColumn(f"[bold]{bank}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=console, transient=True) as bar:
                task = bar.add_task("scan", total=total.count if total else None)
                drift = find_drift(store, bank, functools.partial(bar.advance, task))
            for item in drift:
                print(f"{bank}: drift {item.describe()}")
            if drift and args.repair:
                repair(store, bank, drift)
                print(f"{bank}: repaired {len(drift)} aggregates")
            elif not drift:
                print(f"{bank}: OK")
            drifted += 0 if args.repair else len(drift)
    except (ConfigError, StoreError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    return 1 if drifted else 0


if __name__ == "__main__":
    sys.exit(main())
