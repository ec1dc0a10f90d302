"""The dashboard shows the bank's active rule set with its version, and each flag's evidence
on click, in headless Chromium against the local server."""

from __future__ import annotations

import json
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from scripts.demo import LocalServer
from simulator.options import DEV_KEY
from tests.browser.test_dashboard import Served, recent, sign_in, text, wait_for
from tests.support.browser import Browser, browser_for, chromium_paths

pytestmark = [
    pytest.mark.browser, pytest.mark.e2e,
    pytest.mark.skipif(chromium_paths() is None,
                       reason="needs chromium + chromium-driver (.ci/run installs them)"),
]
NIGHT = {"name": "night_wire", "when": 'channel == "wire" and amount > 1000.00',
         "description": "a large wire"}


def put_rules(served: Served, rules: list[dict[str, str]]) -> None:
    request = urllib.request.Request(served.url + "/rules", method="PUT",
                                     data=json.dumps({"rules": rules}).encode(),
                                     headers={"x-api-key": DEV_KEY,
                                              "content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert json.loads(response.read())["version"] == 1


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    sqlite_path = str(Path(tempfile.mkdtemp(prefix="txn-dash-rules-")) / "ledger.db")
    with LocalServer(sqlite_path, env={"KEY_CACHE_TTL_S": "0"}) as server:
        done = Served(server, sqlite_path)
        put_rules(done, [NIGHT])
        done.post([{"id": "wire-1", "account": "W-1", "amount": "2500.00", "type": "debit",
                    "channel": "wire", "timestamp": recent(5)},
                   {"id": "card-1", "account": "W-1", "amount": "25.00", "type": "debit",
                    "channel": "card", "timestamp": recent(4)}])
        yield done


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[Browser]:
    with browser_for(request) as made:
        yield made


def test_the_active_rule_set_and_a_flags_evidence_are_shown(browser: Browser,
                                                            served: Served) -> None:
    sign_in(browser, served)
    wait_for(browser, lambda: text(browser, "#ruleset-version").startswith("version 1"),
             "the rule set's version")
    assert "by key:" in text(browser, "#ruleset-version")
    rows = browser.driver.find_elements(By.CSS_SELECTOR, "#ruleset tbody tr[data-rule]")
    assert [r.get_attribute("data-rule") for r in rows] == ["night_wire"]
    assert NIGHT["when"] in rows[0].text
    flag = wait_for(browser, lambda: browser.driver.find_element(
        By.CSS_SELECTOR, "#flagged tr[data-id='wire-1'] details.flag[data-rule='night_wire']"),
        "the flagged wire")
    evidence = flag.find_element(By.CSS_SELECTOR, "dl.evidence")
    assert not evidence.is_displayed()  # closed until clicked
    flag.find_element(By.TAG_NAME, "summary").click()
    wait_for(browser, evidence.is_displayed, "the evidence opens on click")
    shown = evidence.text
    assert "rule set version" in shown and "2500.00" in shown and "wire" in shown
    assert browser.errors() == []
