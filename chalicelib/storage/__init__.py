"""Storage adapters behind one port (`chalicelib.storage.port`)."""
