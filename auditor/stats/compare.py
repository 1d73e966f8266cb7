"""Statistics across datasets and seeds: who won, by how much, and how sure we are.

The input is a tidy table of holdout scores, one `Observation` per successful run. Choices:

- A dataset counts once. A system's score on a dataset is its mean over that dataset's seeds (or
  folds), with a t-interval across them (`Cell.score`). Ranks, the Friedman and Nemenyi tests,
  win/tie/loss counts and the Wilcoxon tests use per-dataset means (Demšar 2006), so a dataset
  with more seeds weighs no more than one with fewer — taken over the same seeds for every system
  compared: a system that failed on a seed is not compared there, so failing never helps.
- Scores are oriented so that higher is better before anything is compared (lower-is-better
  metrics are negated); rank 1 is best and tied systems share the average rank.
- Ranks, Friedman and Nemenyi use the datasets with at least one seed on which every system
  succeeded (complete blocks), each system's mean over those seeds (`Cell.paired`); the other
  datasets are listed in `excluded` with the reason. A pair of systems is compared (wins, ties,
  losses, Wilcoxon signed-rank) on every dataset where both succeeded on a common seed, over those
  seeds.
- Friedman: `scipy.stats.friedmanchisquare` (needs 3 or more systems and 2 or more datasets).
  Nemenyi: p-values from `scikit_posthocs.posthoc_nemenyi_friedman`, critical difference
  CD = q · sqrt(k(k+1) / 6N) with q the studentized range quantile at 1 − alpha / sqrt(2).
- Wilcoxon: `scipy.stats.wilcoxon` with its defaults (zero differences dropped, exact p-values for
  small samples), Holm-corrected over every pair that was tested. A tie is an equal mean.
  `min_datasets` says how many datasets a Holm-corrected result needs at all.
- Normalized scores. AMLB style, as AMLB defines it: (score − baseline) / (reference − baseline)
  on each seed (task × fold) where all three succeeded, then the mean per dataset, so the baseline
  (constant predictor) is 0 and the reference 1 whichever way the metric points. Bayesmark style:
  100 · (1 − (loss − best) / (mean loss of random search − best)) on per-dataset means, where
  `best` is the best single holdout score any run reached on the dataset, so random search is 0
  and that best is 100; a dataset where random search is within one standard error (across its
  seeds) of that best has no such scale and is `n/a`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from itertools import combinations
from typing import Any

import numpy as np
from scipy import stats

from auditor.stats.bootstrap import LEVEL

ALPHA = 0.05
NOT_ENOUGH = "not enough datasets for a test"


@dataclass(frozen=True)
class Observation:
    """One successful run's holdout score."""

    dataset: str
    split: str  # seed, or seed / repeat / fold for an OpenML task's folds
    system: str
    score: float
    greater_is_better: bool
    bounds: tuple[float, float] = (-math.inf, math.inf)  # the metric's range


@dataclass(frozen=True)
class Interval:
    """Mean with a two-sided t-interval (None when n < 2)."""

    mean: float
    lo: float | None
    hi: float | None
    n: int


@dataclass(frozen=True)
class Cell:
    """One system on one dataset: its mean holdout score across seeds and its rank there."""

    dataset: str
    system: str
    score: Interval  # over every seed the system succeeded on
    rank: float | None  # None when the dataset is not a complete block
    paired: Interval | None = None  # over the seeds on which all systems that ran there succeeded


@dataclass(frozen=True)
class Friedman:
    n_datasets: int
    n_systems: int
    statistic: float | None
    p_value: float | None
    note: str | None = None


@dataclass(frozen=True)
class Nemenyi:
    alpha: float
    q_alpha: float
    critical_difference: float
    p_values: dict[tuple[str, str], float]  # each unordered pair once, in `systems` order
    cliques: list[list[str]]  # runs of systems (by mean rank) not significantly different


@dataclass(frozen=True)
class Pair:
    """`a` against `b` on the datasets both have a score on; wins are datasets `a` did better."""

    a: str
    b: str
    n_datasets: int
    wins: int
    ties: int
    losses: int
    median_difference: float | None  # of oriented per-dataset means, a − b (positive: a better)
    statistic: float | None = None
    p_value: float | None = None
    p_holm: float | None = None
    note: str | None = None

    @property
    def significant(self) -> bool:
        return self.p_holm is not None and self.p_holm < ALPHA


@dataclass(frozen=True)
class Normalized:
    style: str  # "amlb" or "bayesmark"
    zero: str  # what scores 0
    one: str  # what scores 1 (amlb) or 100 (bayesmark)
    per_dataset: dict[tuple[str, str], float]  # (dataset, system) → normalized score
    summary: dict[str, Interval]  # system → mean across datasets with its CI
    note: str | None = None


@dataclass
class Comparison:
    systems: list[str]  # by mean rank, best first; systems outside the ranking after them
    datasets: list[str]
    blocks: list[str]  # datasets in the ranks, Friedman and Nemenyi
    excluded: dict[str, str]  # dataset → why it is not a block
    splits: dict[str, int]  # dataset → number of seeds / folds with any score
    complete: dict[str, int]  # dataset → seeds / folds on which all its systems succeeded
    cells: list[Cell]
    mean_ranks: dict[str, float]
    friedman: Friedman
    nemenyi: Nemenyi | None
    pairs: list[Pair]
    normalized: list[Normalized] = field(default_factory=list)

    @property
    def min_datasets(self) -> int:
        """Datasets a Holm-corrected Wilcoxon result needs before it can reach p < ALPHA: the
        smallest exact two-sided p over n datasets is 2 / 2^n, times the number of pairs."""
        return min_datasets(len(self.pairs))

    def cell(self, dataset: str, system: str) -> Cell | None:
        return next((c for c in self.cells if c.dataset == dataset and c.system == system), None)


def mean_ci(values: Sequence[float], level: float = LEVEL,
            bounds: tuple[float, float] = (-math.inf, math.inf)) -> Interval:
    """Mean and t-interval across `values` (seeds, or datasets), cut to `bounds`, the range the
    values can take (with two seeds the interval is wide enough to pass an AUC of 1)."""
    x = np.asarray(values, dtype=float)
    mean = float(x.mean())
    if len(x) < 2:
        return Interval(mean, None, None, len(x))
    half = float(stats.t.ppf((1 + level) / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return Interval(mean, max(mean - half, bounds[0]), min(mean + half, bounds[1]), len(x))


def min_datasets(pairs: int, alpha: float = ALPHA) -> int:
    """Smallest n with pairs · 2 / 2^n < alpha (Holm's step at the smallest p-value)."""
    return max(2, math.floor(math.log2(2 * max(pairs, 1) / alpha)) + 1)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order."""
    m = len(p_values)
    adjusted = [0.0] * m
    running = 0.0
    for step, i in enumerate(sorted(range(m), key=lambda i: p_values[i])):
        running = max(running, min(1.0, (m - step) * p_values[i]))
        adjusted[i] = running
    return adjusted


Scores = dict[tuple[str, str], dict[str, float]]  # (dataset, system) → split → oriented score


def _by_cell(obs: Sequence[Observation]) -> Scores:
    by: Scores = {}
    for o in obs:
        by.setdefault((o.dataset, o.system), {})[o.split] = (
            o.score if o.greater_is_better else -o.score)
    return by


def _common(scores: Scores, dataset: str, systems: Sequence[str]) -> list[str]:
    """The dataset's splits on which every one of `systems` succeeded."""
    sets = [set(scores.get((dataset, s), {})) for s in systems]
    return sorted(set.intersection(*sets)) if sets else []


def _mean_over(scores: Scores, dataset: str, system: str, splits: Sequence[str]) -> float:
    return float(np.mean([scores[dataset, system][k] for k in splits]))


def _friedman(matrix: np.ndarray) -> Friedman:
    n, k = matrix.shape
    if k < 3:
        return Friedman(n, k, None, None, "it needs 3 or more systems; with 2, "
                        "the Wilcoxon signed-rank test below compares them")
    if n < 2:
        return Friedman(n, k, None, None, NOT_ENOUGH)
    if all(len(set(row)) == 1 for row in matrix):
        return Friedman(n, k, None, None, "every system tied on every dataset: no test")
    result = stats.friedmanchisquare(*matrix.T)
    return Friedman(n, k, float(result.statistic), float(result.pvalue))


def _nemenyi(matrix: np.ndarray, systems: list[str], alpha: float) -> Nemenyi:
    import scikit_posthocs as sp

    n, k = matrix.shape
    q_alpha = float(stats.studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2))
    cd = q_alpha * math.sqrt(k * (k + 1) / (6 * n))
    p = sp.posthoc_nemenyi_friedman(matrix).to_numpy()
    p_values = {(systems[i], systems[j]): float(p[i, j]) for i, j in combinations(range(k), 2)}
    cliques: list[list[str]] = []
    for i in range(k):  # `systems` is sorted by mean rank, so each run of equals is contiguous
        j = max(j for j in range(i, k) if j == i or p[i, j] > alpha)
        if j > i and not (cliques and systems[j] in cliques[-1]):
            cliques.append(systems[i:j + 1])
    return Nemenyi(alpha, q_alpha, cd, p_values, cliques)


def _pair(a: str, b: str, scores: Scores, datasets: list[str]) -> Pair:
    common = {d: _common(scores, d, (a, b)) for d in datasets}
    shared = [d for d in datasets if common[d]]
    x, y = ([_mean_over(scores, d, s, common[d]) for d in shared] for s in (a, b))
    diff = np.array(x) - np.array(y)
    counts: dict[str, Any] = dict(n_datasets=len(shared), wins=int((diff > 0).sum()),
                                  ties=int((diff == 0).sum()), losses=int((diff < 0).sum()))
    if len(shared) < 2:
        return Pair(a, b, **counts, median_difference=float(np.median(diff)) if shared else None,
                    note=NOT_ENOUGH)
    median = float(np.median(diff))
    if not diff.any():
        return Pair(a, b, **counts, median_difference=median, note="equal on every dataset")
    result = stats.wilcoxon(x, y)
    return Pair(a, b, **counts, median_difference=median, statistic=float(result.statistic),
                p_value=float(result.pvalue))


def _amlb(baseline: str, reference: str, scores: Scores, datasets: list[str],
          systems: list[str]) -> Normalized:
    """(score − baseline) / (reference − baseline) per seed, then the mean per dataset."""
    per_dataset: dict[tuple[str, str], float] = {}
    skipped = []
    for d in datasets:
        anchors = _common(scores, d, (baseline, reference))
        anchors = [k for k in anchors if scores[d, reference][k] != scores[d, baseline][k]]
        if not anchors:
            skipped.append(d)
            continue
        for s in systems:
            own = [k for k in anchors if k in scores.get((d, s), {})]
            if own:
                per_dataset[d, s] = float(np.mean(
                    [(scores[d, s][k] - scores[d, baseline][k])
                     / (scores[d, reference][k] - scores[d, baseline][k]) for k in own]))
    note = (f"left out {', '.join(skipped)}: no seed where {baseline} and {reference} both "
            "succeeded with different scores") if skipped else None
    return Normalized("amlb", baseline, reference, per_dataset, _summary(per_dataset, systems),
                      note)


def _bayesmark(random: str, scores: Scores, datasets: list[str], systems: list[str]
               ) -> Normalized:
    """100 · (score − random) / (best − random) on per-dataset means; n/a where random search is
    within one standard error of the best (no scale to normalize by)."""
    per_dataset: dict[tuple[str, str], float] = {}
    skipped = []
    for d in datasets:
        own = list(scores.get((d, random), {}).values())
        best = max(v for (e, _), by in scores.items() if e == d for v in by.values())
        noise = float(np.std(own, ddof=1) / math.sqrt(len(own))) if len(own) > 1 else 0.0
        if not own or best - float(np.mean(own)) <= max(noise, 1e-12 * max(1.0, abs(best))):
            skipped.append(d)
            continue
        low = float(np.mean(own))
        per_dataset |= {(d, s): 100.0 * (float(np.mean(list(scores[d, s].values()))) - low)
                        / (best - low) for s in systems if (d, s) in scores}
    note = (f"n/a on {', '.join(skipped)}: {random} has no score there, or is within one "
            "standard error of the best run, so there is no scale to normalize by"
            ) if skipped else None
    # no mean can pass the best single run
    return Normalized("bayesmark", random, "best seen", per_dataset,
                      _summary(per_dataset, systems, (-math.inf, 100.0)), note)


def _summary(per_dataset: dict[tuple[str, str], float], systems: list[str],
             bounds: tuple[float, float] = (-math.inf, math.inf)) -> dict[str, Interval]:
    return {s: mean_ci([v for (_, t), v in per_dataset.items() if t == s], bounds=bounds)
            for s in systems if any(t == s for _, t in per_dataset)}


def compare(obs: Sequence[Observation], baseline: str | None = None,
            reference: str | None = None, random: str | None = None,
            alpha: float = ALPHA, pairwise: bool = True) -> Comparison:
    """Every statistic of the module docstring from the tidy table `obs`.

    `baseline` (constant predictor) and `reference` (tuned system) anchor the AMLB-style
    normalization and `random` (random search) the Bayesmark-style one; each is skipped when None.
    Without `pairwise`, the pairwise tests are left out (no `pairs`).
    """
    datasets = list(dict.fromkeys(o.dataset for o in obs))
    systems = sorted({o.system for o in obs})
    scores = _by_cell(obs)
    sign = {o.dataset: 1.0 if o.greater_is_better else -1.0 for o in obs}
    bounds = {o.dataset: o.bounds for o in obs}
    intervals = {(d, s): mean_ci([sign[d] * v for v in by.values()], bounds=bounds[d])
                 for (d, s), by in scores.items()}
    # per dataset, the splits on which every system with a success there succeeded
    complete = {d: _common(scores, d, [s for s in systems if (d, s) in scores])
                for d in datasets}
    excluded = {}
    for d in datasets:
        missing = [s for s in systems if (d, s) not in scores]
        if missing:
            excluded[d] = f"no successful run of {', '.join(missing)}"
        elif not complete[d]:
            excluded[d] = "no seed on which every system succeeded"
    blocks = [d for d in datasets if d not in excluded]
    matrix = np.array([[_mean_over(scores, d, s, complete[d]) for s in systems]
                       for d in blocks]).reshape(-1, len(systems))
    ranks = stats.rankdata(-matrix, axis=1) if blocks else matrix
    mean_ranks = {s: float(ranks[:, i].mean()) for i, s in enumerate(systems)} if blocks else {}
    order = sorted(systems, key=lambda s: (mean_ranks.get(s, math.inf), s))
    columns = [systems.index(s) for s in order]
    matrix = matrix[:, columns]
    friedman = _friedman(matrix)
    nemenyi = (_nemenyi(matrix, order, alpha)
               if len(blocks) >= 2 and len(order) >= 2 else None)
    block_rank = {(d, s): float(ranks[r, systems.index(s)])
                  for r, d in enumerate(blocks) for s in systems}
    cells = [Cell(d, s, intervals[d, s], block_rank.get((d, s)),
                  mean_ci([sign[d] * scores[d, s][k] for k in complete[d]], bounds=bounds[d])
                  if complete[d] else None)
             for d in datasets for s in order if (d, s) in intervals]
    pairs = [_pair(a, b, scores, datasets) for a, b in combinations(order, 2)] if pairwise else []
    tested = [(i, p.p_value) for i, p in enumerate(pairs) if p.p_value is not None]
    for (i, _), adjusted in zip(tested, holm([p for _, p in tested]), strict=True):
        pairs[i] = replace(pairs[i], p_holm=adjusted)
    normalized = []
    if baseline in systems and reference in systems:
        normalized.append(_amlb(baseline, reference, scores, datasets, order))
    if random in systems:
        normalized.append(_bayesmark(random, scores, datasets, order))
    splits = {d: len({o.split for o in obs if o.dataset == d}) for d in datasets}
    return Comparison(order, datasets, blocks, excluded, splits,
                      {d: len(complete[d]) for d in datasets}, cells, mean_ranks, friedman,
                      nemenyi, pairs, normalized)
