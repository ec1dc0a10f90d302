"""The ingest queue: its port, and how items become messages."""
