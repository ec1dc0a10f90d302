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
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from chalicelib.adapters.sqlite.sqlite_store import SqliteStore
from chalicelib.domain.money import MINOR_UNITS
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
OLD_ID = "old-1"  # flagged (large), 20 hours ago, on an account a path must not encode
OLD_MINUTES = 20 * 60
ODD_ACCOUNT = "a.b:C_9-z"  # every kind of character the API allows in an account
TILES = ("tile-count", "tile-flagged", "tile-rate", "tile-accounts")


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
    """serve_local on a fresh SQLite file, with three days of the simulator's fraud traffic
    (backdated, as the demo's), an XSS merchant, an account long enough to page through, a
    flagged transaction 20 hours ago and flagged accounts whose numbers a URL path mishandles."""
    workdir = tempfile.mkdtemp(prefix="txn-dash-")
    sqlite_path = str(Path(workdir) / "ledger.db")
    with LocalServer(sqlite_path, env={"KEY_CACHE_TTL_S": "0"}) as server:
        done = Served(server, sqlite_path)
        simulator = subprocess.run(
            [sys.executable, "-m", "simulator", "--url", server.url, "--api-key", DEV_KEY,
             "--count", "400", "--batch-size", "50", "--concurrency", "1", "--scenario",
             "fraud", "--seed", "11", "--history", "72", "--no-progress"],
            cwd=PROJECT_DIR, stdin=subprocess.DEVNULL, capture_output=True,
            text=True, timeout=180, check=False, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert simulator.returncode == 0, simulator.stdout[-2000:] + simulator.stderr[-2000:]
        done.post([{"id": "xss-1", "account": "XSS-ACCOUNT", "amount": "15000.00",
                    "currency": "EUR", "type": "debit", "timestamp": recent(3),
                    "merchant": XSS, "description": XSS}])
        done.post([{"id": f"paged-{i:02d}", "account": PAGED,
                    "amount": "12000.00" if i == PAGED_COUNT - 1 else f"{i + 1}.50",
                    "currency": "GBP", "type": "credit", "timestamp": recent(40 - i)}
                   for i in range(PAGED_COUNT)])
        done.post([{"id": OLD_ID, "account": ODD_ACCOUNT, "amount": "1234567.5",
                    "currency": "CHF", "type": "credit", "timestamp": recent(OLD_MINUTES)},
                   {"id": "dots-1", "account": "JP.round", "amount": "2000000", "currency": "JPY",
                    "type": "debit", "timestamp": recent(5)}])
        yield done


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[Browser]:
    with browser_for(request) as made:
        yield made


def wait_for(browser: Browser, condition: Callable[[], Any], what: str) -> Any:
    # the page re-renders on every refresh: an element found just before one may be gone
    return WebDriverWait(browser.driver, WAIT_S, poll_frequency=0.2,
                         ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda _: condition(), message=what)


def text(browser: Browser, css: str) -> str:
    found = browser.driver.find_elements(By.CSS_SELECTOR, css)
    return str(found[0].text) if found else ""


def sign_in(browser: Browser, served: Served, key: str = DEV_KEY, path: str = "/") -> None:
    browser.driver.get(served.url + path)  # the root redirects to /dashboard
    field = wait_for(browser, lambda: browser.driver.find_element(By.ID, "api-key"), "key field")
    field.send_keys(key)
    browser.driver.find_element(By.CSS_SELECTOR, "#signin-form button[type=submit]").click()


def money(amount: str, currency: str) -> str:
    """What the page must show for an amount: grouped, the currency's digits (Decimal only)."""
    return f"{Decimal(amount):,.{MINOR_UNITS[currency]}f} {currency}"


def rate(flagged: int, count: int) -> str:
    if not count:
        return "–"
    tenths = (Decimal(flagged * 1000) / count).quantize(Decimal(1), ROUND_HALF_UP)
    return "<0.1%" if flagged and not tenths else f"{tenths / 10:.1f}%"


def shown_window(browser: Browser) -> str:
    """The query of the window the page says its tiles hold ("" for all time)."""
    section = browser.driver.find_element(By.ID, "window")
    since, until = section.get_attribute("data-since"), section.get_attribute("data-until")
    return f"?since={since}&until={until}" if since and until else ""


def tiles_match(browser: Browser, served: Served) -> bool:
    """The tiles and the currency table show exactly what GET /analytics answers now for the
    window the page names, formatted for the reader."""
    truth = served.get("/analytics" + shown_window(browser))
    shown = {tile: text(browser, f"#{tile} .value") for tile in TILES}
    rows = browser.driver.find_elements(By.CSS_SELECTOR, "#currencies tr[data-currency]")
    nets = {row.get_attribute("data-currency"): row.find_element(By.CSS_SELECTOR, ".net .side")
            .text for row in rows}
    flagged = truth["flags"]["count"]
    return shown == {"tile-count": f"{truth['count']:,}", "tile-flagged": f"{flagged:,}",
                     "tile-rate": rate(flagged, truth["count"]),
                     "tile-accounts": f"{truth['accounts']:,}"} and nets == {
        code: money(totals["net"], code) for code, totals in truth["totals"].items()}


def painted_pixels(browser: Browser, css: str = "#chart canvas") -> int:
    """How many pixels of a uPlot canvas are not transparent (0: nothing was drawn)."""
    return int(browser.driver.execute_script("""
        const canvas = document.querySelector(arguments[0]);
        if (!canvas || !canvas.width || !canvas.height) return 0;
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let n = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i]) n++;
        return n;""", css))


def heading(browser: Browser) -> str:
    return text(browser, "#window-title")


def test_the_window_drives_tiles_tables_and_charts_and_the_heading_says_which(
        browser: Browser, served: Served) -> None:
    sign_in(browser, served)
    wait_for(browser, lambda: heading(browser) == "Last 24 hours"
             and tiles_match(browser, served), "tiles equal GET /analytics for 24 hours")
    since = datetime.fromisoformat(browser.driver.find_element(By.ID, "window")
                                   .get_attribute("data-since") or "")
    until = datetime.fromisoformat(browser.driver.find_element(By.ID, "window")
                                   .get_attribute("data-until") or "")
    assert until - since == timedelta(hours=24) and until.minute == 0
    assert until - timedelta(hours=1) <= datetime.now(UTC) + timedelta(minutes=5) < until
    chart = browser.driver.find_element(By.ID, "chart")
    wait_for(browser, lambda: chart.get_attribute("data-points") == "24", "24 hours of bars")
    series = served.get("/analytics/series" + shown_window(browser))
    assert int(chart.get_attribute("data-total") or 0) == sum(h["count"] for h in series["hours"])
    for canvas in ("#chart canvas", "#money-chart canvas"):
        assert painted_pixels(browser, canvas) > 1000, canvas
    rows = browser.driver.find_elements(By.CSS_SELECTOR, "#rules tbody tr[data-rule]")
    assert {r.get_attribute("data-rule") for r in rows} == set(
        served.get("/analytics" + shown_window(browser))["flags"]["by_rule"])
    everything = served.get("/analytics")
    assert int(chart.get_attribute("data-total") or 0) < everything["count"]  # history is older
    browser.driver.find_element(By.CSS_SELECTOR, "input[name=range][value='168']").click()
    wait_for(browser, lambda: heading(browser) == "Last 7 days" and tiles_match(browser, served)
             and chart.get_attribute("data-points") == "168", "7 days: tiles and 168 hours")
    browser.driver.find_element(By.CSS_SELECTOR, "input[name=range][value=all]").click()
    wait_for(browser, lambda: heading(browser) == "All time" and shown_window(browser) == ""
             and tiles_match(browser, served), "all time: the tiles equal GET /analytics")
    assert text(browser, "#tile-count .value") == f"{served.get('/analytics')['count']:,}"
    assert text(browser, "#tile-accounts .label") == "Accounts"
    wait_for(browser, lambda: 72 <= int(chart.get_attribute("data-points") or 0) < 168,
             "'all' charts from the first hour with data")
    assert browser.errors() == []


def test_a_new_batch_appears_after_the_automatic_refresh(browser: Browser,
                                                         served: Served) -> None:
    sign_in(browser, served, path=FAST)
    wait_for(browser, lambda: tiles_match(browser, served), "first load")
    before = int(text(browser, "#tile-count .value").replace(",", ""))
    first_update = text(browser, "#updated")
    assert first_update.startswith("updated ")
    served.post([{"id": f"late-{i}", "account": f"LATE-{i % 3}", "amount": "5.00",
                  "type": "credit", "timestamp": recent(1)} for i in range(20)])
    wait_for(browser, lambda: text(browser, "#tile-count .value") == f"{before + 20:,}",
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
    assert "15,000.00 EUR" in row.text
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

    wait_page(1)  # the summary and the first page arrive together
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
        return [...document.querySelectorAll('input, select')].filter(i => !i.labels.length)
               .map(i => i.id || i.name);""")
    assert labels == []  # every control has a label
    grid = browser.driver.execute_script("""
        const tiles = document.getElementById('tiles');
        const columns = getComputedStyle(tiles).gridTemplateColumns.split(' ').length;
        const tops = [...tiles.children].map((t) => Math.round(t.getBoundingClientRect().top));
        return {columns, tiles: tiles.children.length, rows: new Set(tops).size};""")
    # an even grid: every row full (no seven tiles on a six-column grid)
    assert grid["columns"] == (4 if width > 600 else 2)
    assert grid["tiles"] == grid["columns"] * grid["rows"], grid
    path = browser.full_page_screenshot(f"dashboard-{width}", width, mobile)
    assert path.stat().st_size > 10_000
    parts = browser.screens(f"dashboard-{width}", width, 800 if width > 600 else 844, mobile)
    print(f"\nscreenshots: {path} and {len(parts)} screens beside it")
    assert browser.errors() == []


def hour_of(tx_id: str, served: Served) -> datetime:
    stamp = datetime.fromisoformat(served.get(f"/transactions/{tx_id}")["timestamp"])
    return stamp.replace(minute=0, second=0, microsecond=0)


def point_at_hour(browser: Browser, chart_id: str, hour: datetime, click: bool) -> None:
    """Move the mouse to `hour`'s bar on a chart (uPlot's overlay, at the bar's x) and click it
    if asked, as a person would."""
    chart = browser.driver.find_element(By.ID, chart_id)
    first = datetime.fromisoformat(chart.get_attribute("data-first") or "")
    points = int(chart.get_attribute("data-points") or 0)
    index = int((hour - first) / timedelta(hours=1))
    assert 0 <= index < points
    over = chart.find_element(By.CSS_SELECTOR, ".u-over")
    width = over.size["width"]
    actions = ActionChains(browser.driver).move_to_element_with_offset(
        over, round((index + 0.5) * width / points - width / 2), 0)
    (actions.click() if click else actions).perform()


def legend(browser: Browser, chart_id: str) -> list[str]:
    """The legend's values: the hour, then each series."""
    return [v.text for v in browser.driver.find_elements(
        By.CSS_SELECTOR, f"#{chart_id} .u-legend .u-value")]


def test_clicking_a_bar_drills_into_that_hour_and_the_money_chart_shows_exact_amounts(
        browser: Browser, served: Served) -> None:
    sign_in(browser, served)
    wait_for(browser, lambda: heading(browser) == "Last 24 hours" and browser.driver
             .find_element(By.ID, "money-chart").get_attribute("data-currency"), "loaded")
    hour = hour_of(OLD_ID, served)
    point_at_hour(browser, "chart", hour, click=True)
    after = hour + timedelta(hours=1)
    wait_for(browser, lambda: heading(browser).endswith(f"{hour:%H}:00 to {after:%H}:00 UTC")
             and shown_window(browser) == f"?since={hour:%Y-%m-%dT%H}:00:00Z"
                                          f"&until={after:%Y-%m-%dT%H}:00:00Z"
             and tiles_match(browser, served), "the tiles and tables of the clicked hour")
    times = dict(browser.driver.execute_script("""
        return [...document.querySelectorAll('#flagged tbody tr[data-id]')].map(
            (r) => [r.dataset.id, r.querySelector('td.time').textContent]);"""))
    assert OLD_ID in times
    for shown in times.values():  # the flagged list is that hour's
        assert shown.startswith(f"{hour:%Y-%m-%d %H}:")
    assert text(browser, "#flagged-note").endswith("newest flagged in this hour.")
    # money in and out of that hour in CHF, exactly as GET /analytics/series has it
    Select(browser.driver.find_element(By.ID, "money-currency")).select_by_value("CHF")
    wait_for(browser, lambda: browser.driver.find_element(By.ID, "money-chart")
             .get_attribute("data-currency") == "CHF", "the CHF chart")
    point_at_hour(browser, "money-chart", hour, click=False)
    truth = served.get("/analytics/series" + shown_window(browser))["hours"][0]["currencies"]["CHF"]
    wait_for(browser, lambda: legend(browser, "money-chart")[1:] == [
        f"{money(truth[side]['total'], 'CHF')} ({truth[side]['count']:,})"
        for side in ("credits", "debits")], "the hour's exact CHF amounts in the legend")
    assert "1,234,567.50 CHF" in legend(browser, "money-chart")[1]
    # the keyboard steps to the hour before; "Back" returns to the window
    browser.driver.find_element(By.ID, "chart").send_keys(Keys.ARROW_LEFT)
    before = hour - timedelta(hours=1)
    wait_for(browser, lambda: heading(browser).endswith(f"{before:%H}:00 to {hour:%H}:00 UTC"),
             "the previous hour")
    browser.driver.find_element(By.ID, "focus-clear").click()
    wait_for(browser, lambda: heading(browser) == "Last 24 hours"
             and tiles_match(browser, served), "back to the window")
    assert not browser.driver.find_element(By.ID, "focus-bar").is_displayed()
    assert browser.errors() == []


def flagged_rows(browser: Browser) -> list[tuple[str, str, list[str]]]:
    """(id, account, rules) of each row shown, read in one call (a refresh cannot split it)."""
    rows = browser.driver.execute_script("""
        return [...document.querySelectorAll('#flagged tbody tr[data-id]')].map(
            (r) => [r.dataset.id, r.dataset.account, r.dataset.rules.split(' ')]);""")
    return [(i, a, [r for r in rules if r]) for i, a, rules in rows]


def test_the_flagged_list_filters_by_rule_and_account_and_any_account_opens_or_says_why(
        browser: Browser, served: Served) -> None:
    sign_in(browser, served)
    wait_for(browser, lambda: {OLD_ID, "dots-1", "xss-1"} <= {
        i for i, _, _ in flagged_rows(browser)}, "the flagged list")
    everything = len(flagged_rows(browser))
    Select(browser.driver.find_element(By.ID, "filter-rule")).select_by_value("round_amount")
    wait_for(browser, lambda: all("round_amount" in rules for _, _, rules in flagged_rows(browser))
             and "dots-1" in {i for i, _, _ in flagged_rows(browser)}, "round amounts only")
    shown = len(flagged_rows(browser))
    assert text(browser, "#flagged-note").startswith(f"{shown} of the {everything} newest flagged")
    Select(browser.driver.find_element(By.ID, "filter-rule")).select_by_value("")
    field = browser.driver.find_element(By.ID, "filter-account")
    field.send_keys("A.B:c")  # a part of the number, in any case
    wait_for(browser, lambda: [i for i, _, _ in flagged_rows(browser)] == [OLD_ID], "one account")
    field.clear()
    field.send_keys("no-such-account")
    wait_for(browser, lambda: "matches the filter" in text(browser, "#flagged tbody"), "none")
    field.clear()
    field.send_keys(Keys.SPACE, Keys.BACKSPACE)  # clear() fires no input event
    wait_for(browser, lambda: len(flagged_rows(browser)) == everything, "the whole list again")
    # every character the API allows in an account works in the drill-down's path ...
    browser.driver.find_element(
        By.CSS_SELECTOR, f"#flagged button[aria-label='Open account {ODD_ACCOUNT}']").click()
    wait_for(browser, lambda: browser.driver.find_elements(
        By.CSS_SELECTOR, f"#history tr[data-id='{OLD_ID}']"), "the odd account's history")
    assert "1,234,567.50 CHF" in text(browser, "#account-summary")
    # ("." and ".." are refused as accounts by the API: test_dashboard_odd_accounts.py shows
    # what the page says of one stored before that rule)
    typed = browser.driver.find_element(By.ID, "account-input")
    typed.clear()
    typed.send_keys("not an account", Keys.ENTER)
    wait_for(browser, lambda: text(browser, "#account-message").startswith(
        "An account number is 1 to 34"), "the API's account rule, before any call")
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
