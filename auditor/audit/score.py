"""Audit v1: re-score a run on the sealed holdout and compare with what the system reported.

The optimism gap is reported − holdout for higher-is-better metrics and holdout − reported for
lower-is-better ones, so a positive gap always means the system's own score was too good.
Its CI comes from a stratified bootstrap of the holdout rows (the reported score is a fixed number).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adapters.metrics import Metric
from auditor.stats.bootstrap import bootstrap_indices, percentile_interval


@dataclass(frozen=True)
class Audit:
    holdout: float
    holdout_lo: float
    holdout_hi: float
    reported: float | None
    gap: float | None
    gap_lo: float | None
    gap_hi: float | None
    verdict: str


def score_with_ci(metric: Metric, y: np.ndarray, preds: np.ndarray, stratified: bool,
                  seed: int = 0) -> tuple[float, float, float]:
    """Point estimate and percentile bootstrap CI."""
    point = metric(y, preds)
    scores = metric.batch(y, preds, bootstrap_indices(y, stratified, seed))
    lo, hi = percentile_interval(scores[np.isfinite(scores)])
    return point, lo, hi


def verdict(gap_lo: float | None, gap_hi: float | None) -> str:
    """Plain words for the gap's CI."""
    if gap_lo is None or gap_hi is None:
        return "no reported score"
    if gap_lo > 0:
        return "optimistic"
    if gap_hi < 0:
        return "pessimistic"
    return "consistent"


def audit_run(metric: Metric, y: np.ndarray, preds: np.ndarray, reported: float | None,
              stratified: bool, seed: int = 0) -> Audit:
    holdout, lo, hi = score_with_ci(metric, y, preds, stratified, seed)
    if reported is None or not np.isfinite(reported):
        return Audit(holdout, lo, hi, None, None, None, None, verdict(None, None))
    sign = 1.0 if metric.greater_is_better else -1.0
    gap = sign * (reported - holdout)
    gap_lo, gap_hi = sorted((sign * (reported - hi), sign * (reported - lo)))
    return Audit(holdout, lo, hi, reported, gap, gap_lo, gap_hi, verdict(gap_lo, gap_hi))
