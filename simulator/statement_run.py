"""`python -m simulator --format ...`: write the simulated bank's statement file, or send it."""

from __future__ import annotations

import json
import sys

from simulator import statements
from simulator.bank import build_cast
from simulator.options import Options
from simulator.transport import Client, FatalError, GaveUp, parse_url

OK, UNEXPECTED = 0, 1
CONTENT_TYPES = {"mt940": "text/plain"}


def run_statements(opts: Options) -> int:
    """Write the file (`--statement-file`) or POST it; 0 when the answer is the expected one
    (200/202 for a balanced file, 422 for `--unbalanced`)."""
    fmt = str(opts.statement_format)
    cast = build_cast(opts.seed, max(opts.statements, 1), opts.currencies)
    specs = statements.make_specs(cast, opts.seed, opts.statements, opts.count or 1000,
                                  statements.statement_day(opts.start), opts.unbalanced,
                                  pending_every=0 if fmt == "mt940" else 25)
    raw = statements.write(fmt, specs)
    if opts.statement_file:
        statements.emit(raw, opts.statement_file)
        return OK
    try:
        client = Client(parse_url(opts.url), opts.api_key, opts.timeout, opts.retries,
                        bearer_token=opts.bearer_token)
        headers = {"content-type": CONTENT_TYPES.get(fmt, "application/xml")}
        if opts.asynchronous:
            headers["prefer"] = "respond-async"
        reply = client.request("POST", f"/statements?format={statements.FORMATS[fmt]}", raw,
                               headers)
        client.close()
    except (FatalError, GaveUp) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return UNEXPECTED
    body = reply.body if isinstance(reply.body, dict) else {}
    print(json.dumps({"status": reply.status, "location": reply.location,
                      "format": body.get("format"), "summary": body.get("summary"),
                      "accounts": [s.get("account") for s in body.get("statements", [])],
                      "error": body.get("Message")}))
    expected = (422,) if opts.unbalanced else (200, 202)
    return OK if reply.status in expected else UNEXPECTED
