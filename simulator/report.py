"""--output: the run's figures as JSON (money as decimal strings)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from simulator.options import Options
from simulator.tally import Tally


def build(opts: Options, tally: Tally, drift: list[str] | None, status: int) -> dict[str, Any]:
    """Everything a later reader needs to judge the run."""
    settings = asdict(opts)
    settings.pop("api_key")  # never write a secret to a file
    settings.pop("bearer_token")
    settings["start"] = opts.start.isoformat() if opts.start else None
    settings["currencies"] = list(opts.currencies)
    c = tally.counts
    return {
        "options": settings,
        "sent": tally.sent, "created": c["created"], "duplicates": c["duplicate"],
        "conflicts": c["conflict"], "rejected": c["rejected"], "errors": c["error"],
        "unknown": c["unknown"], "abandoned_requests": tally.abandoned,
        "unclaimed_duplicates": len(tally.unclaimed),
        "requests": tally.requests, "seconds": round(tally.elapsed, 3),
        "tx_per_s": round(tally.sent / max(tally.elapsed, 1e-9), 1),
        "latency_ms": {f"p{int(q * 100)}": round(tally.latency_ms(q), 2)
                       for q in (0.5, 0.95, 0.99)},
        "done_latency_ms": {f"p{int(q * 100)}": round(tally.latency_ms(q, True), 2)
                            for q in (0.5, 0.95, 0.99)} if tally.completions else None,
        "flags": dict(sorted(tally.flagged.items())),
        "fraud_patterns": {"sent": tally.patterns["sent"], "flagged": tally.patterns["flagged"],
                           "missed": tally.missed},
        "unexpected": tally.unexpected, "unexpected_samples": tally.samples,
        "verify": None if drift is None else {"ok": not drift, "drift": drift,
                                              "unknown": len(tally.unknown)},
        "exit_status": status,
    }


def write_report(path: str, opts: Options, tally: Tally, drift: list[str] | None,
                 status: int) -> None:
    """Write the report to `path`."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(build(opts, tally, drift, status), f, indent=2)
        f.write("\n")
