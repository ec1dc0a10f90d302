"""Headless Chromium for the dashboard tests: Debian's chromium + chromium-driver, via Selenium."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service

CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"]
SCREENSHOT_DIR = Path(tempfile.gettempdir()) / "txn-dashboard-screenshots"


def chromium_paths() -> tuple[str, str] | None:
    """(browser, driver) executables, or None when Chromium is not installed."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


class Browser:
    """One Chromium with its own throw-away profile; `quit()` removes both."""

    def __init__(self, width: int = 1280, height: int = 800) -> None:
        self.size = (width, height)
        paths = chromium_paths()
        assert paths is not None, "apt-get install chromium chromium-driver"
        self.profile = tempfile.mkdtemp(prefix="txn-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = paths[0]
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self.profile}")
        options.add_argument(f"--window-size={width},{height}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        # an explicit driver path: Selenium Manager would otherwise try to download one
        self.driver = webdriver.Chrome(options=options, service=Service(executable_path=paths[1]))
        self.logs: list[dict[str, Any]] = []

    def console(self) -> list[dict[str, Any]]:
        """Every console entry so far (Chromium hands each one out once, so they are kept)."""
        self.logs.extend(self.driver.get_log("browser"))
        return list(self.logs)

    def errors(self, allowed: tuple[str, ...] = ()) -> list[str]:
        """SEVERE console entries (CSP violations, exceptions) minus the expected ones."""
        return [e["message"] for e in self.console()
                if e.get("level") == "SEVERE" and not any(a in e["message"] for a in allowed)]

    def screenshot(self, name: str) -> Path:
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOT_DIR / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def viewport(self, width: int, height: int, mobile: bool = False) -> None:
        """An exact CSS viewport (the window size would include Chromium's own frame)."""
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})

    def full_page_screenshot(self, name: str, width: int, mobile: bool = False) -> Path:
        """The whole page at `width` CSS pixels: the viewport grows to the document's height."""
        self.viewport(width, 800, mobile)
        height = int(self.driver.execute_script("return document.documentElement.scrollHeight"))
        self.viewport(width, height, mobile)
        try:
            return self.screenshot(name)
        finally:
            self.viewport(width, 800, mobile)

    def screens(self, name: str, width: int, height: int, mobile: bool = False,
                limit: int = 8) -> list[Path]:
        """The page one screen at a time, top to bottom, as a person scrolls it."""
        self.viewport(width, height, mobile)
        total = int(self.driver.execute_script("return document.documentElement.scrollHeight"))
        paths = []
        for part, top in enumerate(range(0, total, height)):
            if part >= limit:
                break
            self.driver.execute_script("window.scrollTo(0, arguments[0])", top)
            paths.append(self.screenshot(f"{name}-part{part + 1}"))
        self.driver.execute_script("window.scrollTo(0, 0)")
        return paths

    def fresh_window(self) -> None:
        """What a test can see of a new profile, without starting Chromium again (a second or
        more a test, most of a short browser test's time): one new tab (a top-level browsing
        context of its own: its own sessionStorage, where the page keeps its credential, and no
        emulated viewport), every other closed, no cookie, an empty HTTP cache, and the console
        log started again. A tab, not a window: a new window cost Chromium 0.8 s of CPU (its
        own browser UI), a tab 0.2 s."""
        old = self.driver.window_handles
        self.driver.switch_to.new_window("tab")
        fresh = self.driver.current_window_handle
        for handle in old:
            self.driver.switch_to.window(handle)
            self.driver.close()  # an alert still open goes with its tab
        self.driver.switch_to.window(fresh)
        self.driver.set_window_size(*self.size)
        self.driver.execute_cdp_cmd("Network.clearBrowserCache", {})
        self.driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
        self.driver.get_log("browser")  # what earlier tests logged
        self.logs = []

    def leave(self) -> None:
        """A blank page: the dashboard's refresh loop would run on until the next test."""
        self.driver.get("about:blank")

    def quit(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)


class Chromium:
    """One Chromium per test process, a fresh window for each test; a test that fails leaves
    it to be replaced, so the next starts from a new profile whatever state it left."""

    def __init__(self) -> None:
        self.browser: Browser | None = None

    def take(self) -> Browser:
        if self.browser is None:
            self.browser = Browser(1280, 800)
        else:
            try:
                self.browser.fresh_window()
            except WebDriverException:  # it crashed or hung up: a new one
                self.close()
                self.browser = Browser(1280, 800)
        return self.browser

    def close(self) -> None:
        if self.browser is not None:
            browser, self.browser = self.browser, None
            browser.quit()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Chromium]:
    """The test process's Chromium (tests/browser/conftest.py makes it available there)."""
    made = Chromium()
    yield made
    made.close()


@contextmanager
def browser_for(request: pytest.FixtureRequest) -> Iterator[Browser]:
    """Chromium for one test, as a fresh profile would show it (`Browser.fresh_window`); a
    screenshot and the console log are saved when the test fails."""
    pool: Chromium = request.getfixturevalue("chromium")
    made = pool.take()
    failed_before = request.session.testsfailed
    try:
        yield made
    finally:
        if request.session.testsfailed == failed_before:
            try:
                made.leave()
            except WebDriverException:  # the next test finds out, and starts a new one
                pass
        else:
            try:
                shot = made.screenshot(f"FAILED-{request.node.name}")
                log = shot.with_suffix(".console.json")
                log.write_text(json.dumps(made.console(), indent=1))
                print(f"\nscreenshot: {shot}\nconsole: {log}")
            finally:
                pool.close()
