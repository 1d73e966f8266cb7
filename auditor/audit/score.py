"""Audit v1: re-score a run on the sealed holdout and compare with what the system reported.

The optimism gap is reported − holdout for higher-is-better metrics and holdout − reported for
lower-is-better ones, so a positive gap always means the system's own score was too good.
Its CI combines a stratified bootstrap of the holdout rows with the reported score's own
uncertainty (`auditor.stats.gap`: Nadeau–Bengio for per-fold CV scores, the internal holdout's size
otherwise); the record says which was used. A zero-width holdout interval gives no verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from adapters.metrics import Metric
from auditor.stats.bootstrap import LEVEL, Resamples, percentile_interval
from auditor.stats.gap import ZERO_WIDTH, gap_interval, reported_spread, zero_width


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
    reported_sd: float | None = None
    reported_uncertainty: str | None = None


def score_with_ci(metric: Metric, y: np.ndarray, preds: np.ndarray, stratified: bool,
                  seed: int = 0) -> tuple[float, float, float]:
    """Point estimate and percentile bootstrap CI."""
    point, lo, hi, _ = score_with_boot(metric, y, preds, stratified, seed)
    return point, lo, hi


Scored = tuple[float, float, float, np.ndarray]  # point, CI ends, finite bootstrap scores


def score_with_boot(metric: Metric, y: np.ndarray, preds: np.ndarray, stratified: bool,
                    seed: int = 0) -> Scored:
    """Point estimate, percentile bootstrap CI and the finite bootstrap scores."""
    return scores_on_holdout([metric], y, preds, stratified, seed)[0]


def scores_on_holdout(metrics: Sequence[Metric], y: np.ndarray, preds: np.ndarray,
                      stratified: bool, seed: int = 0) -> list[Scored]:
    """`score_with_boot` of each of `metrics`, all on the same resamples, drawn once."""
    out = []
    for metric, scores in zip(metrics, Resamples(y, stratified, seed).scores_of(metrics, preds),
                              strict=True):
        scores = scores[np.isfinite(scores)]
        lo, hi = percentile_interval(scores)
        out.append((metric(y, preds), lo, hi, scores))
    return out


def verdict(gap_lo: float | None, gap_hi: float | None) -> str:
    """Plain words for the gap's CI."""
    if gap_lo is None or gap_hi is None:
        return "no reported score"
    if zero_width(gap_lo, gap_hi):
        return ZERO_WIDTH
    if gap_lo > 0:
        return "optimistic"
    if gap_hi < 0:
        return "pessimistic"
    return "consistent"


def audit_run(metric: Metric, y: np.ndarray, preds: np.ndarray, reported: float | None,
              stratified: bool, seed: int = 0, fold_scores: Sequence[float] = (),
              validation_rows: int | None = None, scored: Scored | None = None) -> Audit:
    """Holdout score and optimism gap; `fold_scores` (the reported score's per-fold CV scores)
    or `validation_rows` (the size of the system's internal holdout) give the reported score's
    own uncertainty; `scored`: the holdout's `score_with_boot`, when worked out already. A
    zero-width holdout interval gives no verdict."""
    holdout, lo, hi, boot = scored or score_with_boot(metric, y, preds, stratified, seed)
    if reported is None or not np.isfinite(reported):
        return Audit(holdout, lo, hi, None, None, None, None, verdict(None, None))
    sign = 1.0 if metric.greater_is_better else -1.0
    gap = sign * (reported - holdout)
    spread = reported_spread(fold_scores, validation_rows, boot, len(y))
    gap_lo, gap_hi = gap_interval(reported, boot, spread, sign, LEVEL, seed)
    said = ZERO_WIDTH if zero_width(lo, hi) else verdict(gap_lo, gap_hi)
    return Audit(holdout, lo, hi, reported, gap, gap_lo, gap_hi, said, spread.sd, spread.method)
