"""The reported score's own uncertainty, for the optimism gap's CI.

A system's reported score is an estimate too. Its variance is taken from what the system
validated on:
- k-fold CV with per-fold scores: the Nadeau–Bengio corrected resampled variance
  (1/k + n_valid/n_train) · s², with n_valid/n_train = 1/(k − 1) for k-fold CV
  (Nadeau & Bengio 2003; Bouckaert & Frank 2004);
- an internal holdout of m rows: the holdout bootstrap variance scaled from the sealed
  holdout's n rows to m rows (a mean-like score's variance goes as 1/rows);
- nothing known: the reported score is treated as a fixed number, as before, and the record
  says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

ZERO_WIDTH = "no verdict: interval has zero width"


@dataclass(frozen=True)
class ReportedSpread:
    """Standard deviation of the reported score and how it was obtained."""

    sd: float
    method: str


def reported_spread(fold_scores: Sequence[float], validation_rows: int | None,
                    holdout_boot: np.ndarray, n_holdout: int) -> ReportedSpread:
    """SD of the reported score from per-fold CV scores, else from the internal holdout's size
    (scaling the sealed holdout's bootstrap variance), else 0 with a plain statement."""
    folds = np.asarray([f for f in fold_scores if f is not None and np.isfinite(f)], dtype=float)
    if len(folds) >= 2:
        k = len(folds)
        var = (1.0 / k + 1.0 / (k - 1)) * float(np.var(folds, ddof=1))
        return ReportedSpread(float(np.sqrt(var)),
                              f"Nadeau–Bengio corrected variance of {k}-fold CV scores")
    if validation_rows and validation_rows > 0 and len(holdout_boot) > 1:
        var = float(np.var(holdout_boot, ddof=1)) * n_holdout / validation_rows
        return ReportedSpread(float(np.sqrt(var)),
                              f"variance of a score on an internal holdout of {validation_rows} "
                              "rows")
    return ReportedSpread(0.0, "none: the reported score is treated as a fixed number (the system "
                               "recorded neither fold scores nor its validation rows)")


def gap_interval(reported: float, holdout_boot: np.ndarray, spread: ReportedSpread, sign: float,
                 level: float, seed: int) -> tuple[float, float]:
    """Percentile CI of sign · (reported − holdout), the holdout's bootstrap draws combined with
    independent normal draws of the reported score's error."""
    rng = np.random.default_rng([seed, 16])
    noise = spread.sd * rng.standard_normal(len(holdout_boot)) if spread.sd > 0 else 0.0
    gaps = sign * (reported + noise - holdout_boot)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(gaps, [alpha, 1 - alpha])
    return float(lo), float(hi)


def zero_width(lo: float, hi: float) -> bool:
    """True when an interval is degenerate (every resample gave the same score)."""
    return not hi - lo > 1e-12 * max(1.0, abs(lo), abs(hi))
