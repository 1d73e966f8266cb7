"""Synthetic worlds with known population scores, and the simulated systems that search them.

Regression: x ~ N(0, I_d), y = x·β + ε, ε ~ N(0, σ²). A linear predictor with coefficients b
has population RMSE sqrt(σ² + |b − β|²), so every system's true holdout score is known exactly.
Binary: y ~ Bernoulli(π) with no signal, for the class-prior (constant) predictor.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from adapters.metrics import get_metric

D = 5
BETA = np.full(D, 0.5)
SIGMA = 1.0
FOLDS = 5
PRIOR = 0.3
RMSE = get_metric("rmse")
LOG_LOSS = get_metric("log_loss")


@dataclass(frozen=True)
class Sizes:
    search: int
    holdout: int


@dataclass
class Simulated:
    """What a simulated system hands the auditor, and the truth the auditor cannot see."""

    reported: float
    holdout_y: np.ndarray
    predictions: np.ndarray
    population: float  # the population score of the model whose predictions are audited
    fold_scores: list[float] = field(default_factory=list)
    validation_rows: int | None = None


def draw(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    X = rng.standard_normal((n, D))
    return X, X @ BETA + SIGMA * rng.standard_normal(n)


def population_rmse(b: np.ndarray) -> float:
    return float(np.sqrt(SIGMA ** 2 + np.sum((b - BETA) ** 2)))


def ols(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.linalg.lstsq(X, y, rcond=None)[0]


def fold_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.permutation(n) % FOLDS


def cv_rmse(X: np.ndarray, y: np.ndarray, folds: np.ndarray, fit: bool,
            b: np.ndarray | None = None) -> list[float]:
    """Per-fold RMSE of OLS refitted per fold (`fit`) or of the fixed coefficients `b`."""
    out = []
    for k in range(FOLDS):
        valid = folds == k
        coef = ols(X[~valid], y[~valid]) if fit else b
        out.append(RMSE(y[valid], X[valid] @ coef))
    return out


def honest_cv(rng: np.random.Generator, s: Sizes) -> Simulated:
    """OLS, reported score = mean 5-fold CV RMSE; the final model is refitted on all rows."""
    X, y = draw(rng, s.search)
    folds = cv_rmse(X, y, fold_ids(rng, s.search), fit=True)
    b = ols(X, y)
    Xh, yh = draw(rng, s.holdout)
    return Simulated(float(np.mean(folds)), yh, Xh @ b, population_rmse(b), folds)


def honest_holdout(rng: np.random.Generator, s: Sizes) -> Simulated:
    """OLS fitted on 80 % of the search rows, reported on the other 20 % (its internal holdout);
    that model is the one delivered."""
    X, y = draw(rng, s.search)
    m = s.search // 5
    b = ols(X[m:], y[m:])
    Xh, yh = draw(rng, s.holdout)
    return Simulated(RMSE(y[:m], X[:m] @ b), yh, Xh @ b, population_rmse(b), validation_rows=m)


def constant_cv(rng: np.random.Generator, s: Sizes) -> Simulated:
    """The mean predictor, reported by 5-fold CV."""
    _, y = draw(rng, s.search)
    folds = fold_ids(rng, s.search)
    scores = [RMSE(y[folds == k], np.full((folds == k).sum(), y[folds != k].mean()))
              for k in range(FOLDS)]
    _, yh = draw(rng, s.holdout)
    mean = float(y.mean())
    truth = float(np.sqrt(SIGMA ** 2 + BETA @ BETA + mean ** 2))
    return Simulated(float(np.mean(scores)), yh, np.full(s.holdout, mean), truth, scores)


def selected(rng: np.random.Generator, s: Sizes, n: int = 20, r: float = 0.5) -> Simulated:
    """Best of n equally good fixed predictors (|b − β| = r) by 5-fold CV: the reported score
    is optimistic by the selection alone."""
    X, y = draw(rng, s.search)
    folds = fold_ids(rng, s.search)
    u = rng.standard_normal((n, D))
    bs = BETA + r * u / np.linalg.norm(u, axis=1, keepdims=True)
    per = [cv_rmse(X, y, folds, fit=False, b=b) for b in bs]
    best = int(np.argmin([np.mean(f) for f in per]))
    Xh, yh = draw(rng, s.holdout)
    return Simulated(float(np.mean(per[best])), yh, Xh @ bs[best], population_rmse(bs[best]),
                   per[best])


def constant_log_loss(rng: np.random.Generator, s: Sizes) -> Simulated:
    """Class-prior predictor on a binary task without signal, reported by 5-fold CV log loss."""
    y = (rng.random(s.search) < PRIOR).astype(int)
    folds = fold_ids(rng, s.search)
    scores = []
    for k in range(FOLDS):
        valid = folds == k
        q = y[~valid].mean()
        scores.append(LOG_LOSS(y[valid], np.tile([1 - q, q], (valid.sum(), 1))))
    q = float(y.mean())
    yh = (rng.random(s.holdout) < PRIOR).astype(int)
    truth = float(-(PRIOR * np.log(q) + (1 - PRIOR) * np.log(1 - q)))
    return Simulated(float(np.mean(scores)), yh, np.tile([1 - q, q], (s.holdout, 1)), truth,
                   scores)


def equal_pair(rng: np.random.Generator, s: Sizes, r_incumbent: float, r_reference: float
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Holdout labels, incumbent and reference predictions of fixed linear predictors at
    distances r from β, and the incumbent's true population disadvantage (RMSE)."""
    u = rng.standard_normal((2, D))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    b_inc, b_ref = BETA + r_incumbent * u[0], BETA + r_reference * u[1]
    Xh, yh = draw(rng, s.holdout)
    return yh, Xh @ b_inc, Xh @ b_ref, population_rmse(b_inc) - population_rmse(b_ref)
