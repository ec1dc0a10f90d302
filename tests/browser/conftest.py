"""The browser tests share one Chromium per test process (a fresh window for each test)."""

from tests.support.browser import chromium

__all__ = ["chromium"]  # the fixture
