"""The dashboard's figures (chalicelib/web/format.js), run in node: exact, grouped, per currency."""

from __future__ import annotations

import json
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from chalicelib.domain.money import MINOR_UNITS
from chalicelib.web import dashboard

FORMAT_JS = Path(dashboard.__file__).resolve().parent / "format.js"
NODE = shutil.which("node")
pytestmark = [pytest.mark.e2e,  # one node process for the module
              pytest.mark.skipif(NODE is None, reason="needs node (Node 20 on the machine)")]

# (function, arguments, expected text)
CASES: list[tuple[str, list[Any], str]] = [
    ("count", [30577406], "30,577,406"),
    ("count", [0], "0"),
    ("count", [999], "999"),
    ("count", [1000], "1,000"),
    ("count", [-1234567], "-1,234,567"),
    ("count", ["9007199254740993123"], "9,007,199,254,740,993,123"),  # past 2^53, as text
    ("count", [1.5], "1.5"),  # not a count: shown as it came
    ("amount", ["1234567.5", "USD"], "1,234,567.50"),
    ("amount", ["1234567", "USD"], "1,234,567.00"),
    ("amount", ["30577406", "JPY"], "30,577,406"),
    ("amount", ["30577406.00", "JPY"], "30,577,406"),  # zeros past the digits are exact to drop
    ("amount", ["0.05", "EUR"], "0.05"),
    ("amount", ["-15000.00", "EUR"], "-15,000.00"),
    ("amount", ["100.005", "USD"], "100.005"),  # never rounded: a digit the currency lacks stays
    ("amount", ["100.0050", "USD"], "100.005"),
    ("amount", ["999999999999.99", "GBP"], "999,999,999,999.99"),
    # 38 digits (DynamoDB's precision, a float's 17 would be lost): exact to the last cent
    ("amount", ["123456789012345678901234567890123456.78", "EUR"],
     "123,456,789,012,345,678,901,234,567,890,123,456.78"),
    ("amount", ["0012.3", "KRW"], "12.3"),
    ("amount", ["1e3", "USD"], "1e3"),  # not a plain decimal: shown as it came
    ("amount", ["<b>1</b>", "USD"], "<b>1</b>"),
    ("money", ["1234567.5", "USD"], "1,234,567.50 USD"),
    ("money", ["5", "JPY"], "5 JPY"),
    ("percent", [143, 20177], "0.7%"),
    ("percent", [1, 20000], "<0.1%"),
    ("percent", [0, 10], "0.0%"),
    ("percent", [3, 0], "–"),
    ("percent", [7, 7], "100.0%"),
]

RUNNER = """
const format = require(process.argv[1]);
const cases = JSON.parse(require("fs").readFileSync(0, "utf8"));
const answers = cases.map(([name, args]) => format[name](...args));
process.stdout.write(JSON.stringify({answers, digits: Object.fromEntries(
  process.argv.slice(2).map((code) => [code, format.digits(code)]))}));
"""


@pytest.fixture(scope="module")
def ran() -> dict[str, Any]:
    """Every case through format.js in one node run."""
    assert NODE is not None
    done = subprocess.run([NODE, "-e", RUNNER, str(FORMAT_JS), *sorted(MINOR_UNITS)],
                          input=json.dumps([[name, args] for name, args, _ in CASES]),
                          capture_output=True, text=True, timeout=30, check=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize(("index", "case"), list(enumerate(CASES)),
                         ids=[f"{n}{a}" for n, a, _ in CASES])
def test_figures_are_grouped_and_written_with_the_currencys_digits(
        ran: dict[str, Any], index: int, case: tuple[str, list[Any], str]) -> None:
    assert ran["answers"][index] == case[2]


def test_every_currency_the_api_accepts_has_its_digits(ran: dict[str, Any]) -> None:
    assert ran["digits"] == MINOR_UNITS


def test_an_amount_shown_is_the_same_number_as_the_apis_text() -> None:
    # the expectations themselves: grouping and padding never change the value
    for name, args, expected in CASES:
        if name == "amount" and expected[0] in "-0123456789":
            assert Decimal(expected.replace(",", "")) == Decimal(args[0])
