"""Whether the best system's lead over the runner-up on one dataset is clear.

The difference is taken split by split on the same holdout rows. Over two or more shared splits
its interval is the t-interval of the per-split differences, whose spread carries both the
split-to-split (seed) variance and each holdout's own noise. A bootstrap over so few splits is far
too narrow: with two seeds it called equally good systems' lead clear about a quarter of the time
(`python -m benchmarks.calibration`). On one shared split only the holdout rows can be resampled,
so nothing is said about other splits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from adapters.metrics import Metric
from auditor.stats.bootstrap import paired_gain
from auditor.stats.compare import mean_ci

# one shared split: (holdout labels, predictions of a, predictions of b, the split's seed)
SplitPair = tuple[np.ndarray, np.ndarray, np.ndarray, int]


@dataclass(frozen=True)
class Lead:
    """Mean over shared splits of score(a) − score(b), positive when a is better, with its 95 %
    interval (t across splits, or the holdout bootstrap on a single split)."""

    point: float
    lo: float
    hi: float
    splits: int

    @property
    def clear(self) -> bool:
        """Beyond the interval across splits; never on one split (its seed variance unknown)."""
        return self.splits >= 2 and self.lo > 0


def lead(metric: Metric, pairs: Sequence[SplitPair], stratified: bool) -> Lead:
    """The lead of a over b over the splits both finished (at least one)."""
    sign = 1.0 if metric.greater_is_better else -1.0
    points = [sign * (metric(y, a) - metric(y, b)) for y, a, b, _ in pairs]
    if len(points) >= 2:
        i = mean_ci(points)
        assert i.lo is not None and i.hi is not None
        return Lead(i.mean + 0.0, i.lo + 0.0, i.hi + 0.0, len(points))
    (y, a, b, seed), = pairs
    return Lead(*paired_gain(metric, y, a, b, stratified, seed), 1)
