"""LightGBM helpers shared by the adapters: model building, k-fold CV, deadline abort, predict."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier, LGBMModel, LGBMRegressor
from lightgbm.callback import CallbackEnv
from sklearn.model_selection import KFold, StratifiedKFold

from adapters.contract import Budget, RunContext, SearchData, TaskType
from adapters.metrics import get_metric

DESCRIBED_PARAMS = ("n_estimators", "learning_rate", "num_leaves", "max_depth")


class StopSearch(Exception):
    """Raised from inside a LightGBM fit when the run has to stop."""


@dataclass
class CVResult:
    """Mean k-fold score under the task's metric and the fit seconds of each fold."""

    score: float
    fold_seconds: list[float]

    def refit_seconds(self) -> float:
        """Estimated time to fit the same config on all search rows."""
        return refit_estimate(self.fold_seconds, len(self.fold_seconds))


def refit_estimate(fold_seconds: list[float], folds: int) -> float:
    """Time to fit on all rows from k-fold fit times, taking fit time as linear in rows."""
    return float(np.mean(fold_seconds)) * folds / (folds - 1)


def make_model(task_type: TaskType, config: dict[str, Any], ctx: RunContext) -> LGBMModel:
    """LightGBM estimator for `task_type`, seeded and limited to the budget's cores."""
    cls = LGBMRegressor if task_type == "regression" else LGBMClassifier
    return cls(**config, n_jobs=ctx.budget.cores, random_state=ctx.seed, verbose=-1)


def describe(model: LGBMModel) -> str:
    """Short description such as `LGBMClassifier(n_estimators=100, learning_rate=0.1, ...)`."""
    params = model.get_params()
    args = ", ".join(f"{name}={_short(params[name])}" for name in DESCRIBED_PARAMS)
    return f"{type(model).__name__}({args})"


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


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


def stop_callback(ctx: RunContext, reserve: float) -> Callable[[CallbackEnv], None]:
    """LightGBM callback that aborts the fit (StopSearch) once `ctx.should_stop(reserve)`."""

    def check(env: CallbackEnv) -> None:
        if ctx.should_stop(reserve):
            raise StopSearch(f"stopped at boosting round {env.iteration}")

    return check


def reserve_seconds(budget: Budget) -> float:
    """Time kept free at the end of a run for predicting the holdout and returning."""
    return 0.25 + 0.02 * budget.wall_seconds


def predict(model: LGBMModel, X: pd.DataFrame, task_type: TaskType, n_classes: int) -> np.ndarray:
    """Values (n,) for regression, else probabilities (n, n_classes) padded by `model.classes_`."""
    if task_type == "regression":
        return model.predict(X).astype(np.float64)
    proba = np.zeros((len(X), n_classes))
    proba[:, model.classes_] = model.predict_proba(X)
    return proba


def cross_validate(
    data: SearchData, config: dict[str, Any], ctx: RunContext, folds: int, reserve: float = 0.0
) -> CVResult:
    """Mean k-fold CV score of `config` on the search rows under `data.metric`.

    A fit is aborted with StopSearch once the time left would not cover `reserve` plus a refit of
    this config on all rows (estimated from the folds already fitted).
    """
    metric = get_metric(data.metric)
    n_classes = len(data.classes)
    scores: list[float] = []
    fold_seconds: list[float] = []
    for train, valid in kfold(data, folds, ctx.seed):
        refit = refit_estimate(fold_seconds, folds) if fold_seconds else 0.0
        model = make_model(data.task_type, config, ctx)
        start = time.monotonic()
        model.fit(
            data.X.iloc[train], data.y[train], callbacks=[stop_callback(ctx, reserve + refit)]
        )
        fold_seconds.append(time.monotonic() - start)
        p = predict(model, data.X.iloc[valid], data.task_type, n_classes)
        scores.append(metric(data.y[valid], p))
    return CVResult(float(np.mean(scores)), fold_seconds)
