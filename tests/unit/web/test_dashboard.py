"""The dashboard's files as HTTP answers: public, typed, hashed, cacheable, locked down by CSP."""

from __future__ import annotations

import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from chalicelib.domain.money import MINOR_UNITS
from chalicelib.domain.validation import ACCOUNT_PATTERN
from chalicelib.web import dashboard
from tests.conftest import Api

WEB = Path(dashboard.__file__).resolve().parent
FILES = {"app.js": "text/javascript; charset=utf-8", "format.js": "text/javascript; charset=utf-8",
         "alerts.js": "text/javascript; charset=utf-8",
         "charts.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8",
         "uplot.min.js": "text/javascript; charset=utf-8",
         "uplot.min.css": "text/css; charset=utf-8"}


class Links(HTMLParser):
    """Every script and style sheet the page loads, and anything inline that CSP would block."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.inline += [f"{tag} {name}" for name, _ in attrs
                        if name.startswith("on") or name == "style"]
        if tag == "style":
            self.inline.append("style element")
        if tag == "script":
            self._in_script = True
            if found.get("src"):
                self.scripts.append(str(found["src"]))
            else:
                self.inline.append("script without src")
        if tag == "link" and found.get("rel") == "stylesheet":
            self.styles.append(str(found["href"]))

    def handle_endtag(self, tag: str) -> None:
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append("inline script")


def test_the_page_needs_no_key_and_carries_the_security_headers(api: Api) -> None:
    answer = api.client.http.get("/dashboard")  # no x-api-key at all
    assert answer.status_code == 200
    headers = answer.headers
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Content-Security-Policy"] == (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Cache-Control"] == "no-cache"


def test_the_root_redirects_to_the_dashboard(api: Api) -> None:
    answer = api.client.http.get("/")
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/dashboard"
    assert dashboard.redirect_location("/api/") == "/api/dashboard"  # API Gateway's stage path


def test_the_page_loads_only_its_own_files_by_hash_and_nothing_inline(api: Api) -> None:
    page = Links()
    page.feed(api.client.http.get("/dashboard").body.decode())
    assert page.inline == []
    assert len(page.scripts) == 5 and len(page.styles) == 2
    # uPlot, then the pure formatting, the charts and the page that uses them (all deferred)
    assert [re.sub(r"^dashboard/static/|\?v=.*$", "", link) for link in page.scripts] == [
        "uplot.min.js", "format.js", "charts.js", "alerts.js", "app.js"]
    for link in page.scripts + page.styles:
        match = re.fullmatch(r"dashboard/static/([a-z.]+)\?v=([0-9a-f]{16})", link)
        assert match, link  # relative, so it also works under API Gateway's /api/ stage
        name, digest = match.groups()
        answer = api.client.http.get("/" + link)
        assert answer.status_code == 200
        assert answer.headers["Content-Type"] == FILES[name]
        assert hashlib.sha256(answer.body).hexdigest()[:16] == digest
        assert answer.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", ["/dashboard", "/dashboard/static/app.js",
                                  "/dashboard/static/uplot.min.css"])
def test_a_current_etag_is_answered_304_and_a_stale_one_200(api: Api, path: str) -> None:
    first = api.client.http.get(path)
    etag = first.headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{16}"', etag)
    again = api.client.http.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.body == b""
    assert again.headers["ETag"] == etag
    weak = api.client.http.get(path, headers={"If-None-Match": f'"other", W/{etag}'})
    assert weak.status_code == 304
    stale = api.client.http.get(path, headers={"If-None-Match": '"0000000000000000"'})
    assert stale.status_code == 200 and stale.body == first.body


def test_a_file_asked_for_without_its_hash_is_revalidated(api: Api) -> None:
    answer = api.client.http.get("/dashboard/static/app.css?v=old")
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize(("path", "status"), [
    ("/dashboard/static/index.html", 404), ("/dashboard/static/..%2Fapp.py", 404),
    ("/dashboard/static/uplot.LICENSE", 404), ("/dashboard/static/app.js?x=1", 400)])
def test_anything_but_the_dashboards_files_is_a_4xx_in_the_error_shape(api: Api, path: str,
                                                                 status: int) -> None:
    answer = api.client.http.get(path)
    assert answer.status_code == status
    assert set(json.loads(answer.body)) == {"Code", "Message", "Details"}


@pytest.mark.parametrize("refresh", ["1", "30", "3600", "0060"])
def test_a_refresh_period_in_seconds_is_accepted(api: Api, refresh: str) -> None:
    answer = api.client.http.get(f"/dashboard?refresh={refresh}")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/html; charset=utf-8"


@pytest.mark.parametrize("query", ["refresh=0", "refresh=3601", "refresh=-5", "refresh=1.5",
                                   "refresh=", "refresh=abc", "refresh=%D9%A3", "refresh=00001",
                                   "refresh=1e3", "range=24", "refresh=5&x=1"])
def test_a_bad_refresh_period_or_an_unknown_parameter_is_400_in_the_error_shape(
        api: Api, query: str) -> None:
    answer = api.client.http.get(f"/dashboard?{query}")
    assert answer.status_code == 400
    body = json.loads(answer.body)
    assert set(body) == {"Code", "Message", "Details"} and body["Details"]


@pytest.mark.parametrize("name", ["app.js", "format.js", "charts.js", "alerts.js"])
def test_the_scripts_render_data_as_text_only(name: str) -> None:
    script = (WEB / name).read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                 "new Function", "setAttribute(\"style", "setTimeout(\"", "fetch("):
        if not (name == "app.js" and sink == "fetch("):
            assert sink not in script, sink


def test_the_page_script_adds_a_credential_in_one_place_only() -> None:
    script = (WEB / "app.js").read_text()
    assert "textContent" in script
    assert script.count("function authHeaders()") == 1  # the one place a credential is added
    assert script.count("authHeaders()") == 2  # defined once, used by api() alone
    assert script.count("x-api-key") == 1 and script.count("fetch(") == 1


def test_uplot_is_vendored_with_its_licence_and_version() -> None:
    vendor = WEB / "vendor"
    js = (vendor / "uplot.min.js").read_text()
    assert js.startswith("/*! https://github.com/leeoniya/uPlot (v1.6.32) */")
    assert "MIT License" in (vendor / "uplot.LICENSE").read_text()
    note = (vendor / "README.md").read_text()
    assert "1.6.32" in note
    for name in ("uplot.min.js", "uplot.min.css"):
        digest = hashlib.sha256((vendor / name).read_bytes()).hexdigest()
        assert digest in note, name  # the note records what was copied from the npm tarball


def test_the_dashboards_currency_digits_are_the_apis() -> None:
    script = (WEB / "format.js").read_text()
    table = re.search(r"MINOR_DIGITS = Object\.freeze\(\{([^}]*)\}\)", script)
    default = re.search(r"DEFAULT_DIGITS = (\d+);", script)
    assert table and default
    listed = {code: int(n) for code, n in re.findall(r"([A-Z]{3}): (\d+)", table.group(1))}
    assert {code: listed.get(code, int(default.group(1))) for code in MINOR_UNITS} == MINOR_UNITS
    assert set(listed) <= set(MINOR_UNITS)


def test_the_dashboards_account_rule_is_the_apis() -> None:
    rule = re.search(r"const ACCOUNT_RULE = /\^(.*)\$/;", (WEB / "app.js").read_text())
    # JavaScript has no \Z: its `$` inside the lookahead is the same end of the text here
    assert rule and rule.group(1).replace("$)", "\\Z)") == ACCOUNT_PATTERN.pattern
