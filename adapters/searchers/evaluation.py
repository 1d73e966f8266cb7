"""Scoring a configuration: k-fold CV on the search rows at a fidelity, with compute accounting.

Fidelity is the fraction of each fold's training rows used to fit (a stratified subsample for
classification); every fold is validated on all of its validation rows, so scores at different
fidelities are comparable. Fit time and CPU seconds are measured per evaluation.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from adapters.contract import Budget, RunContext, SearchData, TaskType, place_probabilities
from adapters.metrics import get_metric
from adapters.searchers.families import Family


@dataclass
class CVResult:
    """Mean k-fold score under the task's metric, fit seconds per fold, CPU seconds in all,
    and the score of each fold."""

    score: float
    fold_seconds: list[float]
    cpu_s: float
    fold_scores: list[float] = field(default_factory=list)

    def refit_seconds(self, fidelity: float = 1.0) -> float:
        """Estimated time to fit the same config on all search rows."""
        return refit_estimate(self.fold_seconds, len(self.fold_seconds)) / fidelity


def refit_estimate(fold_seconds: list[float], folds: int) -> float:
    """Time to fit on all rows from k-fold fit times, taking fit time as linear in rows."""
    return float(np.mean(fold_seconds)) * folds / (folds - 1)


def reserve_seconds(budget: Budget) -> float:
    """Time kept free at the end of a run for predicting the holdout and returning."""
    return 0.25 + 0.02 * budget.wall_seconds


def align_categories(X_holdout: pd.DataFrame, X: pd.DataFrame) -> pd.DataFrame:
    """Holdout with categorical columns recoded to the search rows' categories (unseen → NaN)."""
    out = X_holdout.copy()
    for col in X.columns:
        dtype = X[col].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            categorical = out[col].astype("category").cat
            out[col] = categorical.set_categories(dtype.categories, ordered=dtype.ordered)
    return out


def kfold(data: SearchData, folds: int, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Shuffled (train, valid) index pairs; stratified for classification."""
    splitter = KFold if data.task_type == "regression" else StratifiedKFold
    return splitter(n_splits=folds, shuffle=True, random_state=seed).split(data.X, data.y)


def subsample(train: np.ndarray, y: np.ndarray, fidelity: float, seed: int,
              task_type: TaskType) -> np.ndarray:
    """A `fidelity` fraction of the training rows, stratified where every class can keep one."""
    if fidelity >= 1.0:
        return train
    n = max(2, round(fidelity * len(train)))
    stratify = y[train] if task_type != "regression" else None
    if stratify is not None and n < len(np.unique(stratify)):
        stratify = None
    try:
        kept, _ = train_test_split(train, train_size=n, random_state=seed, stratify=stratify)
    except ValueError:  # a class too rare to stratify on at this size
        kept, _ = train_test_split(train, train_size=n, random_state=seed)
    return np.sort(kept)


def predict(model: Any, X: pd.DataFrame, task_type: TaskType, n_classes: int) -> np.ndarray:
    """Values (n,) for regression, else probabilities (n, n_classes) placed by `model.classes_`."""
    if task_type == "regression":
        return np.asarray(model.predict(X), dtype=np.float64)
    return place_probabilities(model.predict_proba(X), model.classes_, n_classes)


def cross_validate(data: SearchData, family: Family, config: dict[str, Any], ctx: RunContext,
                   folds: int, reserve: float = 0.0, fidelity: float = 1.0,
                   keep_own_refit: bool = True) -> CVResult:
    """Mean k-fold CV score of `config` on the search rows under `data.metric`.

    A LightGBM fit is aborted with StopSearch once the time left would not cover `reserve` plus
    (with `keep_own_refit`) a refit of this config on all rows, estimated from the folds already
    fitted. A search's first configuration goes without that part: with no incumbent to fall
    back on, finishing it late beats having nothing.
    """
    metric = get_metric(data.metric)
    scores: list[float] = []
    fold_seconds: list[float] = []
    cpu = time.process_time()
    for train, valid in kfold(data, folds, ctx.seed):
        refit = (refit_estimate(fold_seconds, folds) / fidelity
                 if fold_seconds and keep_own_refit else 0.0)
        rows = subsample(train, data.y, fidelity, ctx.seed, data.task_type)
        X = data.X.iloc[rows]
        model = family.model(data.task_type, config, ctx, X)
        start = time.monotonic()
        family.fit(model, X, data.y[rows], partial(ctx.should_stop, reserve + refit))
        fold_seconds.append(time.monotonic() - start)
        p = predict(model, data.X.iloc[valid], data.task_type, len(data.classes))
        scores.append(metric(data.y[valid], p))
    return CVResult(float(np.mean(scores)), fold_seconds, time.process_time() - cpu,
                    [float(s) for s in scores])
