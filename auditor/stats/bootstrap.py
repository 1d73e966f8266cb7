"""Percentile bootstrap: resampled row indices, the interval from a resampled statistic, and the
paired difference of two predictions on the same resampled rows."""

from __future__ import annotations

import numpy as np

from adapters.metrics import Metric

N_BOOTSTRAP = 1000
LEVEL = 0.95


def bootstrap_indices(y: np.ndarray, stratified: bool, seed: int, n: int = N_BOOTSTRAP
                      ) -> np.ndarray:
    """(n, len(y)) row indices; class counts kept fixed when `stratified`."""
    rng = np.random.default_rng(seed)
    if not stratified:
        return rng.integers(0, len(y), size=(n, len(y)))
    parts = []
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        parts.append(rows[rng.integers(0, len(rows), size=(n, len(rows)))])
    return np.concatenate(parts, axis=1)


def percentile_interval(samples: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The central `level` interval of a statistic's bootstrap `samples`; NaN samples (resamples
    on which the statistic is undefined) are left out."""
    alpha = (1 - level) / 2
    lo, hi = np.nanquantile(samples, [alpha, 1 - alpha])
    return float(lo), float(hi)


def paired_gain(metric: Metric, y: np.ndarray, a: np.ndarray, b: np.ndarray, stratified: bool,
                seed: int) -> tuple[float, float, float]:
    """score(a) − score(b) in the better direction (positive: a is better), with a paired
    bootstrap CI over the same resampled rows."""
    sign = 1.0 if metric.greater_is_better else -1.0
    idx = bootstrap_indices(y, stratified, seed)
    boots = sign * (metric.batch(y, a, idx) - metric.batch(y, b, idx))
    lo, hi = percentile_interval(boots)
    point = sign * (metric(y, a) - metric(y, b))
    return float(point) + 0.0, lo + 0.0, hi + 0.0  # no "-0" in the report
