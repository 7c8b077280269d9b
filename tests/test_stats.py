"""The one percentile (tests/stats.py) of the simulator's figures and the benchmarks."""

import pytest

from tests.stats import percentile


def test_nearest_rank_is_a_measured_value():
    ten = [float(v) for v in range(10, 0, -1)]  # unsorted on purpose
    assert percentile(ten, 90) == 9.0  # the 9th smallest of 10
    assert percentile(ten, 95) == 10.0
    assert percentile(ten, 50) == 5.0
    assert percentile(ten, 0) == 1.0 and percentile(ten, 100) == 10.0
    assert percentile(list(range(1, 21)), 95) == 19  # p95 of 20 calls: the 19th
    assert percentile([1.0, 2.0], 75) == 2.0  # never 1.75


def test_no_values_or_a_share_outside_0_to_100_is_an_error():
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)
