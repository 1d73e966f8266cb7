"""Model families behind the search spaces: how a configuration becomes an estimator.

`lgbm` is LightGBM on the raw frame (native categoricals and missing values; a fit can be aborted
at the deadline from a callback). The scikit-learn families (`rf`, `linear`, `mlp`) get one shared
preprocessing: numeric columns median-imputed (and standardised for the linear and neural models),
categorical columns one-hot encoded with missing as its own category and unseen categories ignored.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier, LGBMModel, LGBMRegressor
from lightgbm.callback import CallbackEnv
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.linear_model import ElasticNet, LogisticRegression
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from adapters.contract import RunContext, TaskType


class StopSearch(Exception):
    """Raised from inside a fit when the run has to stop."""


def _lgbm(task: TaskType, config: dict[str, Any], seed: int, cores: int) -> LGBMModel:
    cls = LGBMRegressor if task == "regression" else LGBMClassifier
    return cls(**config, n_jobs=cores, random_state=seed, verbose=-1)


def _preprocess(X: pd.DataFrame, scale: bool) -> ColumnTransformer:
    categorical = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
    numeric = [c for c in X.columns if c not in categorical]
    num = [SimpleImputer(strategy="median", keep_empty_features=True)]
    if scale:
        num.append(StandardScaler())
    return ColumnTransformer([
        ("num", make_pipeline(*num), numeric),
        ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False, min_frequency=5),
         categorical),
    ])


def _rf(task: TaskType, config: dict[str, Any], seed: int, cores: int) -> Any:
    cls = RandomForestRegressor if task == "regression" else RandomForestClassifier
    return cls(**config, n_jobs=cores, random_state=seed)


def _linear(task: TaskType, config: dict[str, Any], seed: int, cores: int) -> Any:
    """Logistic regression, or for regression an elastic net with the same penalty space."""
    l1_ratio = {"l1": 1.0, "l2": 0.0}.get(config["penalty"], config.get("l1_ratio", 0.5))
    if task == "regression":
        return ElasticNet(alpha=1.0 / config["C"], l1_ratio=l1_ratio, max_iter=5000,
                          random_state=seed)
    return LogisticRegression(C=config["C"], l1_ratio=l1_ratio, solver="saga", max_iter=500,
                              random_state=seed)


def _mlp(task: TaskType, config: dict[str, Any], seed: int, cores: int) -> Any:
    cls = MLPRegressor if task == "regression" else MLPClassifier
    layers = (config["width"],) * config["layers"]
    params = {k: v for k, v in config.items() if k not in ("width", "layers")}
    return cls(hidden_layer_sizes=layers, early_stopping=True, random_state=seed, **params)


@dataclass(frozen=True)
class Family:
    """How to build, fit and describe one kind of model."""

    name: str
    build: Callable[[TaskType, dict[str, Any], int, int], Any]
    scale: bool | None  # None: no preprocessing (LightGBM takes the raw frame)

    def model(self, task: TaskType, config: dict[str, Any], ctx: RunContext, X: pd.DataFrame
              ) -> Any:
        estimator = self.build(task, config, ctx.seed, ctx.budget.cores)
        if self.scale is None:
            return estimator
        return Pipeline([("prep", _preprocess(X, self.scale)), ("model", estimator)])

    def fit(self, model: Any, X: pd.DataFrame, y: np.ndarray, stop: Callable[[], bool] | None
            ) -> Any:
        """Fit; a LightGBM fit is aborted with StopSearch once `stop()` is true."""
        if self.scale is None and stop is not None:
            def check(env: CallbackEnv) -> None:
                if stop():
                    raise StopSearch(f"stopped at boosting round {env.iteration}")

            return model.fit(X, y, callbacks=[check])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return model.fit(X, y)


FAMILIES: dict[str, Family] = {
    "lgbm": Family("lgbm", _lgbm, None),
    "rf": Family("rf", _rf, False),
    "linear": Family("linear", _linear, True),
    "mlp": Family("mlp", _mlp, True),
}


def describe(model: Any) -> str:
    """Short description: estimator class and its searched parameters that differ from default."""
    estimator = model[-1] if isinstance(model, Pipeline) else model
    params = estimator.get_params()
    defaults = type(estimator)().get_params()
    changed = {k: v for k, v in params.items()
               if k not in ("n_jobs", "random_state", "verbose") and v != defaults.get(k)}
    args = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in list(changed.items())[:6])
    return f"{type(estimator).__name__}({args})"
