"""bench/webhooks.py, small: every flagged transaction's event is accepted once by the receiver
(none lost, every signature valid, each 500 retried), ingest through serve_local as it runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.webhooks import run

pytestmark = [pytest.mark.e2e]


def test_forty_flagged_transactions_deliver_forty_events_none_lost(tmp_path: Path) -> None:
    result = run(40, crash=False, workdir=tmp_path)
    assert result["complete"] and result["lost"] == 0 and result["unexpected"] == 0
    assert result["unverified"] == 0 and result["duplicates"] == 0  # no crash: none
    assert result["answered_500_then_retried"] == 2  # 1 in 20 answered 500, then accepted
    assert result["requests"] == 42
