"""Every store the contract suite runs against. A new adapter is one more entry here."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from chalicelib.adapters.sqlite.sqlite_store import SqliteStore
from chalicelib.ports.store import Store
from tests.support.aws_calls import moto_dynamo_store
from tests.support.dynamodb_local import dynamodb_local_store


@contextmanager
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """The real SQLite store on a file in the test's own directory."""
    yield SqliteStore(str(tmp_path / "ledger.db"))


STORES: dict[str, Callable[[Path], AbstractContextManager[Store]]] = {
    "sqlite": sqlite_store,
    "dynamodb": moto_dynamo_store,  # DynamoStore on a small moto table
    "dynamodb-local": dynamodb_local_store,  # the same on Amazon's DynamoDB Local
}

# Entries that need an emulator process: marked `emulator` (deselect with -m "not emulator").
EMULATED = {"dynamodb-local"}

# The stores on which the queue's consumer runs as on AWS: on DynamoDB the sequenced consumer
# (QUEUE_GROUPS > 0) puts records with PartiQL INSERTs, which moto cannot run (its PartiQL
# takes no parameter in an INSERT), so its DynamoDB is Amazon's DynamoDB Local. For
# `@pytest.mark.parametrize("store", CONSUMER_STORES, indirect=True)`.
CONSUMER_STORES = ["sqlite", pytest.param("dynamodb-local", marks=pytest.mark.emulator)]
