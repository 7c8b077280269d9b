"""The one percentile of the project's reports: the dialogue simulator's figures
(tests/simulator/report.py) and the benchmarks' latencies (bench/) all use it, so a p90
or p95 means the same everywhere. Test support, so the benchmarks may import it (they
import tests' support); no test support imports bench/."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, ``q`` in 0..100: the smallest value with at least q% of the
    values at or below it (p90 of 10 values is the 9th smallest, p95 of 20 the 19th).

    A value that was measured, never an interpolation between two. ``values`` must not be
    empty (there is no percentile of nothing; callers say what they report instead)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be in 0..100, got {q}")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]
