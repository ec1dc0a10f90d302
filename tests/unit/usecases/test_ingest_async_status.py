"""GET /ingest/{request_id}: an id that is not of a request's form is not found without asking
the store (DynamoDB refuses a key longer than it holds: the route fuzz on DynamoDB Local sends
one), and a well-formed one is looked up."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.adapters.sqlite.sqlite_receipts import SqliteReceipts
from chalicelib.domain.receipts import Receipt
from chalicelib.errors import NotFoundError
from chalicelib.usecases.ingest_async import status


@pytest.mark.parametrize(("request_id", "asked"), [
    ("0" * 64, True), ("ab-12", True),
    ("0" * 65, False), ("bad id", False), ("", False), ("../x", False), ("é", False)])
def test_only_a_request_id_of_the_right_form_is_looked_up(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request_id: str, asked: bool) -> None:
    receipts = SqliteReceipts(str(tmp_path / "receipts.db"))
    looked_up: list[str] = []
    real = receipts.get

    def get(bank: str, rid: str) -> Receipt | None:
        looked_up.append(rid)
        return real(bank, rid)

    monkeypatch.setattr(receipts, "get", get)
    with pytest.raises(NotFoundError, match="no ingest request"):
        status(receipts, "demo", request_id)
    assert looked_up == ([request_id] if asked else [])
