"""The simulator's statement files: each format imports whole, and `--unbalanced` is a 422."""

from __future__ import annotations

import functools
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from chalicelib.domain.statements.mapping import prepare, read_statements
from simulator import statements
from simulator.bank import Cast, build_cast
from simulator.cli import main
from tests.conftest import Api

DAY = date(2026, 11, 30)


@functools.cache
def cast() -> Cast:
    return build_cast(3, 3)  # Faker's locales load once for the module


def specs(unbalanced: bool = False, pending_every: int = 0) -> list[statements.Spec]:
    return statements.make_specs(cast(), 3, 3, 20, DAY, unbalanced, pending_every)


@pytest.mark.parametrize("fmt", ["mt940", "camt053", "camt052", "camt054"])
def test_each_format_parses_and_balances(fmt: str) -> None:
    made = specs(pending_every=7)
    parsed = read_statements(statements.write(fmt, made))
    assert parsed.format == statements.FORMATS[fmt] and len(parsed.statements) == 3
    booked = prepare(parsed, datetime(2026, 12, 1, tzinfo=UTC))
    assert len(booked) == 3 * (20 - 2)  # every 7th entry pending (MT940 leaves it out)
    for spec, statement in zip(made, parsed.statements, strict=True):
        if statement.closing is not None:
            assert statement.closing.amount == spec.closing


@pytest.mark.parametrize("fmt", ["mt940", "camt053"])
def test_unbalanced_files_are_refused_with_422(api: Api, fmt: str) -> None:
    raw = statements.write(fmt, specs(unbalanced=True))
    response = api.client.http.post("/statements", body=raw, headers={
        "x-api-key": api.headers["x-api-key"], "content-type": "text/plain"})
    body = json.loads(response.body)
    assert response.status_code == 422 and len(body["Details"]) == 3


def test_cli_writes_a_statement_file(tmp_path: Path) -> None:
    out = tmp_path / "day.xml"
    assert main(["--format", "camt053", "--count", "5", "--seed", "1", "--statements", "2",
                 "--start", "2026-11-30T00:00:00Z", "--statement-file", str(out)]) == 0
    parsed = read_statements(out.read_bytes())
    assert [len(s.entries) for s in parsed.statements] == [5, 5]
    first = parsed.statements[0]
    assert first.opening is not None and first.closing is not None
    moved = sum((Decimal(e.amount) * (1 if e.type == "credit" else -1)
                 for e in first.booked()), Decimal(0))
    assert first.opening.amount + moved == first.closing.amount
