"""`python -m scripts.screenshots`: the dashboard's pictures in docs/img, taken from a real run.

The demo's own traffic (three days of history, then the live burst through the queue) goes to a
fresh local API; headless Chromium signs in with the demo key and photographs the page:
`dashboard-1280.png` (the whole page on a desktop, last 24 hours), `dashboard-1280-hour.png`
(the first screen after a click on the busiest hour of the history) and `dashboard-390.png` (a
phone's first two screens). Needs Debian's chromium and chromium-driver, as the browser tests
do (and a CJK font such as fonts-ipafont-gothic, or the simulator's Japanese names show as
boxes)."""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
import urllib.request
from pathlib import Path

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from scripts.demo import PROJECT_DIR, LocalServer, send_demo_traffic
from simulator.console import make_console
from simulator.options import DEV_KEY
from tests.support.browser import Browser

OUT = PROJECT_DIR / "docs" / "img"
WAIT_S = 60
PHONE = (390, 844)  # CSS pixels of a common phone


def signed_in(url: str, width: int, height: int, mobile: bool) -> Browser:
    """A Chromium at exactly `width` CSS pixels, signed in, with the figures loaded."""
    browser = Browser(1280, 900)
    browser.viewport(width, height, mobile)
    driver = browser.driver
    driver.get(url + "/dashboard")
    WebDriverWait(driver, WAIT_S).until(lambda d: d.find_element(By.ID, "api-key"))
    driver.find_element(By.ID, "api-key").send_keys(DEV_KEY)
    driver.find_element(By.CSS_SELECTOR, "#signin-form button[type=submit]").click()
    WebDriverWait(driver, WAIT_S).until(
        lambda d: d.find_element(By.ID, "money-chart").get_attribute("data-currency"))
    time.sleep(0.5)  # the charts' first paint
    return browser


def click_busiest_hour(browser: Browser, url: str) -> None:
    """Click the bar of the busiest hour before the last three (those hold the live burst)."""
    driver = browser.driver
    chart = driver.find_element(By.ID, "chart")
    section = driver.find_element(By.ID, "window")
    since, until = section.get_attribute("data-since"), section.get_attribute("data-until")
    query = f"?since={since}&until={until}"
    request = urllib.request.Request(f"{url}/analytics/series{query}",
                                     headers={"x-api-key": DEV_KEY})
    with urllib.request.urlopen(request, timeout=30) as response:
        hours = json.loads(response.read())["hours"]
    index = max(range(len(hours) - 3), key=lambda i: hours[i]["count"])
    over = chart.find_element(By.CSS_SELECTOR, ".u-over")
    width = over.size["width"]
    ActionChains(driver).move_to_element_with_offset(
        over, round((index + 0.5) * width / len(hours) - width / 2), 0).click().perform()
    picked = hours[index]["hour"]
    WebDriverWait(driver, WAIT_S).until(  # the heading and tiles are that hour's
        lambda d: d.find_element(By.ID, "window").get_attribute("data-focus") == picked
        and d.find_element(By.ID, "window").get_attribute("data-since") == picked)
    time.sleep(0.5)


def take(url: str, out: Path) -> list[Path]:
    """The three pictures, written to `out`."""
    made = []
    browser = signed_in(url, 1280, 900, False)
    try:
        made.append(shutil.copy(browser.full_page_screenshot("dashboard-1280", 1280),
                                out / "dashboard-1280.png"))
        click_busiest_hour(browser, url)
        made.append(shutil.copy(browser.screenshot("dashboard-1280-hour"),
                                out / "dashboard-1280-hour.png"))
    finally:
        browser.quit()
    browser = signed_in(url, PHONE[0], 2 * PHONE[1], True)
    try:
        made.append(shutil.copy(browser.screenshot("dashboard-390"), out / "dashboard-390.png"))
    finally:
        browser.quit()
    return [Path(p) for p in made]


def main(argv: list[str] | None = None) -> int:
    """Take the pictures; the exit status is the demo traffic's (0: as expected)."""
    parser = argparse.ArgumentParser(prog="python -m scripts.screenshots", description=__doc__)
    parser.add_argument("--out", type=Path, default=OUT, help=f"where to write (default {OUT})")
    args = parser.parse_args(argv)
    console = make_console()
    workdir = tempfile.mkdtemp(prefix="txn-shots-")
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        with LocalServer(str(Path(workdir) / "ledger.db")) as server:
            status = send_demo_traffic(server.url, console, workdir)
            for path in take(server.url, args.out):
                console.print(f"{path} ({path.stat().st_size:,} bytes)", highlight=False)
        return status
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
