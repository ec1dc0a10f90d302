"""Compare what a command printed with the sample output a document shows, in shape.

Both are cut into chunks: a JSON value (one line or an indented block) or a line of text;
blank lines do not count. A JSON value matches when it has the same keys, the same list
lengths and the same types all the way down, and equal values, except what differs between
runs: in the sample, `…` stands for anything (a bare `…` for any value, inside a string or a
line for any characters), and times (RFC 3339), UUIDs and long hex digests (request ids, key
hashes) match any other of the same form. A text line matches the same way.
"""

from __future__ import annotations

import json
import re
from typing import Any

ANY = "…"
# Forms that change from run to run even when nothing is wrong: compared by form, not value.
VARYING = re.compile(
    r"(?P<any>…)"
    r"|(?P<time>\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}[.\d]*)?(?:Z|[+-]\d{2}:?\d{2})?)?)"
    r"|(?P<hex>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\b[0-9a-f]{32,}\b)")
MAX_JSON_LINES = 400


def pattern(sample: str) -> re.Pattern[str]:
    """The regular expression a sample string or line stands for."""
    parts: list[str] = []
    pos = 0
    for match in VARYING.finditer(sample):
        parts.append(re.escape(sample[pos:match.start()]))
        found = match.group(0)
        if match.lastgroup == "any":
            parts.append(".*?")
        elif match.lastgroup == "time":  # any digits in the same layout
            parts.append(re.sub(r"\d+", r"\\d+", re.escape(found)))
        else:
            parts.append(re.sub(r"[0-9a-f]", "[0-9a-f]", found))
        pos = match.end()
    parts.append(re.escape(sample[pos:]))
    return re.compile("".join(parts), re.DOTALL)


def _quote_bare_any(text: str) -> str:
    """`…` where a JSON value goes becomes the string "…", so the sample parses."""
    out: list[str] = []
    in_string = escaped = False
    for char in text:
        if in_string:
            escaped = not escaped and char == "\\"
            in_string = escaped or char != '"'
        elif char == '"':
            in_string = True
        elif char == ANY:
            out.append(f'"{ANY}"')
            continue
        out.append(char)
    return "".join(out)


def chunks(text: str) -> list[tuple[str, Any]]:
    """("json", value) and ("text", line) in order; blank lines left out."""
    lines = [line.rstrip("\r") for line in text.splitlines()]
    found: list[tuple[str, Any]] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if line.lstrip()[:1] in ("{", "["):
            for j in range(i, min(len(lines), i + MAX_JSON_LINES)):
                try:
                    value = json.loads(_quote_bare_any("\n".join(lines[i:j + 1])))
                except ValueError:
                    continue
                found.append(("json", value))
                i = j + 1
                break
            else:
                found.append(("text", line))
                i += 1
            continue
        found.append(("text", line))
        i += 1
    return found


def _value_differences(sample: Any, actual: Any, where: str) -> list[str]:
    if sample == ANY:
        return []
    if isinstance(sample, dict):
        if not isinstance(actual, dict):
            return [f"{where}: an object in the sample, {actual!r} printed"]
        if sample.keys() != actual.keys():
            return [f"{where}: keys {sorted(sample)} in the sample, {sorted(actual)} printed"]
        return [d for k in sample for d in _value_differences(sample[k], actual[k],
                                                               f"{where}.{k}")]
    if isinstance(sample, list):
        if not isinstance(actual, list) or len(sample) != len(actual):
            return [f"{where}: {len(sample)} items in the sample, {actual!r} printed"]
        return [d for n, (s, a) in enumerate(zip(sample, actual, strict=True))
                for d in _value_differences(s, a, f"{where}[{n}]")]
    if isinstance(sample, str):
        if isinstance(actual, str) and pattern(sample).fullmatch(actual):
            return []
        return [f"{where}: {sample!r} in the sample, {actual!r} printed"]
    if type(sample) is not type(actual) or sample != actual:
        return [f"{where}: {sample!r} in the sample, {actual!r} printed"]
    return []


def differences(sample: str, printed: str) -> list[str]:
    """How `printed` differs from the sample in shape; empty when it matches."""
    want, got = chunks(sample), chunks(printed)
    problems: list[str] = []
    for n, ((kind, value), (got_kind, got_value)) in enumerate(zip(want, got, strict=False)):
        where = f"chunk {n + 1}"
        if kind != got_kind:
            problems.append(f"{where}: {kind} in the sample, {got_kind} printed: {got_value!r}")
        elif kind == "json":
            problems += _value_differences(value, got_value, where)
        elif not pattern(value).fullmatch(got_value):
            problems.append(f"{where}: line {value!r} in the sample, {got_value!r} printed")
    if len(want) != len(got):
        problems.append(f"{len(want)} chunks in the sample, {len(got)} printed")
    return problems
