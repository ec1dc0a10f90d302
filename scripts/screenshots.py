"""`python -m scripts.screenshots`: the dashboard's pictures in docs/img, taken from a real run.

The demo's own traffic (three days of history, then the live burst through the queue) goes to a
fresh local API; headless Chromium signs in with the demo key and photographs the whole page at
1280 px (desktop) and 390 px (a phone). Needs Debian's chromium and chromium-driver (as the browser tests do)."""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from scripts.demo import PROJECT_DIR, LocalServer, send_demo_traffic
from simulator.console import make_console
from simulator.options import DEV_KEY
from tests.support.browser import Browser

OUT = PROJECT_DIR / "docs" / "img"
WAIT_S = 60


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
    return browser


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
            status = send_demo_traffic(server.url, console)
            for width, height, mobile in ((1280, 900, False), (390, 844, True)):
                browser = signed_in(server.url, width, height, mobile)
                try:
                    time.sleep(0.5)  # the charts' first paint
                    shot = browser.full_page_screenshot(f"dashboard-{width}", width, mobile)
                    shutil.copy(shot, args.out / f"dashboard-{width}.png")
                    console.print(f"{args.out / f'dashboard-{width}.png'}")
                finally:
                    browser.quit()
        return status
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
