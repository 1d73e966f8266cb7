"""Percentile bootstrap: resampled row indices, drawn a few resamples at a time so that memory
stays linear in the rows whatever their number, the interval from a resampled statistic, and the
paired difference of two predictions on the same resampled rows."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from adapters.metrics import Metric

N_BOOTSTRAP = 1000
LEVEL = 0.95
CHUNK_CELLS = 2**21  # resampled row indices held at a time
SCORE_CELLS = 2**17  # those scored at a time: a resample's draws and counts stay in cache


@dataclass(frozen=True)
class Resamples:
    """`n` resamples of the rows of `y`, class counts kept fixed when `stratified` (each class
    drawn from its own stream of `seed`), as chunks of row indices (B, len(y)). Scoring draws
    positions in `order` (the rows class by class), so no index is looked up twice."""

    y: np.ndarray
    stratified: bool
    seed: int
    n: int = N_BOOTSTRAP

    @cached_property
    def _groups(self) -> list[np.ndarray]:
        if not self.stratified:
            return [np.arange(len(self.y))]
        return [np.flatnonzero(self.y == c) for c in np.unique(self.y)]

    @cached_property
    def order(self) -> np.ndarray:
        """The rows, class by class (each class's rows in their order)."""
        return np.concatenate(self._groups) if self._groups else np.arange(0)

    def drawn(self, step: int | None = None) -> Iterator[tuple[np.ndarray, ...]]:
        """The resamples, `step` at a time (default: `CHUNK_CELLS` positions a chunk), as each
        class's positions in `order` (B, the class's rows), class by class."""
        m = len(self.y)
        step = step or max(1, CHUNK_CELLS // max(m, 1))
        sizes = [len(rows) for rows in self._groups]
        starts = np.cumsum([0, *sizes[:-1]])
        rngs = np.random.default_rng(self.seed).spawn(len(sizes))
        for first in range(0, self.n, step):
            b = min(step, self.n - first)
            # as intp: the same values as int32 draws, and indexing with them needs no cast
            yield tuple(rng.integers(start, start + size, size=(b, size), dtype=np.intp)
                        for start, size, rng in zip(starts, sizes, rngs, strict=True))

    def positions(self, step: int | None = None) -> Iterator[np.ndarray]:
        """The resamples as positions in `order` (B, len(y)), `step` at a time."""
        for parts in self.drawn(step):
            yield np.concatenate(parts, axis=1)

    def chunks(self, step: int | None = None) -> Iterator[np.ndarray]:
        """The resamples as row indices of `y`, `step` at a time."""
        for at in self.positions(step):
            yield self.order[at]

    def scores(self, metric: Metric, preds: np.ndarray) -> np.ndarray:
        """`metric` of `preds` on each resample."""
        return self.scores_of([metric], preds)[0]

    def scores_of(self, metrics: Sequence[Metric], preds: np.ndarray) -> list[np.ndarray]:
        """Each of `metrics` of `preds` on each resample, in one pass over the resamples (and
        one preparation of the predictions per kind of metric)."""
        y, preds = self.y[self.order], np.asarray(preds)[self.order]
        prepared: dict[Any, np.ndarray] = {}
        kernels = []
        for m in metrics:
            if m.prepare not in prepared:
                prepared[m.prepare] = m.prepare(y, preds)
            kernels.append(functools.partial(m.kernel, y, prepared[m.prepare]))
        parts: list[list[np.ndarray]] = [[] for _ in metrics]
        for at in self.drawn(max(1, SCORE_CELLS // max(len(self.y), 1))):
            for part, kernel in zip(parts, kernels, strict=True):
                part.append(kernel(at))
        return [np.concatenate(part) for part in parts]


def percentile_interval(samples: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The central `level` interval of a statistic's bootstrap `samples`; NaN samples (resamples
    on which the statistic is undefined) are left out."""
    alpha = (1 - level) / 2
    quantile = np.nanquantile if np.isnan(samples).any() else np.quantile  # the same, faster
    lo, hi = quantile(samples, [alpha, 1 - alpha])
    return float(lo), float(hi)


def paired_gain(metric: Metric, y: np.ndarray, a: np.ndarray, b: np.ndarray, stratified: bool,
                seed: int) -> tuple[float, float, float]:
    """score(a) − score(b) in the better direction (positive: a is better), with a paired
    bootstrap CI over the same resampled rows."""
    return PairedScores(metric, y, stratified, seed).gain("a", lambda: a, "b", lambda: b)


@dataclass
class PairedScores:
    """`paired_gain` among many predictions on the same rows, each named by a key: every one's
    score and bootstrap scores are computed once, on one set of resampled rows, so comparing
    each of k predictions with the others costs k bootstraps, not k·(k − 1)·2."""

    metric: Metric
    y: np.ndarray
    stratified: bool
    seed: int
    _scores: dict[str, tuple[float, np.ndarray]] = field(default_factory=dict, repr=False)

    @cached_property
    def _resamples(self) -> Resamples:
        return Resamples(self.y, self.stratified, self.seed)

    def _of(self, key: str, predictions: Callable[[], np.ndarray]) -> tuple[float, np.ndarray]:
        if key not in self._scores:
            p = predictions()
            self._scores[key] = (self.metric(self.y, p), self._resamples.scores(self.metric, p))
        return self._scores[key]

    def know(self, key: str, point: float, boot: Callable[[], np.ndarray | None]) -> None:
        """Take the score and bootstrap scores (`boot`, called once unless `key` is known; None:
        not at hand) of the predictions `key` as worked out already by the same metric on the
        same resamples, so they are not drawn again."""
        if key not in self._scores and (scores := boot()) is not None:
            self._scores[key] = (point, scores)

    def gain(self, a: str, a_predictions: Callable[[], np.ndarray], b: str,
             b_predictions: Callable[[], np.ndarray]) -> tuple[float, float, float]:
        """`paired_gain` of the predictions `a` over `b` (each loaded by its callable once)."""
        sign = 1.0 if self.metric.greater_is_better else -1.0
        (point_a, boot_a), (point_b, boot_b) = self._of(a, a_predictions), self._of(
            b, b_predictions)
        lo, hi = percentile_interval(sign * (boot_a - boot_b))
        point = sign * (point_a - point_b)
        return float(point) + 0.0, lo + 0.0, hi + 0.0  # no "-0" in the report
