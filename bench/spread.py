"""Figures over repeated runs: the median and the min-max range, so noise is visible."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

RUNS = 5  # repeated runs per figure by default; `--runs` changes it


@dataclass(frozen=True)
class Spread:
    """A figure measured `len(samples)` times."""

    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def low(self) -> float:
        return min(self.samples)

    @property
    def high(self) -> float:
        return max(self.samples)

    def show(self, fmt: str = ",.0f", unit: str = "") -> str:
        """`median unit (min-max, n runs)`, e.g. `19,862 tx/s (18,100-20,400, 5 runs)`;
        `unit` is written as given (" tx/s", "x")."""
        u = unit
        if len(self.samples) == 1:
            return f"{self.median:{fmt}}{u} (1 run)"
        return (f"{self.median:{fmt}}{u} ({self.low:{fmt}}-{self.high:{fmt}}, "
                f"{len(self.samples)} runs)")


def spread(samples: Sequence[float]) -> Spread:
    return Spread(tuple(samples))


def ratios(numerator: Sequence[float], baseline: Sequence[float]) -> Spread:
    """Per-run ratios (run i against the baseline of run i), so noise shared by a run cancels."""
    return Spread(tuple(n / b for n, b in zip(numerator, baseline, strict=True)))


def repeat(measure: Callable[[], float], runs: int) -> Spread:
    return Spread(tuple(measure() for _ in range(runs)))
