"""edgekit.measure.stats on seeded samples: percentiles, the t-based CI of the mean, ratios and verdicts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgekit.measure.stats import geometric_mean_ratio, latency_stats, paired_ratio, t_quantile, unpaired_ratio
from edgekit.measure.stats import verdict


def test_latency_stats_match_numpy():
    samples = list(np.random.default_rng(1).lognormal(2.0, 0.3, 57))
    stats = latency_stats(samples)
    values = np.asarray(samples)
    assert stats["n"] == 57
    for name, q in (("p50", 50), ("p90", 90), ("p99", 99)):
        assert stats[name] == pytest.approx(np.percentile(values, q), rel=1e-12)
    assert stats["min"] == values.min() and stats["max"] == values.max()
    assert stats["mean"] == pytest.approx(values.mean(), rel=1e-12)
    assert stats["stdev"] == pytest.approx(values.std(ddof=1), rel=1e-12)
    iqr = (np.percentile(values, 75) - np.percentile(values, 25)) / np.median(values)
    assert stats["iqr_over_median"] == pytest.approx(iqr, rel=1e-12)
    low, high = stats["ci95_mean"]
    assert low < stats["mean"] < high
    assert (high - low) / 2 == pytest.approx(1.96 * values.std(ddof=1) / math.sqrt(57), rel=1e-12)


def test_ci_of_small_sample_uses_student_t():
    samples = [10.0, 11.0, 12.0, 13.0]
    low, high = latency_stats(samples)["ci95_mean"]
    assert (high - low) / 2 == pytest.approx(3.182 * np.std(samples, ddof=1) / 2, rel=1e-12)


def test_single_sample_has_no_interval():
    stats = latency_stats([5.0])
    assert stats["p50"] == 5.0 and stats["stdev"] == 0.0
    assert stats["ci95_mean"] is None  # JSON has no NaN; strict readers reject it
    with pytest.raises(ValueError):
        latency_stats([])


@pytest.mark.parametrize("n", [5, 12, 30, 60])
def test_ci_of_mean_covers_true_mean_at_95_percent(n):
    """On seeded normal samples the interval holds the true mean 95% of the time; with the normal 1.96
    instead of t, n=5 would give about 88%."""
    rng = np.random.default_rng(n)
    trials = 1500
    hits = 0
    for _ in range(trials):
        low, high = latency_stats(list(rng.normal(10.0, 2.0, n)))["ci95_mean"]
        hits += low <= 10.0 <= high
    assert abs(hits / trials - 0.95) < 0.02


def test_t_quantile_falls_towards_normal():
    values = [t_quantile(dof) for dof in range(1, 40)]
    assert values == sorted(values, reverse=True)
    assert t_quantile(1) == pytest.approx(12.706) and t_quantile(1000) == pytest.approx(1.96)


def test_paired_ratio_of_exact_multiple():
    fast = list(np.random.default_rng(2).lognormal(1.0, 0.2, 25))
    result = paired_ratio([v * 1.5 for v in fast], fast)
    assert result["median"] == pytest.approx(1.5) and result["ci95"] == pytest.approx([1.5, 1.5])
    assert result["paired"] is True and result["n"] == 25


def test_paired_ratio_cancels_drift():
    """Both sides drift together by 2x over the run; the per-round ratio still finds 1.25 tightly."""
    rng = np.random.default_rng(3)
    drift = np.linspace(1.0, 2.0, 40)
    fast = 8.0 * drift * np.exp(rng.normal(0, 0.01, 40))
    slow = 10.0 * drift * np.exp(rng.normal(0, 0.01, 40))
    result = paired_ratio(list(slow), list(fast))
    low, high = result["ci95"]
    assert low <= 1.25 <= high and high - low < 0.02
    assert result["p10"] <= result["median"] <= result["p90"]
    with pytest.raises(ValueError):
        paired_ratio([1.0, 2.0], [1.0])


def test_unpaired_ratio_point_and_determinism():
    rng = np.random.default_rng(4)
    slow, fast = list(rng.lognormal(np.log(10), 0.05, 30)), list(rng.lognormal(np.log(8), 0.05, 20))
    result = unpaired_ratio(slow, fast, seed=7)
    assert result["median"] == pytest.approx(np.median(slow) / np.median(fast), rel=1e-12)
    assert result["ci95"][0] < result["median"] < result["ci95"][1]
    assert result["paired"] is False and result["n"] == 20
    assert unpaired_ratio(slow, fast, seed=7) == result
    with pytest.raises(ValueError):
        unpaired_ratio([], fast)


def test_unpaired_ratio_ci_covers_true_ratio():
    rng = np.random.default_rng(5)
    trials, hits = 150, 0
    for trial in range(trials):
        slow = 12.5 * np.exp(rng.normal(0, 0.03, 30))
        fast = 10.0 * np.exp(rng.normal(0, 0.03, 30))
        low, high = unpaired_ratio(list(slow), list(fast), seed=trial)["ci95"]
        hits += low <= 1.25 <= high
    assert hits / trials >= 0.88


def test_geometric_mean_ratio():
    ratios = [{"median": 2.0, "ci95": [1.8, 2.2]}, {"median": 0.5, "ci95": [0.45, 0.55]}]
    result = geometric_mean_ratio(ratios)
    assert result["median"] == pytest.approx(1.0) and result["configurations"] == 2
    assert result["ci95"][0] < 1.0 < result["ci95"][1]


def test_geometric_mean_ratio_narrows_with_independent_configurations():
    """k configurations with the same log half-width h give h / sqrt(k)."""
    h = 0.1
    one = {"median": 1.2, "ci95": [1.2 * math.exp(-h), 1.2 * math.exp(h)]}
    result = geometric_mean_ratio([one] * 4)
    assert result["median"] == pytest.approx(1.2)
    assert math.log(result["ci95"][1] / result["median"]) == pytest.approx(h / 2)
    assert math.log(result["median"] / result["ci95"][0]) == pytest.approx(h / 2)
    with pytest.raises(ValueError):
        geometric_mean_ratio([])


@pytest.mark.parametrize("ci, expected", [
    ([1.1, 1.3], "holds"), ([1.05, 1.3], "holds"), ([0.8, 1.04], "does not hold"), ([0.9, 1.05], "inconclusive"),
    ([1.0, 1.2], "inconclusive"),
])
def test_verdict_thresholds(ci, expected):
    assert verdict(ci, 1.05) == expected
