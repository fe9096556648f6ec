"""Radix selection gives the value np.partition puts at each rank, on the values quality numbers see."""

from __future__ import annotations

import numpy as np
import pytest

from core.qc.selection import kth_smallest
from core.qc.stats import RADIX_MIN_VALUES, median, quantile, quantiles


def samples(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "read noise": rng.normal(0.0, 3.0, n),
        "dithered bias": 1000 + rng.integers(-5, 5, n) + rng.random(n) - 0.5,
        "negative": -np.abs(rng.normal(0.0, 1.0, n)),
        "constant": np.full(n, 7.25),
        "signed zeros": np.where(rng.random(n) < 0.5, -0.0, 0.0),
        "flat with saturation": np.minimum(rng.normal(30000, 3000, n), 65535.0),
        "huge and tiny": rng.choice([-3e38, -1e-38, 1e-45, 0.0, 5.0, 3e38], n),
    }


@pytest.mark.parametrize("n", [1, 2, 17, 1000, RADIX_MIN_VALUES, 200_003])
def test_every_rank_asked_is_the_partitions_value(n):
    for name, values in samples(n).items():
        values = values.astype(np.float32)
        ranks = sorted({0, n // 3, n // 2, n - 1, round(0.99 * (n - 1)), round(0.01 * (n - 1))})
        expected = [np.partition(values, k)[k] for k in ranks]
        assert kth_smallest(values, ranks).tolist() == expected, name


def test_quantiles_are_the_same_whichever_way_they_are_selected():
    values = np.random.default_rng(3).normal(200.0, 3.0, 50_000).astype(np.float32)
    qs = (0.01, 0.05, 0.5, 0.95, 0.99)
    by_partition = [float(np.partition(values, round(q * (values.size - 1)))[round(q * (values.size - 1))]) for q in qs]
    assert quantiles(values, qs) == by_partition
    assert [quantile(values, q) for q in qs] == by_partition
    assert median(values) == by_partition[2]
    with_nan = np.append(values, [np.nan, np.inf])
    assert quantiles(with_nan, qs) == by_partition
    assert np.isnan(quantile(np.full(10_000, np.nan, np.float32), 0.5))
