"""Metrics, vectorized over bootstrap resamples.

Each metric scores `y` against predictions `p` at row indices of shape (B, n), given side by
side in parts (`Drawn`; a stratified bootstrap's are its classes): one score per resample, in
time linear in B × n (the rank metrics count the resampled rows at each
distinct risk, never sort a resample). The point estimate is the same function with a single
row `arange(n)`, so the CV score, the holdout score and its bootstrap CI all come from one
implementation.

Classification labels are integer codes 0..K-1; `p` holds probabilities of shape (n, K).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

EPS = 1e-15


def _ranked(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Per row: 2 × the rank of its predicted risk, + 1 for a positive (what the rank metrics
    need of a row, so a resample is counted, never sorted). Neighbouring risks held by one class
    alone share a rank: it changes neither metric, and the counts get that much shorter."""
    ranks = np.unique(p[:, 1], return_inverse=True)[1].reshape(-1)
    positive = (y == 1).astype(np.int64)
    width = int(ranks.max()) + 1 if ranks.size else 1
    has = np.zeros((width, 2), dtype=bool)
    has[ranks, positive] = True
    kind = np.where(has.all(axis=1), 2, has[:, 1])  # 0 negatives, 1 positives, 2 both
    starts = np.r_[True, (kind[1:] != kind[:-1]) | (kind[1:] == 2)]
    return 2 * (np.cumsum(starts) - 1)[ranks] + positive


Drawn = tuple[np.ndarray, ...]  # row indices (B, ·) side by side: each resample's, in parts


def _joined(idx: Drawn) -> np.ndarray:
    """The parts as one array (B, n)."""
    return idx[0] if len(idx) == 1 else np.concatenate(idx, axis=1)


# the last codes laid out negatives first (`_laid_out`), and the last (codes, idx, counts): the
# rank metrics scored on one chunk of resamples share them
_layout: list[tuple[np.ndarray, np.ndarray, int]] = []
_counted: list[tuple[np.ndarray, Drawn, np.ndarray]] = []


def _laid_out(codes: np.ndarray) -> tuple[np.ndarray, int]:
    """`_ranked`'s codes as rank, + the number of ranks for a positive, and that number: the
    counts of a resample come out as negatives then positives, each contiguous."""
    if not (_layout and _layout[0][0] is codes):
        width = int(codes.max()) // 2 + 1 if codes.size else 1
        _layout[:] = [(codes, (codes % 2) * width + codes // 2, width)]
    return _layout[0][1], _layout[0][2]


def _counts(codes: np.ndarray, idx: Drawn) -> np.ndarray:
    """(B, 2, risks): per resample, the negatives and the positives drawn at each distinct
    risk."""
    if _counted and _counted[0][0] is codes and _counted[0][1] is idx:
        return _counted[0][2]
    laid_out, width = _laid_out(codes)
    b_n = idx[0].shape[0]
    ends = np.cumsum([part.shape[1] for part in idx])
    drawn = np.empty(int(ends[-1]), dtype=np.int64)
    flat = np.empty((b_n, 2 * width), dtype=np.int64)
    for b in range(b_n):  # one resample at a time: its draws and counts stay in cache
        for part, end in zip(idx, ends, strict=True):  # each part's risks in place, no copy
            np.take(laid_out, part[b], out=drawn[end - part.shape[1]:end],
                    mode="clip")  # unbuffered ("raise" copies); the positions are in range
        flat[b] = np.bincount(drawn, minlength=2 * width)
    counts = flat.reshape(b_n, 2, width)
    _counted[:] = [(codes, idx, counts)]
    return counts


def _roc_auc(y: np.ndarray, codes: np.ndarray, idx: Drawn) -> np.ndarray:
    """Mann–Whitney: per positive, the negatives below its risk plus half those tied (twice
    that, 2 × below + tied, summed in integers)."""
    c = _counts(codes, idx)
    neg, pos = c[:, 0], c[:, 1]
    twice = np.cumsum(neg, axis=1)
    n_neg = twice[:, -1].copy()
    twice *= 2
    twice -= neg
    n_pos = pos.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.einsum("ij,ij->i", pos, twice) / (2.0 * n_pos * n_neg)


def _row_losses(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    probs = np.clip(p / p.sum(axis=1, keepdims=True), EPS, 1.0)
    return -np.log(probs[np.arange(len(y)), y])


def _mean_at(y: np.ndarray, values: np.ndarray, idx: Drawn) -> np.ndarray:
    return values[_joined(idx)].mean(axis=1)


def _class_correct(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Per row: 2 × its class + 1 when the predicted class is right."""
    return 2 * y.astype(np.int64) + (p.argmax(axis=1) == y)


def _balanced_accuracy(y: np.ndarray, codes: np.ndarray, parts: Drawn) -> np.ndarray:
    idx = _joined(parts)
    k = int(y.max()) + 1 if y.size else 1
    offsets = np.arange(idx.shape[0], dtype=np.int64)[:, None] * (2 * k)
    c = np.bincount((codes[idx] + offsets).ravel(), minlength=idx.shape[0] * 2 * k)
    c = c.reshape(idx.shape[0], k, 2)[:, np.unique(y), :]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nanmean(c[:, :, 1] / c.sum(axis=2), axis=1)


def _top_decile_precision(y: np.ndarray, codes: np.ndarray, idx: Drawn) -> np.ndarray:
    """Share of positives among the 10 % of rows with the highest predicted risk; rows tied at
    the cut-off count with their average positive rate, so ties cannot favour either class."""
    m = sum(part.shape[1] for part in idx)
    k = max(1, int(np.ceil(0.1 * m)))
    c = _counts(codes, idx)
    pos = c[:, 1]
    rows = c[:, 0] + pos
    below = np.cumsum(rows, axis=1)
    below -= rows  # rows at a lower risk
    out = np.empty(len(c))
    for b in range(len(c)):  # the sums above the cut-off cover only the top tenth
        cut = int(np.searchsorted(below[b], m - k, side="right")) - 1  # where the top k end
        tied, tied_pos = rows[b, cut], pos[b, cut]
        above, pos_above = int(rows[b, cut + 1:].sum()), int(pos[b, cut + 1:].sum())
        with np.errstate(invalid="ignore", divide="ignore"):
            out[b] = (pos_above + (k - above) * (tied_pos / tied)) / k
    return out


def _squared_errors(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    return (y - p) ** 2


def _rmse(y: np.ndarray, se: np.ndarray, idx: Drawn) -> np.ndarray:
    return np.sqrt(se[_joined(idx)].mean(axis=1))


def _targets_and_errors(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    return np.vstack([y, (y - p) ** 2])


def _r2(y: np.ndarray, q: np.ndarray, parts: Drawn) -> np.ndarray:
    idx = _joined(parts)
    yi = q[0][idx]
    sse = q[1][idx].sum(axis=1)
    sst = ((yi - yi.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1.0 - sse / sst


Kernel = Callable[[np.ndarray, np.ndarray, Drawn], np.ndarray]


@dataclass(frozen=True)
class Metric:
    """`prepare(y, p)` turns predictions into what `kernel(y, prepared, idx)` scores at row
    indices `idx` (`Drawn`): done once, however many resamples are scored."""

    name: str
    greater_is_better: bool
    tasks: tuple[str, ...]
    kernel: Kernel
    bounds: tuple[float, float]  # the range a score can take
    prepare: Callable[[np.ndarray, np.ndarray], np.ndarray]

    def __call__(self, y: np.ndarray, p: np.ndarray) -> float:
        """Score predictions `p` against `y`."""
        y, p = np.asarray(y), np.asarray(p)
        return float(self.batch(y, p, np.arange(len(y))[None, :])[0])

    def on(self, y: np.ndarray, p: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        """The scores of `p` against `y` at row indices (B, n), prepared once."""
        prepared = self.prepare(y, p)
        return lambda idx: self.kernel(y, prepared, (idx,))

    def batch(self, y: np.ndarray, p: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """One score per row of `idx` (B, n)."""
        return self.on(y, p)(idx)

    def better(self, a: float, b: float) -> bool:
        """True when score `a` is strictly better than `b`."""
        return a > b if self.greater_is_better else a < b

    def loss(self, score: float) -> float:
        """Score turned into a quantity to minimise."""
        return -score if self.greater_is_better else score


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("roc_auc", True, ("binary",), _roc_auc, (0.0, 1.0), _ranked),
        Metric("log_loss", False, ("binary", "multiclass"), _mean_at, (0.0, math.inf),
               _row_losses),
        Metric("balanced_accuracy", True, ("binary", "multiclass"), _balanced_accuracy,
               (0.0, 1.0), _class_correct),
        Metric("top_decile_precision", True, ("binary",), _top_decile_precision, (0.0, 1.0),
               _ranked),
        Metric("rmse", False, ("regression",), _rmse, (0.0, math.inf), _squared_errors),
        Metric("r2", True, ("regression",), _r2, (-math.inf, 1.0), _targets_and_errors),
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
