"""The route fuzz's other big shards (test_fuzz_routes.py says what it checks): a module of their
own, so pytest-xdist (`--dist loadfile`) runs them beside the first module's, not after them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.api.test_fuzz_routes import MORE_SHARDS, _param, run_fuzz


@pytest.mark.parametrize(("store_name", "shard", "examples"),
                         [_param(*shard) for shard in MORE_SHARDS])
def test_every_route_and_parameter_answers_below_500_in_shape_storing_nothing_refused(
        store_name: str, shard: int, examples: int, tmp_path: Path) -> None:
    run_fuzz(store_name, shard, examples, tmp_path)
