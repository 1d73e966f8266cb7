"""Percentile bootstrap: resampled row indices, and the interval from a resampled statistic."""

from __future__ import annotations

import numpy as np

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
