"""Choosing and building the store the settings name; adapters are imported only when chosen."""

from __future__ import annotations

from chalicelib.config import Settings
from chalicelib.ports.store import Store


def open_store(settings: Settings) -> Store:
    """The store for these settings: SQLite on disk by default, DynamoDB on AWS."""
    if settings.store == "dynamodb":
        from chalicelib.adapters.dynamo.dynamo_store import (
            DynamoStore,  # boto3 only when it is used
        )

        store: Store = DynamoStore.from_settings(settings)
        return store
    from chalicelib.adapters.sqlite.sqlite_store import SqliteStore

    return SqliteStore(settings.sqlite_path, settings.sqlite_synchronous)
