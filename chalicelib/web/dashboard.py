"""The dashboard's files: the HTML shell and its assets, with hashes, ETags and security headers."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from chalicelib.errors import FieldError, NotFoundError, ValidationError

WEB_DIR = Path(__file__).resolve().parent
ASSET_PREFIX = "dashboard/static/"  # relative: works under /api/ on API Gateway and at / locally
# name in the URL -> (file under chalicelib/web/, content type)
ASSETS: dict[str, tuple[str, str]] = {
    "format.js": ("format.js", "text/javascript; charset=utf-8"),
    "charts.js": ("charts.js", "text/javascript; charset=utf-8"),
    "alerts.js": ("alerts.js", "text/javascript; charset=utf-8"),
    "app.js": ("app.js", "text/javascript; charset=utf-8"),
    "app.css": ("app.css", "text/css; charset=utf-8"),
    "uplot.min.js": ("vendor/uplot.min.js", "text/javascript; charset=utf-8"),
    "uplot.min.css": ("vendor/uplot.min.css", "text/css; charset=utf-8"),
}
SHELL = "index.html"
# uPlot sizes and places its elements through element.style (CSSOM), which style-src does not
# govern, so no 'unsafe-inline' is needed; the page itself has no inline script or style.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate CSP 2
}
IMMUTABLE = "public, max-age=31536000, immutable"  # the URL carries the content hash
REVALIDATE = "no-cache"  # may be stored, but asked again (a 304 when the ETag still matches)
# `/dashboard?refresh=N`: the page refreshes every N seconds (app.js reads it; 5 without it). A
# wall screen wants a minute; a test wants a second. More often than 1 s would only load the API.
REFRESH_S = range(1, 3601)


@dataclass(frozen=True)
class Answer:
    """What app.py turns into a Response."""

    status: int
    headers: dict[str, str]
    body: str


@dataclass(frozen=True)
class _File:
    body: str
    content_type: str
    digest: str  # the first 16 hex digits of the SHA-256 of the body

    @property
    def etag(self) -> str:
        return f'"{self.digest}"'


def _load(relative: str, content_type: str) -> _File:
    body = (WEB_DIR / relative).read_text(encoding="utf-8")
    return _File(body, content_type, hashlib.sha256(body.encode()).hexdigest()[:16])


@functools.cache
def _asset(name: str) -> _File:
    """Read once per process, on first request (nothing is read at import time)."""
    relative, content_type = ASSETS[name]
    return _load(relative, content_type)


@functools.cache
def _shell() -> _File:
    """index.html with each `{{name}}` replaced by the asset's URL with its hash, so a deploy
    that changes an asset changes the shell's links and no browser keeps the old file."""
    page = (WEB_DIR / SHELL).read_text(encoding="utf-8")
    for name in ASSETS:
        page = page.replace("{{" + name + "}}", f"{ASSET_PREFIX}{name}?v={_asset(name).digest}")
    body_hash = hashlib.sha256(page.encode()).hexdigest()[:16]
    return _File(page, "text/html; charset=utf-8", body_hash)


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


def _answer(file: _File, cache_control: str, if_none_match: str | None) -> Answer:
    headers = {**SECURITY_HEADERS, "Cache-Control": cache_control, "ETag": file.etag}
    if _matches(if_none_match, file.etag):
        return Answer(304, headers, "")
    return Answer(200, {**headers, "Content-Type": file.content_type}, file.body)


def _refuse_unknown(params: Mapping[str, str], known: set[str]) -> None:
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValidationError("unknown query parameters",
                              [FieldError(n[:64], "unknown query parameter") for n in unknown])


def check_page_params(params: Mapping[str, str] | None) -> None:
    """The page's one parameter, `refresh` (whole seconds); anything else is a 400."""
    params = params or {}
    _refuse_unknown(params, {"refresh"})
    refresh = params.get("refresh")
    if refresh is not None and not (refresh.isascii() and refresh.isdigit()
                                    and len(refresh) <= 4 and int(refresh) in REFRESH_S):
        raise ValidationError("invalid refresh period", [FieldError(
            "refresh", f"a whole number of seconds from {REFRESH_S[0]} to {REFRESH_S[-1]}")])


def shell(params: Mapping[str, str] | None, if_none_match: str | None) -> Answer:
    """The page; revalidated on every visit so a new deploy's asset links are seen at once."""
    check_page_params(params)
    return _answer(_shell(), REVALIDATE, if_none_match)


def asset(name: str, params: Mapping[str, str] | None, if_none_match: str | None) -> Answer:
    """A script or style sheet; cached for a year when asked for by its current hash."""
    if name not in ASSETS:
        raise NotFoundError(f"no dashboard file named {name[:64]}")
    params = params or {}
    _refuse_unknown(params, {"v"})
    file = _asset(name)
    fresh = params.get("v") == file.digest
    return _answer(file, IMMUTABLE if fresh else REVALIDATE, if_none_match)


def canonical_location(path: str | None, params: Mapping[str, str] | None) -> str | None:
    """Where `/dashboard/` belongs, or None when the path is already `/dashboard`. The page's
    links (its files, its API calls) are relative to `dashboard`, so behind a trailing slash
    every one would miss (API Gateway and chalice local serve `/dashboard/` as `/dashboard`)."""
    if not path or path == "/" or not path.endswith("/"):
        return None
    check_page_params(params)  # refused here as at /dashboard: only valid ASCII is sent on
    query = urlencode(sorted((params or {}).items()))
    return path.rstrip("/") + ("?" + query if query else "")


def redirect_location(path: str | None) -> str:
    """Where `/` sends a browser: the dashboard beside it (API Gateway's path has the stage)."""
    base = (path or "/").rstrip("/")
    return f"{base}/dashboard"
