"""The dashboard as a person uses it: local server, simulator traffic, headless Chromium."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from chalicelib.adapters.sqlite.sqlite_store import SqliteStore
from chalicelib.usecases.api_keys import create_key, revoke_key
from scripts.demo import PROJECT_DIR, LocalServer
from simulator.options import DEV_KEY
from tests.support.browser import Browser, browser_for, chromium_paths

pytestmark = [
    pytest.mark.browser, pytest.mark.e2e,
    pytest.mark.skipif(chromium_paths() is None,
                       reason="needs chromium + chromium-driver (.ci/run installs them)"),
]
WAIT_S = 30  # the machine is shared and busy: generous, and only ever a ceiling
XSS = "<img src=x onerror=alert(1)>"
PAGED = "PAGED-ACCOUNT-1"
PAGED_COUNT = 25  # 10 per page on the dashboard: pages of 10, 10 and 5
AUTH_NOISE = ("status of 401", "status of 403")  # Chromium logs each refused fetch
FAST = "/dashboard?refresh=1"  # tests of the refresh loop wait for periods of 1 s, not 5


class Served:
    """The running local server on its own SQLite file, and how to talk to it."""

    def __init__(self, server: LocalServer, sqlite_path: str) -> None:
        self.server = server
        self.url = server.url
        self.sqlite_path = sqlite_path

    def get(self, path: str, key: str = DEV_KEY) -> Any:
        request = urllib.request.Request(self.url + path, headers={"x-api-key": key})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def post(self, transactions: list[dict[str, Any]]) -> Any:
        body = json.dumps({"transactions": transactions}).encode()
        request = urllib.request.Request(self.url + "/transactions", data=body, method="POST",
                                         headers={"x-api-key": DEV_KEY,
                                                  "content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
        assert answer["summary"]["rejected"] == 0, answer
        return answer


def recent(minutes: int) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    """serve_local on a fresh SQLite file, with the simulator's fraud traffic, an XSS merchant
    and an account long enough to page through."""
    workdir = tempfile.mkdtemp(prefix="txn-dash-")
    sqlite_path = str(Path(workdir) / "ledger.db")
    with LocalServer(sqlite_path, env={"KEY_CACHE_TTL_S": "0"}) as server:
        done = Served(server, sqlite_path)
        simulator = subprocess.run(
            [sys.executable, "-m", "simulator", "--url", server.url, "--api-key", DEV_KEY,
             "--count", "400", "--batch-size", "50", "--scenario", "fraud", "--seed", "11",
             "--no-progress"], cwd=PROJECT_DIR, stdin=subprocess.DEVNULL, capture_output=True,
            text=True, timeout=180, check=False, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert simulator.returncode == 0, simulator.stdout[-2000:] + simulator.stderr[-2000:]
        done.post([{"id": "xss-1", "account": "XSS-ACCOUNT", "amount": "15000.00",
                    "currency": "EUR", "type": "debit", "timestamp": recent(3),
                    "merchant": XSS, "description": XSS}])
        done.post([{"id": f"paged-{i:02d}", "account": PAGED,
                    "amount": "12000.00" if i == PAGED_COUNT - 1 else f"{i + 1}.50",
                    "currency": "GBP", "type": "credit", "timestamp": recent(40 - i)}
                   for i in range(PAGED_COUNT)])
        yield done


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[Browser]:
    with browser_for(request) as made:
        yield made


def wait_for(browser: Browser, condition: Callable[[], Any], what: str) -> Any:
    return WebDriverWait(browser.driver, WAIT_S, poll_frequency=0.2).until(
        lambda _: condition(), message=what)


def text(browser: Browser, css: str) -> str:
    found = browser.driver.find_elements(By.CSS_SELECTOR, css)
    return str(found[0].text) if found else ""


def sign_in(browser: Browser, served: Served, key: str = DEV_KEY, path: str = "/") -> None:
    browser.driver.get(served.url + path)  # the root redirects to /dashboard
    field = wait_for(browser, lambda: browser.driver.find_element(By.ID, "api-key"), "key field")
    field.send_keys(key)
    browser.driver.find_element(By.CSS_SELECTOR, "#signin-form button[type=submit]").click()


def tiles_match(browser: Browser, served: Served) -> bool:
    """The tiles show exactly what GET /analytics answers now (money as the same strings)."""
    truth = served.get("/analytics")
    shown = {"count": text(browser, "#tile-count .value"),
             "accounts": text(browser, "#tile-accounts .value"),
             "flagged": text(browser, "#tile-flagged .value")}
    nets = {el.get_attribute("data-currency"): el.find_element(By.CSS_SELECTOR, ".value").text
            for el in browser.driver.find_elements(By.CSS_SELECTOR, "#tiles .net")}
    return shown == {"count": str(truth["count"]), "accounts": str(truth["accounts"]),
                     "flagged": str(truth["flags"]["count"])} and nets == {
        code: totals["net"] for code, totals in truth["totals"].items()}


def painted_pixels(browser: Browser) -> int:
    """How many pixels of uPlot's canvas are not transparent (0: nothing was drawn)."""
    return int(browser.driver.execute_script("""
        const canvas = document.querySelector('#chart canvas');
        if (!canvas || !canvas.width || !canvas.height) return 0;
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let n = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i]) n++;
        return n;"""))


def test_tiles_equal_the_analytics_answer_and_the_chart_draws_the_series(
        browser: Browser, served: Served) -> None:
    sign_in(browser, served)
    wait_for(browser, lambda: tiles_match(browser, served), "tiles equal GET /analytics")
    assert len(browser.driver.find_elements(By.CSS_SELECTOR, "#tiles .net")) >= 2
    chart = browser.driver.find_element(By.ID, "chart")
    wait_for(browser, lambda: chart.get_attribute("data-total"), "the chart has data")
    canvas = browser.driver.find_element(By.CSS_SELECTOR, "#chart canvas")
    assert canvas.size["width"] > 200 and canvas.size["height"] > 100
    assert painted_pixels(browser) > 1000
    series_total = int(chart.get_attribute("data-total") or 0)
    assert series_total == served.get("/analytics")["count"]  # every transaction is this hour
    rows = browser.driver.find_elements(By.CSS_SELECTOR, "#rules tbody tr[data-rule]")
    assert {r.get_attribute("data-rule") for r in rows} == set(
        served.get("/analytics")["flags"]["by_rule"])
    browser.driver.find_element(By.CSS_SELECTOR, "input[name=range][value='168']").click()
    wait_for(browser, lambda: chart.get_attribute("data-points") == "168", "7 days of hours")
    browser.driver.find_element(By.CSS_SELECTOR, "input[name=range][value=all]").click()
    wait_for(browser, lambda: int(chart.get_attribute("data-points") or 0) < 168,
             "'all' starts at the first hour with data")
    assert browser.errors() == []


def test_a_new_batch_appears_after_the_automatic_refresh(browser: Browser,
                                                         served: Served) -> None:
    sign_in(browser, served, path=FAST)
    wait_for(browser, lambda: tiles_match(browser, served), "first load")
    before = int(text(browser, "#tile-count .value"))
    first_update = text(browser, "#updated")
    assert first_update.startswith("updated ")
    served.post([{"id": f"late-{i}", "account": f"LATE-{i % 3}", "amount": "5.00",
                  "type": "credit", "timestamp": recent(1)} for i in range(20)])
    wait_for(browser, lambda: text(browser, "#tile-count .value") == str(before + 20),
             "the new batch is counted without a reload")
    assert tiles_match(browser, served)
    assert text(browser, "#updated") != first_update
    assert browser.errors() == []


def analytics_calls(browser: Browser) -> int:
    """How many times the page has fetched GET /analytics (Resource Timing, nothing patched)."""
    return int(browser.driver.execute_script(
        "return performance.getEntriesByType('resource')"
        ".filter(e => new URL(e.name).pathname === '/analytics').length"))


def test_refresh_pauses_while_the_tab_is_hidden_and_resumes_when_shown(
        browser: Browser, served: Served) -> None:
    sign_in(browser, served, path=FAST)
    browser.driver.execute_script("performance.setResourceTimingBufferSize(10000)")
    wait_for(browser, lambda: analytics_calls(browser) >= 2, "two refreshes")
    browser.driver.execute_script("""
        Object.defineProperty(document, 'hidden', {value: true, configurable: true});
        document.dispatchEvent(new Event('visibilitychange'));""")
    wait_for(browser, lambda: text(browser, "#updated").endswith("(paused)"), "paused")
    time.sleep(2)  # a refresh already in flight when the tab hid may still land
    hidden_at = analytics_calls(browser)
    time.sleep(4)  # four refresh periods of 1 s: a loop that ignored it would have fetched
    assert analytics_calls(browser) == hidden_at
    browser.driver.execute_script("""
        Object.defineProperty(document, 'hidden', {value: false, configurable: true});
        document.dispatchEvent(new Event('visibilitychange'));""")
    wait_for(browser, lambda: analytics_calls(browser) > hidden_at, "refreshes again")
    wait_for(browser, lambda: not text(browser, "#updated").endswith("(paused)"), "resumed")
    assert browser.errors() == []


def test_the_xss_merchant_shows_as_text_and_runs_nothing(browser: Browser,
                                                         served: Served) -> None:
    sign_in(browser, served)
    row = wait_for(browser, lambda: browser.driver.find_element(
        By.CSS_SELECTOR, "#flagged tr[data-id='xss-1']"), "the flagged XSS transaction")
    assert row.find_element(By.CSS_SELECTOR, "td.merchant").text == XSS
    assert "15000.00 EUR" in row.text
    row.find_element(By.CSS_SELECTOR, "button.link").click()  # its account's history too
    wait_for(browser, lambda: browser.driver.find_elements(
        By.CSS_SELECTOR, "#history tr[data-id='xss-1']"), "the account's history")
    assert text(browser, "#history tr[data-id='xss-1'] td.merchant") == XSS
    assert browser.driver.execute_script("return document.querySelectorAll('img').length") == 0
    with pytest.raises(NoAlertPresentException):
        browser.driver.switch_to.alert.text  # noqa: B018 (reading it is the check)
    assert browser.errors() == []


def test_a_wrong_key_says_so_and_shows_no_data(browser: Browser, served: Served) -> None:
    browser.driver.get(served.url + "/dashboard")
    browser.driver.find_element(By.CSS_SELECTOR, "#signin-form button[type=submit]").click()
    assert text(browser, "#signin-message") == "Enter an API key."
    sign_in(browser, served, key="tsk_wrong")
    wait_for(browser, lambda: "wrong or has been revoked" in text(browser, "#signin-message"),
             "the refused-key message")
    assert not browser.driver.find_element(By.ID, "board").is_displayed()
    assert browser.driver.execute_script(
        "return sessionStorage.length") == 0  # a refused key is not kept
    assert browser.errors(allowed=AUTH_NOISE) == []


def test_a_key_revoked_while_the_page_is_open_signs_out_with_the_message(
        browser: Browser, served: Served) -> None:
    store = SqliteStore(served.sqlite_path)  # the server's own file: keys are rows in it
    key, record = create_key(store, "demo")
    sign_in(browser, served, key=key, path=FAST)
    wait_for(browser, lambda: text(browser, "#tile-count .value"), "signed in with a real key")
    assert revoke_key(store, "demo", record.key_id)
    wait_for(browser, lambda: "wrong or has been revoked" in text(browser, "#signin-message"),
             "the next refresh is refused")
    assert browser.driver.find_element(By.ID, "api-key").is_displayed()
    assert browser.errors(allowed=AUTH_NOISE) == []


def test_account_drill_down_pages_with_the_cursor(browser: Browser, served: Served) -> None:
    sign_in(browser, served)
    button = wait_for(browser, lambda: browser.driver.find_element(
        By.CSS_SELECTOR, f"#flagged button[aria-label='Open account {PAGED}']"),
        "the paged account among the newest flagged")
    button.click()
    seen: list[str] = []

    def page_ids() -> list[str]:
        return [r.get_attribute("data-id") or "" for r in
                browser.driver.find_elements(By.CSS_SELECTOR, "#history tbody tr")]

    def wait_page(number: int) -> None:
        wait_for(browser, lambda: text(browser, "#history-caption").startswith(
            f"Page {number} "), f"page {number}")

    assert f"{PAGED_COUNT}" in text(browser, "#account-summary")
    for page, size in ((1, 10), (2, 10), (3, 5)):
        wait_page(page)
        ids = page_ids()
        assert len(ids) == size
        seen += ids
        if page < 3:
            browser.driver.find_element(By.ID, "history-older").click()
    assert seen == [f"paged-{i:02d}" for i in reversed(range(PAGED_COUNT))]  # newest first
    assert not browser.driver.find_element(By.ID, "history-older").is_enabled()
    browser.driver.find_element(By.ID, "history-newer").click()
    wait_page(2)
    assert page_ids() == seen[10:20]
    assert browser.errors() == []


def test_sign_out_forgets_the_key(browser: Browser, served: Served) -> None:
    sign_in(browser, served)
    wait_for(browser, lambda: text(browser, "#tile-count .value"), "signed in")
    assert browser.driver.execute_script(
        "return sessionStorage.getItem('txn-dashboard.api-key')") == DEV_KEY
    browser.driver.find_element(By.ID, "sign-out").click()
    assert browser.driver.execute_script("return sessionStorage.length") == 0
    assert text(browser, "#signin-message") == "Signed out."
    browser.driver.refresh()
    assert browser.driver.find_element(By.ID, "api-key").is_displayed()
    assert browser.errors() == []


@pytest.mark.parametrize(("width", "mobile"), [(1280, False), (390, True)])
def test_the_page_fits_the_screen_at_desktop_and_phone_widths(
        browser: Browser, served: Served, width: int, mobile: bool) -> None:
    browser.viewport(width, 800, mobile)
    sign_in(browser, served)
    wait_for(browser, lambda: tiles_match(browser, served), "loaded")
    browser.driver.find_element(By.CSS_SELECTOR,
                                f"#flagged button[aria-label='Open account {PAGED}']").click()
    wait_for(browser, lambda: text(browser, "#history-caption"), "account open")
    browser.driver.execute_script("window.scrollTo(0, 0)")
    overflow = browser.driver.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0  # wide tables scroll inside their own box, never the page
    labels = browser.driver.execute_script("""
        return [...document.querySelectorAll('input')].filter(i => !i.labels.length)
               .map(i => i.id || i.name);""")
    assert labels == []  # every control has a label
    path = browser.full_page_screenshot(f"dashboard-{width}", width, mobile)
    assert path.stat().st_size > 10_000
    parts = browser.screens(f"dashboard-{width}", width, 800 if width > 600 else 844, mobile)
    print(f"\nscreenshots: {path} and {len(parts)} screens beside it")
    assert browser.errors() == []


def test_the_shell_sends_its_security_headers(served: Served) -> None:
    with urllib.request.urlopen(served.url + "/dashboard", timeout=30) as response:
        headers = response.headers
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    with pytest.raises(urllib.error.HTTPError) as refused:
        served.get("/analytics", key="")
    assert refused.value.code == 401
