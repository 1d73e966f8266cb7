"""Metrics agree with scikit-learn; the audit's CI and verdicts behave as documented."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import train_test_split

from adapters.metrics import get_metric
from auditor.audit.score import audit_run
from auditor.stats.bootstrap import Resamples


def _binary():
    X, y = load_breast_cancer(return_X_y=True)
    Xa, Xb, ya, yb = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    return yb, LogisticRegression(max_iter=5000).fit(Xa, ya).predict_proba(Xb)


def _multiclass():
    X, y = load_wine(return_X_y=True)
    Xa, Xb, ya, yb = train_test_split(X, y, test_size=0.4, random_state=0, stratify=y)
    return yb, LogisticRegression(max_iter=5000).fit(Xa, ya).predict_proba(Xb)


def _regression():
    X, y = load_diabetes(return_X_y=True)
    Xa, Xb, ya, yb = train_test_split(X, y, test_size=0.3, random_state=0)
    return yb, LinearRegression().fit(Xa, ya).predict(Xb)


CASES = [
    ("roc_auc", _binary, lambda y, p: skm.roc_auc_score(y, p[:, 1])),
    ("log_loss", _multiclass, lambda y, p: skm.log_loss(y, p)),
    ("balanced_accuracy", _multiclass, lambda y, p: skm.balanced_accuracy_score(y, p.argmax(1))),
    ("rmse", _regression, lambda y, p: skm.root_mean_squared_error(y, p)),
    ("r2", _regression, lambda y, p: skm.r2_score(y, p)),
]


@pytest.mark.parametrize(("name", "data", "reference"), CASES, ids=[c[0] for c in CASES])
def test_metric_matches_sklearn_on_every_resample(name, data, reference) -> None:
    y, p = data()
    metric = get_metric(name)
    assert metric(y, p) == pytest.approx(reference(y, p), rel=1e-9)
    idx = np.concatenate(list(Resamples(y, name != "rmse" and name != "r2", seed=3, n=20).chunks()))
    batch = metric.batch(y, p, idx)
    assert batch == pytest.approx([reference(y[i], p[i]) for i in idx], rel=1e-9)


def _top_decile(y: np.ndarray, p: np.ndarray) -> float:
    """Positives among the riskiest tenth, the rows tied at the cut-off at their positive rate."""
    k, risk = int(np.ceil(0.1 * len(y))), p[:, 1]
    cut = np.sort(risk)[::-1][k - 1]
    above, tied = risk > cut, risk == cut
    return float((y[above].sum() + (k - above.sum()) * y[tied].mean()) / k)


@pytest.mark.parametrize(("name", "data", "reference"),
                         [*CASES, ("top_decile_precision", _binary, _top_decile)],
                         ids=[*(c[0] for c in CASES), "top_decile_precision"])
def test_bootstrap_scores_match_sklearn_on_the_drawn_rows(monkeypatch, name, data,
                                                          reference) -> None:
    """The bootstrap scores each class's draws apart, a few resamples at a time: on every
    resample the same score as scikit-learn's on the same drawn rows, ties included (the
    predictions rounded to two decimals, the probabilities then kept above 0 and summing to 1)."""
    y, p = data()
    p = np.round(p, 2)
    if p.ndim == 2:
        p = np.clip(p, 0.01, None) / np.clip(p, 0.01, None).sum(axis=1, keepdims=True)
    monkeypatch.setattr("auditor.stats.bootstrap.SCORE_CELLS", 3 * len(y))
    resamples = Resamples(y, name not in ("rmse", "r2"), seed=7, n=40)
    rows = np.concatenate(list(resamples.chunks()))
    assert len(np.unique(p)) < len(y) and len(np.unique(rows[0])) < len(y)  # ties, repeats
    assert resamples.scores(get_metric(name), p) == pytest.approx(
        [reference(y[i], p[i]) for i in rows], rel=1e-9)


def test_top_decile_precision_counts_positives_among_the_riskiest_tenth() -> None:
    y, p = _binary()
    k = int(np.ceil(0.1 * len(y)))
    top = np.argsort(-p[:, 1], kind="stable")[:k]
    assert get_metric("top_decile_precision")(y, p) == pytest.approx(y[top].mean())
    flipped = np.column_stack([p[:, 1], p[:, 0]])  # ranking the safest first
    assert get_metric("top_decile_precision")(y, flipped) < y.mean()
    constant = np.tile([0.4, 0.6], (len(y), 1))  # all tied: the base rate, on every resample
    assert get_metric("top_decile_precision")(y, constant) == pytest.approx(y.mean())
    idx = np.concatenate(list(Resamples(y, stratified=True, seed=0, n=50).chunks()))
    assert get_metric("top_decile_precision").batch(y, constant, idx) == pytest.approx(y.mean())


def test_auc_handles_ties_like_sklearn() -> None:
    y = np.array([0, 0, 1, 1, 0, 1, 1, 0])
    p1 = np.array([0.1, 0.5, 0.5, 0.9, 0.5, 0.2, 0.9, 0.1])
    p = np.column_stack([1 - p1, p1])
    assert get_metric("roc_auc")(y, p) == pytest.approx(skm.roc_auc_score(y, p1))


def test_stratified_bootstrap_keeps_class_counts() -> None:
    y = np.array([0] * 30 + [1] * 10)
    idx = np.concatenate(list(Resamples(y, stratified=True, seed=0, n=50).chunks()))
    assert idx.shape == (50, 40) and (y[idx].sum(axis=1) == 10).all()


def test_resamples_are_the_same_however_few_are_held_at_a_time(monkeypatch) -> None:
    """Memory stays linear in the rows: at most `CHUNK_CELLS` indices at a time, and the
    resamples (so the interval) do not depend on how many are drawn at once."""
    y, p = _binary()
    whole = Resamples(y, stratified=True, seed=5, n=200)
    auc = get_metric("roc_auc")
    at_once = whole.scores(auc, p)
    monkeypatch.setattr("auditor.stats.bootstrap.CHUNK_CELLS", 3 * len(y))
    chunks = list(whole.chunks())
    assert max(c.size for c in chunks) <= 3 * len(y) and len(chunks) == 67
    assert np.array_equal(whole.scores(auc, p), at_once)
    assert np.array_equal(np.concatenate(chunks), np.concatenate(list(whole.chunks(200))))


def test_gap_sign_and_verdicts() -> None:
    y, p = _binary()
    auc = get_metric("roc_auc")
    honest = audit_run(auc, y, p, reported=auc(y, p), stratified=True)
    assert honest.verdict == "consistent" and honest.gap == pytest.approx(0)
    assert honest.holdout_lo < honest.holdout < honest.holdout_hi
    inflated = audit_run(auc, y, p, reported=1.0 + 0.5 * (1 - honest.holdout_lo), stratified=True)
    assert inflated.verdict == "optimistic" and inflated.gap_lo > 0
    y, p = _regression()
    rmse = get_metric("rmse")
    low = audit_run(rmse, y, p, reported=0.5 * rmse(y, p), stratified=False)
    assert low.verdict == "optimistic" and low.gap > 0  # reported error too small = optimism
    high = audit_run(rmse, y, p, reported=2.0 * rmse(y, p), stratified=False)
    assert high.verdict == "pessimistic" and high.gap < 0
    none = audit_run(rmse, y, p, reported=None, stratified=False)
    assert none.gap is None and none.verdict == "no reported score"
