"""The SQLite adapter: schema, buckets, checkpoint, store."""

from chalicelib.adapters.sqlite.sqlite_store import SqliteStore

__all__ = ["SqliteStore"]
