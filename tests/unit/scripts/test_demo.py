"""`make demo`'s printed output at 80 columns: whole titles, whole amounts, what it means."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from scripts.demo import dashboard_line, explanation, flagged_table, ordinal
from simulator.console import analytics_tables

WIDTH = 80
LONG_ACCOUNT = "FR76868134489163373911459615X12345"  # 34 characters, the API's longest


def analytics(velocity: int) -> dict[str, Any]:
    """A GET /analytics body shaped like the demo's, with amounts as wide as the demo's."""
    def currency(credits: str, debits: str, net: str, largest: str) -> dict[str, Any]:
        return {"credits": {"count": 1718, "total": credits},
                "debits": {"count": 1904, "total": debits}, "net": net,
                "max_transaction": {"amount": largest}}

    return {
        "count": 5761, "accounts": 1653,
        "totals": {"EUR": currency("515100.12", "284066.86", "231033.26", "48052.09"),
                   "GBP": currency("554085.41", "124934.59", "429150.82", "48047.82"),
                   "JPY": currency("40561236", "9912205", "30649031", "4457239"),
                   "USD": currency("1152682.00", "477369.14", "675312.86", "45797.12")},
        "flags": {"count": 1111,
                  "by_rule": {"large_amount": 27, "rapid_in_out": 24, "round_amount": 25,
                              "structuring": 27, "velocity": velocity},
                  "recent": [{"id": "cf8e99be-0004886", "account": LONG_ACCOUNT,
                              "amount": "964985", "currency": "JPY", "type": "credit",
                              "flags": ["structuring", "velocity"]},
                             {"id": "cf8e99be-0004802", "account": "NL29SAZL4267911603",
                              "amount": "13228.80", "currency": "USD", "type": "debit",
                              "flags": ["large_amount"]}]},
    }


def rendered(*renderables: Any) -> list[str]:
    console = Console(width=WIDTH, record=True, color_system=None, file=io.StringIO())
    for renderable in renderables:
        console.print(renderable, highlight=False)
    return console.export_text().splitlines()


def test_titles_stay_on_one_line_and_every_amount_shows_whole_at_80_columns() -> None:
    body = analytics(1025)
    lines = rendered(*analytics_tables(body), flagged_table(body))
    text = "\n".join(lines)
    assert all(len(line) <= WIDTH for line in lines)
    for title in ("analytics: 5,761 transactions, 1,653 accounts",
                  "flags: 1,111 flagged transactions", "newest flagged transactions"):
        assert any(line.strip() == title for line in lines), title
    for amount in ("1,152,682.00", "40,561,236", "4,457,239", "675,312.86", "964985 JPY",
                   "13228.80 USD", "cf8e99be-0004886"):
        assert amount in text
    assert "…" not in text  # nothing cut short
    folded = "".join(line.split("│")[2].strip() for line in lines
                     if line.startswith("│") and line.count("│") > 2)
    assert LONG_ACCOUNT in folded  # a long account number folds, every character kept


def test_flags_by_rule_list_the_most_frequent_rule_first() -> None:
    lines = rendered(*analytics_tables(analytics(1025)))
    rules = [line.split()[1] for line in lines if line.startswith("│ ")
             and line.split()[1] in ("velocity", "large_amount", "structuring")]
    assert rules[0] == "velocity"


def test_the_explanation_names_the_injections_and_where_velocity_comes_from() -> None:
    reports = [{"duplicates": 92, "rejected": 115, "unexpected": 0,
                "fraud_patterns": {"sent": 107, "flagged": 107}},
               {"duplicates": 14, "rejected": 18, "unexpected": 0,
                "fraud_patterns": {"sent": 13, "flagged": 12}}]
    text = " ".join(" ".join(rendered(explanation(reports, analytics(110),
                                                  analytics(1025)))).split())
    assert "duplicates (106) and rejected (133) are injected on purpose" in text
    assert "velocity is on 1,025 of the 1,111 flagged transactions" in text
    assert "11th transaction within an hour" in text
    assert "915 of the velocity flags come from that run" in text
    assert "119 of 120 patterns flagged as intended" in text


def test_the_dashboard_address_is_printed_only_while_a_server_is_up() -> None:
    assert "http://127.0.0.1:8123/dashboard" in dashboard_line("http://127.0.0.1:8123")
    stopped = dashboard_line(None)
    assert "http" not in stopped and "make dashboard" in stopped


def test_ordinals() -> None:
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st", "111th"]
