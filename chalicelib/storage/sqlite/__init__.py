"""The SQLite adapter: schema, buckets, checkpoint, store."""

from chalicelib.storage.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
