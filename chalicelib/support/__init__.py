"""Small helpers with no domain meaning: backoff with jitter, a TTL cache."""
