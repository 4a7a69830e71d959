"""Order statistics for the benchmark: medians and nearest-rank percentiles, pure functions."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["median", "percentile", "slope", "summary"]


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0 < q <= 100) of a non-empty sample."""
    if not values:
        raise ValueError("percentile of an empty sample")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    """The median of a non-empty sample (mean of the two middle values when even)."""
    if not values:
        raise ValueError("median of an empty sample")
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2


def slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """The least-squares slope of ``ys`` against ``xs``."""
    n = len(xs)
    if n != len(ys) or n < 2:
        raise ValueError("slope needs two or more points")
    mx = sum(xs) / n
    my = sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var


def summary(values: Sequence[float]) -> dict[str, float]:
    """``{"n", "p50", "p99", "min", "max"}`` of a non-empty sample."""
    return {
        "n": len(values),
        "p50": median(values),
        "p99": percentile(values, 99),
        "min": min(values),
        "max": max(values),
    }
