"""The alert queue as an analyst uses it, in headless Chromium against the local server: filters
by status, rule and account, each flag's evidence, amounts formatted from the decimal strings,
confirm with a note, and snooze (a suppression, then the alert dismissed)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from scripts.demo import LocalServer
from tests.browser.test_dashboard import Served, money, recent, sign_in, text, wait_for
from tests.support.browser import Browser, browser_for, chromium_paths

pytestmark = [
    pytest.mark.browser, pytest.mark.e2e,
    pytest.mark.skipif(chromium_paths() is None,
                       reason="needs chromium + chromium-driver (.ci/run installs them)"),
]


def big(tx_id: str, account: str, amount: str, currency: str, minutes: int) -> dict[str, str]:
    return {"id": tx_id, "account": account, "amount": amount, "currency": currency,
            "type": "debit", "timestamp": recent(minutes)}


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    sqlite_path = str(Path(tempfile.mkdtemp(prefix="txn-dash-alerts-")) / "ledger.db")
    with LocalServer(sqlite_path, env={"KEY_CACHE_TTL_S": "0"}) as server:
        done = Served(server, sqlite_path)
        done.post([big("al-1", "ACC-1", "15000.00", "EUR", 30),
                   big("al-2", "ACC-2", "1234567.5", "CHF", 20),
                   big("al-3", "ACC-3", "12000", "GBP", 10),
                   big("al-4", "ACC-1", "2000000", "JPY", 5),
                   {"id": "quiet-1", "account": "ACC-1", "amount": "12.00", "type": "credit",
                    "timestamp": recent(4)}])
        yield done


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[Browser]:
    with browser_for(request) as made:
        yield made


def queue_ids(browser: Browser) -> list[str]:
    rows = browser.driver.find_elements(By.CSS_SELECTOR, "#alerts tbody tr[data-id]")
    return [str(r.get_attribute("data-id")) for r in rows]


def shows(browser: Browser, ids: list[str]) -> None:
    wait_for(browser, lambda: queue_ids(browser) == ids, f"the queue shows {ids}")


def test_the_queue_filters_by_account_and_rule_and_shows_evidence_and_amounts(
        browser: Browser, served: Served) -> None:
    sign_in(browser, served)
    wait_for(browser, lambda: len(queue_ids(browser)) >= 3, "the open alerts")
    assert queue_ids(browser)[-1] == "al-1"  # newest first
    row = browser.driver.find_element(By.CSS_SELECTOR, "#alerts tr[data-id='al-2']")
    assert money("1234567.5", "CHF") in row.text  # "1,234,567.50 CHF", from the string
    flag = row.find_element(By.CSS_SELECTOR, "details.flag[data-rule='large_amount']")
    flag.find_element(By.TAG_NAME, "summary").click()
    evidence = flag.find_element(By.CSS_SELECTOR, "dl.evidence")
    wait_for(browser, evidence.is_displayed, "the evidence opens on click")
    assert "1234567.50" in evidence.text and "rule set version" in evidence.text
    field = browser.driver.find_element(By.ID, "alerts-account")
    field.send_keys("ACC-1", Keys.ENTER)
    shows(browser, ["al-4", "al-1"])
    jpy = browser.driver.find_element(By.CSS_SELECTOR, "#alerts tr[data-id='al-4']").text
    assert money("2000000", "JPY") in jpy  # no minor digits for yen
    Select(browser.driver.find_element(By.ID, "alerts-rule")).select_by_value("large_amount")
    shows(browser, ["al-4", "al-1"])
    field.clear()
    field.send_keys("no such!", Keys.ENTER)  # refused in the page, never sent
    wait_for(browser, lambda: "1 to 34" in text(browser, "#alerts-message"), "why")
    assert browser.errors() == []


def test_confirming_with_a_note_moves_the_alert_and_keeps_who_and_why(
        browser: Browser, served: Served) -> None:
    sign_in(browser, served)
    wait_for(browser, lambda: "al-2" in queue_ids(browser), "alert al-2")
    before = served.get("/analytics")["alerts"]["open"]
    row = browser.driver.find_element(By.CSS_SELECTOR, "#alerts tr[data-id='al-2']")
    row.find_element(By.CSS_SELECTOR, "input.note").send_keys("customer confirmed fraud")
    row.find_element(By.CSS_SELECTOR, "button[data-action='confirm']").click()
    wait_for(browser, lambda: "al-2" not in queue_ids(browser), "al-2 leaves the open queue")
    assert served.get("/analytics")["alerts"]["open"] == before - 1
    wait_for(browser, lambda: text(browser, "#alerts-open") == f"{before - 1} open",
             "the open count")
    Select(browser.driver.find_element(By.ID, "alerts-status")).select_by_value("confirmed")
    shows(browser, ["al-2"])
    step = text(browser, "#alerts tr[data-id='al-2'] .last-step")
    assert step.startswith("confirmed by key:") and "customer confirmed fraud" in step
    alert = served.get("/alerts/al-2")
    assert [h["note"] for h in alert["history"]] == ["customer confirmed fraud"]
    assert browser.errors() == []


def test_snooze_suppresses_the_rule_for_the_account_and_dismisses_the_alert(
        browser: Browser, served: Served) -> None:
    sign_in(browser, served)
    wait_for(browser, lambda: "al-3" in queue_ids(browser), "alert al-3")
    row = browser.driver.find_element(By.CSS_SELECTOR, "#alerts tr[data-id='al-3']")
    row.find_element(By.CSS_SELECTOR, "button[data-action='snooze']").click()
    wait_for(browser, lambda: "al-3" not in queue_ids(browser), "al-3 leaves the open queue")
    alert = served.get("/alerts/al-3")
    assert alert["status"] == "dismissed" and alert["rules"] == ["large_amount", "round_amount"]
    suppressions = served.get("/suppressions")["suppressions"]  # one per rule of the alert
    assert sorted((s["account"], s["rule"]) for s in suppressions) == [
        ("ACC-3", "large_amount"), ("ACC-3", "round_amount")]
    served.post([big("al-5", "ACC-3", "13000", "GBP", 1)])  # snoozed: flagged, no alert
    details = served.get("/transactions/al-5")["flag_details"]
    assert details and all(d["suppressed"] is True for d in details)
    assert served.get("/alerts?account=ACC-3&status=open")["alerts"] == []
    assert browser.errors() == []
