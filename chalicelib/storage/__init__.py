"""Storage adapters behind the ports of `chalicelib.storage.port` (ledger, keys, admin)."""
