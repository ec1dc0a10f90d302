"""scripts/mutants_emulated.py's own logic without running anything: a mutant's function as
mutmut's stats name it, and the order that makes a run cut short an even sample."""

from __future__ import annotations

from scripts.mutants_emulated import function_of, spread


def test_a_mutant_is_judged_by_the_tests_that_reached_its_function() -> None:
    assert function_of("chalicelib.usecases.ingest_async.x_consume_run__mutmut_107") == (
        "chalicelib.usecases.ingest_async.x_consume_run")
    assert function_of("chalicelib.domain.rules.xǁParamsǁvalues__mutmut_8") == (
        "chalicelib.domain.rules.xǁParamsǁvalues")


def test_a_spread_run_takes_every_kth_mutant_first_and_each_once() -> None:
    names = [f"m{i}" for i in range(7)]
    assert spread(names, 3) == ["m0", "m3", "m6", "m1", "m4", "m2", "m5"]
    assert spread(names, 1) == names
