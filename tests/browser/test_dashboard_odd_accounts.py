"""The dashboard on account ids the API accepts but a URL makes awkward (`a:b`, `...`, `-`),
one stored before `.` and `..` were refused, and `/dashboard/` with a trailing slash; on both
servers the project ships, `make serve` and `chalice local`."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from chalicelib.adapters.sqlite.sqlite_store import SqliteStore
from chalicelib.domain.aggregates import deltas_for
from chalicelib.domain.model import Transaction
from chalicelib.domain.rules import RuleConfig
from chalicelib.ports.store import WritePlan
from scripts.demo import LocalServer
from simulator.options import DEV_KEY
from tests.browser.test_dashboard import Served, recent, sign_in, text, wait_for
from tests.support.browser import Browser, browser_for, chromium_paths

pytestmark = [
    pytest.mark.browser, pytest.mark.e2e,
    pytest.mark.skipif(chromium_paths() is None,
                       reason="needs chromium + chromium-driver (.ci/run installs them)"),
]
ODD = ["a:b", "...", "-", "x.y", "A.B:C-D_E"]
LEGACY = "."  # stored before the API refused it: no URL can address it


def _store_legacy(sqlite_path: str) -> None:
    """What a store written before the `.`/`..` rule may hold: a flagged transaction of `.`."""
    tx = Transaction("legacy-dot", LEGACY, Decimal("20000.00"), "USD",
                     "credit", datetime.now(UTC) - timedelta(minutes=2), flags=("large_amount",))
    store = SqliteStore(sqlite_path)
    with store.unit_of_work("demo") as uow:
        uow.commit(WritePlan([tx], deltas_for([tx], [LEGACY]),
                             uow.get_account_states([LEGACY]), rules=RuleConfig()))


@pytest.fixture(scope="module", params=["serve_local", "chalice"])
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    sqlite_path = str(Path(tempfile.mkdtemp(prefix="txn-odd-")) / "ledger.db")
    _store_legacy(sqlite_path)
    with LocalServer(sqlite_path, kind=str(request.param)) as server:
        done = Served(server, sqlite_path)
        done.post([{"id": f"odd-{i}", "account": account, "amount": "15000.00",
                    "type": "debit", "timestamp": recent(10 + i)}
                   for i, account in enumerate(ODD)])
        yield done


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[Browser]:
    with browser_for(request) as made:
        yield made


def open_from_flagged(browser: Browser, account: str) -> None:
    button = wait_for(browser, lambda: browser.driver.find_element(
        By.CSS_SELECTOR, f"#flagged button[aria-label=\"Open account {account}\"]"),
        f"account {account} among the newest flagged")
    button.click()


def test_odd_accounts_open_from_the_list_and_the_form_and_nothing_signs_out(
        browser: Browser, served: Served) -> None:
    sign_in(browser, served, path="/dashboard/")  # a trailing slash: redirected
    wait_for(browser, lambda: text(browser, "#tile-count .value"), "tiles")
    assert browser.driver.current_url == served.url + "/dashboard"
    for account in ODD:
        open_from_flagged(browser, account)
        caption = f"{account}'s transactions, newest first"
        wait_for(browser, lambda: text(browser, "#history-caption").endswith(caption),  # noqa: B023
                 f"history of {account}")
        summary = text(browser, "#account-summary")
        assert account in summary and "15,000.00" in summary, summary
    browser.driver.find_element(By.ID, "account-input").clear()
    browser.driver.find_element(By.ID, "account-input").send_keys("a:b")
    browser.driver.find_element(By.CSS_SELECTOR, "#account-form button[type=submit]").click()
    wait_for(browser, lambda: text(browser, "#history-caption").endswith(
        "a:b's transactions, newest first"), "a:b typed in")
    open_from_flagged(browser, LEGACY)
    wait_for(browser, lambda: "cannot be looked up" in text(browser, "#account-message"),
             "the legacy account's message")
    assert browser.driver.find_element(By.ID, "tile-count").is_displayed()  # still signed in
    assert browser.driver.execute_script(
        "return sessionStorage.getItem('txn-dashboard.api-key')") == DEV_KEY
    assert browser.errors() == []
