"""The one TTL cache: hits within the TTL, a reload after it, misses remembered only on request."""

from __future__ import annotations

from chalicelib.support.ttl_cache import MAX_ENTRIES, TtlCache


class Source:
    def __init__(self, values: dict[str, str | None]) -> None:
        self.values = values
        self.loads: list[str] = []

    def load(self, key: str) -> str | None:
        self.loads.append(key)
        return self.values.get(key)


def test_a_value_is_loaded_once_within_its_ttl_and_again_after() -> None:
    now = [100.0]
    cache: TtlCache[str] = TtlCache(10, clock=lambda: now[0])
    source = Source({"k": "v"})
    assert cache.get("k", source.load) == "v"
    now[0] = 109.9
    assert cache.get("k", source.load) == "v"
    assert source.loads == ["k"]
    now[0] = 110.0
    source.values["k"] = "w"
    assert cache.get("k", source.load) == "w"
    assert source.loads == ["k", "k"]


def test_a_miss_is_asked_again_unless_misses_are_remembered() -> None:
    source = Source({})
    forgetful: TtlCache[str] = TtlCache(10)
    assert forgetful.get("k", source.load) is None
    assert forgetful.get("k", source.load) is None
    assert source.loads == ["k", "k"]
    remembering: TtlCache[str] = TtlCache(10, remember_misses=True)
    source.loads.clear()
    assert remembering.get("k", source.load) is None
    assert remembering.get("k", source.load) is None
    assert source.loads == ["k"]


def test_a_zero_ttl_always_asks() -> None:
    source = Source({"k": "v"})
    cache: TtlCache[str] = TtlCache(0)
    cache.get("k", source.load)
    cache.get("k", source.load)
    assert source.loads == ["k", "k"]


def test_the_cache_starts_over_past_its_bound() -> None:
    cache: TtlCache[str] = TtlCache(60)
    source = Source({str(i): "v" for i in range(MAX_ENTRIES + 1)})
    for i in range(MAX_ENTRIES + 1):
        cache.get(str(i), source.load)
    cache.get("0", source.load)
    assert source.loads.count("0") == 2  # forgotten when the bound was reached
