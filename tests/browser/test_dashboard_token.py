"""The dashboard signed in with a person's Cognito access token (a local IdP), in Chromium."""

from __future__ import annotations

import json
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By

from chalicelib.usecases.api_keys import DEMO_BANK
from scripts.demo import LocalServer
from tests.browser.test_dashboard import AUTH_NOISE, Served, recent, text, wait_for
from tests.support.browser import Browser, browser_for, chromium_paths
from tests.support.idp import LocalIdp

pytestmark = [
    pytest.mark.browser, pytest.mark.e2e,
    pytest.mark.skipif(chromium_paths() is None,
                       reason="needs chromium + chromium-driver (.ci/run installs them)"),
]
PEOPLE_CLIENT = "peopleclient1"
READ = "openid email txn-stream/read"
TOKEN_ITEM = "txn-dashboard.access-token"


class TokenServed(Served):
    """The local server with Cognito pointed at the test IdP."""

    def __init__(self, server: LocalServer, sqlite_path: str, idp: LocalIdp) -> None:
        super().__init__(server, sqlite_path)
        self.idp = idp

    def person(self, groups: list[str], **claims: Any) -> str:
        return self.idp.person_token(PEOPLE_CLIENT, groups, scope=READ, **claims)

    def get_with_token(self, path: str, token: str) -> Any:
        request = urllib.request.Request(self.url + path,
                                         headers={"authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())


@pytest.fixture(scope="module")
def served() -> Iterator[TokenServed]:
    """serve_local on a fresh SQLite file with Cognito configured, and the demo bank's data in
    two currencies, one transaction flagged."""
    sqlite_path = str(Path(tempfile.mkdtemp(prefix="txn-dash-token-")) / "ledger.db")
    with LocalIdp() as idp, LocalServer(sqlite_path, env=idp.env(PEOPLE_CLIENT)) as server:
        done = TokenServed(server, sqlite_path, idp)
        done.post([{"id": f"tok-{i:02d}", "account": f"TOK-{i % 4}",
                    "amount": "15000.00" if i == 0 else f"{i + 1}.25",
                    "currency": "EUR" if i % 2 else "GBP",
                    "type": "debit" if i % 3 else "credit", "timestamp": recent(30 - i)}
                   for i in range(12)])
        yield done


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[Browser]:
    with browser_for(request) as made:
        yield made


def sign_in_with_token(browser: Browser, served: Served, token: str) -> None:
    browser.driver.get(served.url + "/dashboard")
    wait_for(browser, lambda: browser.driver.find_element(By.ID, "api-key"), "the form")
    browser.driver.find_element(By.CSS_SELECTOR, "input[name=method][value=token]").click()
    field = browser.driver.find_element(By.ID, "access-token")
    assert field.is_displayed()
    assert not browser.driver.find_element(By.ID, "api-key").is_displayed()
    field.send_keys(token)
    browser.driver.find_element(By.CSS_SELECTOR, "#signin-form button[type=submit]").click()


def shown_tiles(browser: Browser) -> dict[str, Any]:
    return {"count": text(browser, "#tile-count .value"),
            "accounts": text(browser, "#tile-accounts .value"),
            "flagged": text(browser, "#tile-flagged .value"),
            "nets": {el.get_attribute("data-currency"):
                     el.find_element(By.CSS_SELECTOR, ".value").text
                     for el in browser.driver.find_elements(By.CSS_SELECTOR, "#tiles .net")}}


def expected_tiles(truth: dict[str, Any]) -> dict[str, Any]:
    return {"count": str(truth["count"]), "accounts": str(truth["accounts"]),
            "flagged": str(truth["flags"]["count"]),
            "nets": {code: totals["net"] for code, totals in truth["totals"].items()}}


def test_a_person_signed_in_with_a_token_sees_the_tiles_the_token_reads(
        browser: Browser, served: TokenServed) -> None:
    token = served.person([f"bank-{DEMO_BANK}"])
    truth = served.get_with_token("/analytics", token)
    assert truth == served.get("/analytics")  # the person's bank is the demo key's bank
    assert truth["count"] == 12 and set(truth["totals"]) == {"EUR", "GBP"}
    sign_in_with_token(browser, served, token)
    wait_for(browser, lambda: shown_tiles(browser) == expected_tiles(
        served.get_with_token("/analytics", token)), "tiles equal GET /analytics with the token")
    wait_for(browser, lambda: browser.driver.find_elements(
        By.CSS_SELECTOR, "#flagged tr[data-id='tok-00']"), "the flagged transaction")
    stored = browser.driver.execute_script(
        "return Object.keys(sessionStorage).map(k => [k, sessionStorage.getItem(k)])")
    assert stored == [[TOKEN_ITEM, token]]  # the token alone: never a key beside it
    browser.driver.find_element(By.ID, "sign-out").click()
    assert browser.driver.execute_script("return sessionStorage.length") == 0
    assert browser.driver.find_element(By.ID, "access-token").is_displayed()  # same way back
    assert browser.errors() == []


def test_an_expired_token_asks_to_sign_in_again_with_the_apis_reason(
        browser: Browser, served: TokenServed) -> None:
    now = int(time.time())
    expired = served.person([f"bank-{DEMO_BANK}"], iat=now - 7200, auth_time=now - 7200,
                            exp=now - 3600)
    sign_in_with_token(browser, served, expired)
    wait_for(browser, lambda: "sign in again" in text(browser, "#signin-message"),
             "the sign-in-again message")
    message = text(browser, "#signin-message")
    assert message.endswith('The API said: "the token has expired".')
    assert not browser.driver.find_element(By.ID, "board").is_displayed()
    assert browser.driver.execute_script("return sessionStorage.length") == 0
    assert browser.driver.find_element(By.ID, "access-token").is_displayed()
    browser.viewport(390, 800, mobile=True)
    print(f"\nscreenshot: {browser.screenshot('signin-token-expired-390')}")
    assert browser.errors(allowed=AUTH_NOISE) == []


def test_a_token_without_a_bank_says_there_is_no_access(browser: Browser,
                                                        served: TokenServed) -> None:
    sign_in_with_token(browser, served, served.person(["some-other-group"]))
    wait_for(browser, lambda: "no access" in text(browser, "#signin-message"), "the 403 message")
    assert 'said: "the user belongs to no bank group' in text(browser, "#signin-message")
    assert browser.driver.execute_script("return sessionStorage.length") == 0
    assert browser.errors(allowed=AUTH_NOISE) == []


def test_a_paste_that_is_no_access_token_is_refused_before_any_call(
        browser: Browser, served: TokenServed) -> None:
    sign_in_with_token(browser, served, "not a token")
    assert "does not look like an access token" in text(browser, "#signin-message")
    id_token = served.idp.mint(token_use="id", sub="x", aud=PEOPLE_CLIENT)
    field = browser.driver.find_element(By.ID, "access-token")
    field.clear()
    field.send_keys(id_token)
    browser.driver.find_element(By.CSS_SELECTOR, "#signin-form button[type=submit]").click()
    assert text(browser, "#signin-message") == "This is an ID token: paste the AccessToken instead."
    assert browser.driver.execute_script("return sessionStorage.length") == 0
    assert browser.errors() == []


@pytest.mark.parametrize(("width", "mobile"), [(1280, False), (390, True)])
def test_the_sign_in_form_fits_and_is_labelled_at_desktop_and_phone_widths(
        browser: Browser, served: TokenServed, width: int, mobile: bool) -> None:
    browser.viewport(width, 800, mobile)
    browser.driver.get(served.url + "/dashboard")
    wait_for(browser, lambda: browser.driver.find_element(By.ID, "api-key"), "the form")
    for method in ("key", "token"):
        browser.driver.find_element(By.CSS_SELECTOR,
                                    f"input[name=method][value={method}]").click()
        overflow = browser.driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0
        unlabelled = browser.driver.execute_script("""
            return [...document.querySelectorAll('input')].filter(i => !i.labels.length)
                   .map(i => i.id || i.name);""")
        assert unlabelled == []
        path = browser.screenshot(f"signin-{method}-{width}")
        print(f"\nscreenshot: {path}")
    assert browser.errors() == []
