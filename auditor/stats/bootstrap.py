"""Percentile bootstrap: resampled row indices, drawn a few resamples at a time so that memory
stays linear in the rows whatever their number, the interval from a resampled statistic, and the
paired difference of two predictions on the same resampled rows."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from adapters.metrics import Metric

N_BOOTSTRAP = 1000
LEVEL = 0.95
CHUNK_CELLS = 2**21  # resampled row indices held at a time


@dataclass(frozen=True)
class Resamples:
    """`n` resamples of the rows of `y`, class counts kept fixed when `stratified` (each class
    drawn from its own stream of `seed`), as chunks of row indices (B, len(y))."""

    y: np.ndarray
    stratified: bool
    seed: int
    n: int = N_BOOTSTRAP

    def chunks(self, step: int | None = None) -> Iterator[np.ndarray]:
        """The resamples, `step` at a time (default: `CHUNK_CELLS` indices a chunk)."""
        m = len(self.y)
        step = step or max(1, CHUNK_CELLS // max(m, 1))
        dtype = np.int32 if m < 2**31 else np.int64
        if self.stratified:
            groups = [np.flatnonzero(self.y == c).astype(dtype) for c in np.unique(self.y)]
        else:
            groups = [np.arange(m, dtype=dtype)]
        rngs = np.random.default_rng(self.seed).spawn(len(groups))
        for start in range(0, self.n, step):
            b = min(step, self.n - start)
            yield np.concatenate([rows[rng.integers(0, len(rows), size=(b, len(rows)), dtype=dtype)]
                                  for rows, rng in zip(groups, rngs, strict=True)], axis=1)

    def map(self, statistic: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """`statistic` of each resample (it takes a chunk of indices)."""
        return np.concatenate([statistic(idx) for idx in self.chunks()])

    def scores(self, metric: Metric, preds: np.ndarray) -> np.ndarray:
        """`metric` of `preds` on each resample."""
        return self.map(metric.on(self.y, preds))

    def scores_of(self, metrics: Sequence[Metric], preds: np.ndarray) -> list[np.ndarray]:
        """Each of `metrics` of `preds` on each resample, in one pass over the resamples (and
        one preparation of the predictions per kind of metric)."""
        prepared: dict[Any, np.ndarray] = {}
        kernels = []
        for m in metrics:
            if m.prepare not in prepared:
                prepared[m.prepare] = m.prepare(self.y, preds)
            kernels.append(functools.partial(m.kernel, self.y, prepared[m.prepare]))
        parts: list[list[np.ndarray]] = [[] for _ in metrics]
        for idx in self.chunks():
            for part, kernel in zip(parts, kernels, strict=True):
                part.append(kernel(idx))
        return [np.concatenate(part) for part in parts]

    def differences(self, metric: Metric, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """`metric` of `a` minus that of `b` on each resample (the same rows for both)."""
        score_a, score_b = metric.on(self.y, a), metric.on(self.y, b)
        return self.map(lambda idx: score_a(idx) - score_b(idx))


def percentile_interval(samples: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The central `level` interval of a statistic's bootstrap `samples`; NaN samples (resamples
    on which the statistic is undefined) are left out."""
    alpha = (1 - level) / 2
    lo, hi = np.nanquantile(samples, [alpha, 1 - alpha])
    return float(lo), float(hi)


def paired_gain(metric: Metric, y: np.ndarray, a: np.ndarray, b: np.ndarray, stratified: bool,
                seed: int) -> tuple[float, float, float]:
    """score(a) − score(b) in the better direction (positive: a is better), with a paired
    bootstrap CI over the same resampled rows."""
    sign = 1.0 if metric.greater_is_better else -1.0
    boots = sign * Resamples(y, stratified, seed).differences(metric, a, b)
    lo, hi = percentile_interval(boots)
    point = sign * (metric(y, a) - metric(y, b))
    return float(point) + 0.0, lo + 0.0, hi + 0.0  # no "-0" in the report
