"""Use cases: what the API and the consumer do, in plain values over the ports."""
