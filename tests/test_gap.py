"""The optimism gap's CI takes the reported score's own uncertainty; zero-width CIs give no
verdict."""

from __future__ import annotations

import numpy as np

from adapters.metrics import get_metric
from auditor.audit.score import audit_run
from auditor.claims.verify import verdict as claim_verdict
from auditor.stats.gap import ZERO_WIDTH


def test_fold_scores_widen_the_gap_interval_and_are_named() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=400)
    p = y + rng.normal(size=400)
    rmse = get_metric("rmse")
    fixed = audit_run(rmse, y, p, reported=rmse(y, p), stratified=False)
    cv = audit_run(rmse, y, p, reported=rmse(y, p), stratified=False,
                   fold_scores=[0.9, 1.0, 1.1, 1.05, 0.95])
    rows = audit_run(rmse, y, p, reported=rmse(y, p), stratified=False, validation_rows=100)
    assert fixed.reported_sd == 0 and "fixed number" in fixed.reported_uncertainty
    assert cv.gap_hi - cv.gap_lo > fixed.gap_hi - fixed.gap_lo
    assert "Nadeau–Bengio" in cv.reported_uncertainty
    # a 100-row internal holdout is about 4x the variance of the 400-row sealed one
    assert rows.reported_sd > 0 and "100 rows" in rows.reported_uncertainty
    assert 1.8 < (rows.gap_hi - rows.gap_lo) / (fixed.gap_hi - fixed.gap_lo) < 2.7


def test_constant_log_loss_gets_no_verdict() -> None:
    y = np.array([0] * 70 + [1] * 30)
    p = np.tile([0.7, 0.3], (100, 1))
    log_loss = get_metric("log_loss")
    a = audit_run(log_loss, y, p, reported=log_loss(y, p) - 0.2, stratified=True,
                  fold_scores=[0.6, 0.61, 0.62])
    assert a.holdout_lo == a.holdout_hi and a.verdict == ZERO_WIDTH
    assert claim_verdict(0.1, a.holdout, a.holdout_lo, a.holdout_hi, False) == ZERO_WIDTH


def test_claim_uncertainty_widens_the_better_end() -> None:
    # lower is better; the CI's better end is 0.9, half-width 0.1
    assert claim_verdict(0.85, 1.0, 0.9, 1.1, False) == "optimistic"
    assert claim_verdict(0.85, 1.0, 0.9, 1.1, False, claim_sd=0.1) == "confirmed"
