"""Statistics over raw latency samples: percentiles, a confidence interval of the mean, and ratios.

numpy only (the light install). Bootstrap resampling is seeded, so a report renders the same twice.
"""

from __future__ import annotations

import math

import numpy as np

BOOTSTRAP_RESAMPLES = 2000

# Two-sided 97.5% quantiles of Student's t for small samples; beyond 30 the normal 1.96 is close enough.
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
         11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093,
         20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048,
         29: 2.045, 30: 2.042}


def t_quantile(dof: int) -> float:
    return _T975.get(dof, 1.96)


def latency_stats(samples_ms: list[float]) -> dict:
    """min, p50, p90, p99, mean with its 95% CI (Student t), stdev and n of one configuration's samples."""
    values = np.asarray(samples_ms, dtype=float)
    n = len(values)
    if n == 0:
        raise ValueError("no samples")
    mean = float(values.mean())
    stdev = float(values.std(ddof=1)) if n > 1 else 0.0
    half = t_quantile(n - 1) * stdev / math.sqrt(n) if n > 1 else None  # no spread from one sample
    return {
        "n": n, "min": float(values.min()), "p50": float(np.percentile(values, 50)),
        "p90": float(np.percentile(values, 90)), "p99": float(np.percentile(values, 99)),
        "max": float(values.max()), "mean": mean, "stdev": stdev,
        "ci95_mean": [mean - half, mean + half] if half is not None else None,
        # relative spread: how noisy this configuration was
        "iqr_over_median": float((np.percentile(values, 75) - np.percentile(values, 25)) / np.median(values)),
    }


def _bootstrap(statistic, values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The statistic of BOOTSTRAP_RESAMPLES resamples (with replacement) of values."""
    picks = rng.integers(0, len(values), size=(BOOTSTRAP_RESAMPLES, len(values)))
    return statistic(values[picks], axis=1)


def paired_ratio(slow_ms: list[float], fast_ms: list[float], *, seed: int = 0) -> dict:
    """slow/fast from samples taken in the same rounds: the median of per-round ratios and its bootstrap
    95% CI. Pairing cancels the machine's drift, which hits both sides of a round alike."""
    slow, fast = np.asarray(slow_ms, dtype=float), np.asarray(fast_ms, dtype=float)
    if len(slow) != len(fast) or len(slow) == 0:
        raise ValueError("paired samples must be non-empty and of equal length")
    ratios = slow / fast
    boots = _bootstrap(np.median, ratios, np.random.default_rng(seed))
    return {"median": float(np.median(ratios)), "ci95": [float(np.percentile(boots, 2.5)),
                                                         float(np.percentile(boots, 97.5))],
            "p10": float(np.percentile(ratios, 10)), "p90": float(np.percentile(ratios, 90)), "n": len(ratios),
            "paired": True}


def unpaired_ratio(slow_ms: list[float], fast_ms: list[float], *, seed: int = 0, statistic=np.median) -> dict:
    """statistic(slow)/statistic(fast) (the median by default) for samples from different runs, with a
    bootstrap 95% CI that resamples each side independently."""
    slow, fast = np.asarray(slow_ms, dtype=float), np.asarray(fast_ms, dtype=float)
    if len(slow) == 0 or len(fast) == 0:
        raise ValueError("samples must be non-empty")
    rng = np.random.default_rng(seed)
    boots = _bootstrap(statistic, slow, rng) / _bootstrap(statistic, fast, rng)
    return {"median": float(statistic(slow) / statistic(fast)),
            "ci95": [float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))],
            "n": min(len(slow), len(fast)), "paired": False}


def geometric_mean_ratio(ratios: list[dict], *, seed: int = 0) -> dict:
    """One overall ratio over several configurations: the geometric mean of their medians, with a CI from
    the geometric mean of their bootstrap bounds' log-widths (each configuration weighted alike)."""
    if not ratios:
        raise ValueError("no ratios")
    logs = np.log([r["median"] for r in ratios])
    lows = np.log([r["ci95"][0] for r in ratios])
    highs = np.log([r["ci95"][1] for r in ratios])
    centre = float(logs.mean())
    # Independent configurations: the half-widths add in quadrature, divided by the count.
    below = math.sqrt(float(((logs - lows) ** 2).sum())) / len(ratios)
    above = math.sqrt(float(((highs - logs) ** 2).sum())) / len(ratios)
    return {"median": math.exp(centre), "ci95": [math.exp(centre - below), math.exp(centre + above)],
            "configurations": len(ratios)}


def verdict(ci95: list[float], threshold: float) -> str:
    """'holds' when the whole CI is at or above threshold, 'does not hold' when it is all below,
    otherwise 'inconclusive'."""
    low, high = ci95
    if low >= threshold:
        return "holds"
    if high < threshold:
        return "does not hold"
    return "inconclusive"
