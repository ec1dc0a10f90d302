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


def drift(want: Totals, got: Totals, maybe: Totals | None = None) -> list[str]:
    """One line per currency and side where the server's change is outside what we expect:
    exactly `want`, or, with transactions whose outcome is unknown (`maybe`), anywhere from
    `want` to `want + maybe` in both count and total."""
    lines = []
    zero = (0, Decimal(0))
    maybe = maybe or {}
    for key in sorted(set(want) | set(got) | set(maybe)):
        w, g, m = want.get(key, zero), got.get(key, zero), maybe.get(key, zero)
        top = (w[0] + m[0], w[1] + m[1])
        if not (w[0] <= g[0] <= top[0] and w[1] <= g[1] <= top[1]):
            lines.append(f"{key[0]} {key[1]}: expected {_span(w, top)}, "
                         f"the API shows +{g[0]} / +{g[1]:f}")
    return lines


def _span(low: tuple[int, Decimal], high: tuple[int, Decimal]) -> str:
    if low == high:
        return f"+{low[0]} / +{low[1]:f}"
    return f"+{low[0]}..+{high[0]} / +{low[1]:f}..+{high[1]:f}"


def stored_of_unknown(want: Totals, got: Totals) -> int:
    """How many of the unknown transactions the API's movement says were stored."""
    return sum(g[0] for g in got.values()) - sum(w[0] for w in want.values())


def resolve(client: Client, tally: Tally) -> list[str]:
    """Read back each transaction of unknown fate whose request is over (no answer after its
    retries): stored, it counts as accepted with the amount the API holds; not found, it was
    not stored. What stays unknown: answers "duplicate" on first delivery (stored, but maybe
    before this run) and, after Ctrl-C, requests abandoned in flight (they may still commit).
    Returns one line per id that could not be read back."""
    if tally.abandoned:
        return []
    problems = []
    # a queued one whose receipt never settled may still be applied: reading it back now
    # would not settle it, so it stays a range too
    for tx_id in [i for i in tally.unknown if i not in tally.unclaimed | tally.unsettled]:
        try:
            reply = client.request("GET", f"/transactions/{quote(tx_id, safe='')}")
        except GaveUp as exc:
            problems.append(f"cannot read back {tx_id}: {exc}")
            continue
        body = reply.body if isinstance(reply.body, dict) else {}
        if reply.status == 200:
            del tally.unknown[tx_id]
            tally.accepted[tx_id] = Kept(str(body.get("currency")), body.get("type") == "credit",
                                         Decimal(str(body.get("amount"))))
        elif reply.status == 404:
            del tally.unknown[tx_id]
        else:
            problems.append(f"cannot read back {tx_id}: HTTP {reply.status}")
    return problems
