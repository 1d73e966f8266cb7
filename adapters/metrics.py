"""Metrics, vectorized over bootstrap resamples.

Each metric scores `y` against predictions `p` at row indices `idx` of shape (B, n): one score
per row of `idx`. The point estimate is the same function with a single row `arange(n)`, so the CV
score, the holdout score and its bootstrap CI all come from one implementation.

Classification labels are integer codes 0..K-1; `p` holds probabilities of shape (n, K).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

EPS = 1e-15


def _roc_auc(y: np.ndarray, p: np.ndarray, idx: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata  # imported here: scipy.stats takes a second to import

    pos = y[idx] == 1
    ranks = rankdata(p[:, 1][idx], axis=1)
    n_pos = pos.sum(axis=1)
    n_neg = idx.shape[1] - n_pos
    with np.errstate(invalid="ignore", divide="ignore"):
        return ((ranks * pos).sum(axis=1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def _log_loss(y: np.ndarray, p: np.ndarray, idx: np.ndarray) -> np.ndarray:
    probs = np.clip(p / p.sum(axis=1, keepdims=True), EPS, 1.0)
    return -np.log(probs[np.arange(len(y)), y])[idx].mean(axis=1)


def _balanced_accuracy(y: np.ndarray, p: np.ndarray, idx: np.ndarray) -> np.ndarray:
    correct = (p.argmax(axis=1) == y)[idx]
    yi = y[idx]
    recalls = []
    for c in np.unique(y):
        in_c = yi == c
        with np.errstate(invalid="ignore", divide="ignore"):
            recalls.append((correct & in_c).sum(axis=1) / in_c.sum(axis=1))
    return np.nanmean(np.vstack(recalls), axis=0)


def _top_decile_precision(y: np.ndarray, p: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Share of positives among the 10 % of rows with the highest predicted risk; rows tied at
    the cut-off count with their average positive rate, so ties cannot favour either class."""
    k = max(1, int(np.ceil(0.1 * idx.shape[1])))
    risk, pos = p[:, 1][idx], (y[idx] == 1)
    cut = -np.partition(-risk, k - 1, axis=1)[:, k - 1:k]
    above, tied = risk > cut, risk == cut
    with np.errstate(invalid="ignore", divide="ignore"):
        tied_rate = (pos & tied).sum(axis=1) / tied.sum(axis=1)
    return ((pos & above).sum(axis=1) + (k - above.sum(axis=1)) * tied_rate) / k


def _rmse(y: np.ndarray, p: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return np.sqrt(((y - p)[idx] ** 2).mean(axis=1))


def _r2(y: np.ndarray, p: np.ndarray, idx: np.ndarray) -> np.ndarray:
    yi = y[idx]
    sse = ((yi - p[idx]) ** 2).sum(axis=1)
    sst = ((yi - yi.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1.0 - sse / sst


@dataclass(frozen=True)
class Metric:
    name: str
    greater_is_better: bool
    tasks: tuple[str, ...]
    batch: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    bounds: tuple[float, float]  # the range a score can take

    def __call__(self, y: np.ndarray, p: np.ndarray) -> float:
        """Score predictions `p` against `y`."""
        y, p = np.asarray(y), np.asarray(p)
        return float(self.batch(y, p, np.arange(len(y))[None, :])[0])

    def better(self, a: float, b: float) -> bool:
        """True when score `a` is strictly better than `b`."""
        return a > b if self.greater_is_better else a < b

    def loss(self, score: float) -> float:
        """Score turned into a quantity to minimise."""
        return -score if self.greater_is_better else score


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("roc_auc", True, ("binary",), _roc_auc, (0.0, 1.0)),
        Metric("log_loss", False, ("binary", "multiclass"), _log_loss, (0.0, math.inf)),
        Metric("balanced_accuracy", True, ("binary", "multiclass"), _balanced_accuracy,
               (0.0, 1.0)),
        Metric("top_decile_precision", True, ("binary",), _top_decile_precision, (0.0, 1.0)),
        Metric("rmse", False, ("regression",), _rmse, (0.0, math.inf)),
        Metric("r2", True, ("regression",), _r2, (-math.inf, 1.0)),
    )
}

DEFAULT_METRIC = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}


def metric_problem(name: str, task_type: str) -> str | None:
    """Why metric `name` cannot score a `task_type` task, naming those that can; None if it can."""
    if name in METRICS and task_type in METRICS[name].tasks:
        return None
    fitting = ", ".join(m for m, v in METRICS.items() if task_type in v.tasks)
    if name not in METRICS:
        return f"unknown metric {name!r}; for {task_type} tasks use one of {fitting}"
    return f"metric {name!r} does not apply to {task_type} tasks; use one of {fitting}"


def get_metric(name: str) -> Metric:
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; choose one of {', '.join(METRICS)}") from None
