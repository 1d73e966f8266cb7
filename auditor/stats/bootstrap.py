"""Percentile bootstrap: resampled row indices, the interval from a resampled statistic, and the
paired difference of two predictions on the same resampled rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

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
    quantile = np.nanquantile if np.isnan(samples).any() else np.quantile  # the same, faster
    lo, hi = quantile(samples, [alpha, 1 - alpha])
    return float(lo), float(hi)


def paired_gain(metric: Metric, y: np.ndarray, a: np.ndarray, b: np.ndarray, stratified: bool,
                seed: int) -> tuple[float, float, float]:
    """score(a) − score(b) in the better direction (positive: a is better), with a paired
    bootstrap CI over the same resampled rows."""
    return PairedScores(metric, y, stratified, seed).gain("a", lambda: a, "b", lambda: b)


@dataclass
class PairedScores:
    """`paired_gain` among many predictions on the same rows, each named by a key: every one's
    score and bootstrap scores are computed once, on one set of resampled rows, so comparing
    each of k predictions with the others costs k bootstraps, not k·(k − 1)·2."""

    metric: Metric
    y: np.ndarray
    stratified: bool
    seed: int
    _idx: np.ndarray | None = field(default=None, repr=False)
    _scores: dict[str, tuple[float, np.ndarray]] = field(default_factory=dict, repr=False)

    def _of(self, key: str, predictions: Callable[[], np.ndarray]) -> tuple[float, np.ndarray]:
        if key not in self._scores:
            if self._idx is None:
                self._idx = bootstrap_indices(self.y, self.stratified, self.seed)
            p = predictions()
            self._scores[key] = (self.metric(self.y, p), self.metric.batch(self.y, p, self._idx))
        return self._scores[key]

    def gain(self, a: str, a_predictions: Callable[[], np.ndarray], b: str,
             b_predictions: Callable[[], np.ndarray]) -> tuple[float, float, float]:
        """`paired_gain` of the predictions `a` over `b` (each loaded by its callable once)."""
        sign = 1.0 if self.metric.greater_is_better else -1.0
        (point_a, boot_a), (point_b, boot_b) = self._of(a, a_predictions), self._of(
            b, b_predictions)
        lo, hi = percentile_interval(sign * (boot_a - boot_b))
        point = sign * (point_a - point_b)
        return float(point) + 0.0, lo + 0.0, hi + 0.0  # no "-0" in the report
