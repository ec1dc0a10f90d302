"""--verify: the change in GET /analytics must equal, to the cent, what this run got accepted."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from simulator.tally import Kept, Tally
from simulator.transport import Client, GaveUp

SIDES = ("credits", "debits")
Totals = dict[tuple[str, str], tuple[int, Decimal]]  # (currency, side) -> (count, total)


def snapshot(analytics: Any) -> Totals:
    """Per currency and side, count and total from a GET /analytics body (strings -> Decimal)."""
    found: Totals = {}
    totals = analytics.get("totals", {}) if isinstance(analytics, dict) else {}
    for currency, per in totals.items():
        for side in SIDES:
            entry = per.get(side) or {}
            found[(currency, side)] = (int(entry.get("count", 0)),
                                       Decimal(str(entry.get("total", "0"))))
    return found


def change(before: Totals, after: Totals) -> Totals:
    """after - before, key by key."""
    keys = set(before) | set(after)
    zero = (0, Decimal(0))
    return {k: (after.get(k, zero)[0] - before.get(k, zero)[0],
                after.get(k, zero)[1] - before.get(k, zero)[1]) for k in keys}


def expected(accepted: Iterable[Kept]) -> Totals:
    """What the accepted transactions add up to."""
    sums: Totals = {}
    for kept in accepted:
        key = (kept.currency, "credits" if kept.credit else "debits")
        count, total = sums.get(key, (0, Decimal(0)))
        sums[key] = (count + 1, total + kept.amount)
    return sums


def drift(want: Totals, got: Totals) -> list[str]:
    """One line per currency and side where the server's change differs from ours."""
    lines = []
    zero = (0, Decimal(0))
    for key in sorted(set(want) | set(got)):
        w, g = want.get(key, zero), got.get(key, zero)
        if w[0] != g[0] or w[1] != g[1]:
            lines.append(f"{key[0]} {key[1]}: expected +{w[0]} / +{w[1]:f}, "
                         f"the API shows +{g[0]} / +{g[1]:f}")
    return lines


def resolve(client: Client, tally: Tally) -> list[str]:
    """Read back each transaction of unknown fate (its request gave up after an attempt that
    may have been stored): a stored one counts as accepted, with the amount the API holds.
    Returns one line per id that could not be read back."""
    problems = []
    for item in tally.unknown:
        if item.id in tally.accepted:
            continue
        try:
            reply = client.request("GET", f"/transactions/{quote(item.id, safe='')}")
        except GaveUp as exc:
            problems.append(f"cannot read back {item.id}: {exc}")
            continue
        body = reply.body if isinstance(reply.body, dict) else {}
        if reply.status == 200:
            tally.accepted[item.id] = Kept(str(body.get("currency")),
                                           body.get("type") == "credit",
                                           Decimal(str(body.get("amount"))))
        elif reply.status != 404:
            problems.append(f"cannot read back {item.id}: HTTP {reply.status}")
    return problems
