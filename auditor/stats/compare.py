"""Statistics across datasets and seeds: who won, by how much, and how sure we are.

The input is a tidy table of holdout scores, one `Observation` per successful run. Choices:

- A dataset counts once. A system's score on a dataset is its mean over that dataset's seeds (or
  folds), with a t-interval across them; ranks, the Friedman and Nemenyi tests, win/tie/loss
  counts and the Wilcoxon tests all use these per-dataset means (Demšar 2006), so a dataset with
  more seeds weighs no more than one with fewer.
- Scores are oriented so that higher is better before anything is compared (lower-is-better
  metrics are negated); rank 1 is best and tied systems share the average rank.
- Ranks, Friedman and Nemenyi use the datasets on which every system has a score (complete
  blocks); the others are listed in `excluded` with the reason. A pair of systems is compared (wins,
  ties, losses, Wilcoxon signed-rank) on every dataset both have a score on.
- Friedman: `scipy.stats.friedmanchisquare` (needs 3 or more systems and 2 or more datasets).
  Nemenyi: p-values from `scikit_posthocs.posthoc_nemenyi_friedman`, critical difference
  CD = q · sqrt(k(k+1) / 6N) with q the studentized range quantile at 1 − alpha / sqrt(2).
- Wilcoxon: `scipy.stats.wilcoxon` with its defaults (zero differences dropped, exact p-values for
  small samples), Holm-corrected over every pair that was tested. A tie is an equal mean.
- Normalized scores per dataset, from the per-dataset means: AMLB style
  (score − baseline) / (reference − baseline), so the baseline (constant predictor) is 0 and the
  tuned reference 1 whichever way the metric points; Bayesmark style
  100 · (1 − (loss − best) / (loss of random search − best)), where `best` is the best single
  holdout score any run reached on the dataset, so random search is 0 and that best is 100.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from itertools import combinations

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
    score: Interval
    rank: float | None  # None when the dataset is not a complete block


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
    cells: list[Cell]
    mean_ranks: dict[str, float]
    friedman: Friedman
    nemenyi: Nemenyi | None
    pairs: list[Pair]
    normalized: list[Normalized] = field(default_factory=list)

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


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order."""
    m = len(p_values)
    adjusted = [0.0] * m
    running = 0.0
    for step, i in enumerate(sorted(range(m), key=lambda i: p_values[i])):
        running = max(running, min(1.0, (m - step) * p_values[i]))
        adjusted[i] = running
    return adjusted


def _by_cell(obs: Sequence[Observation]) -> dict[tuple[str, str], list[float]]:
    by: dict[tuple[str, str], list[float]] = {}
    for o in obs:
        by.setdefault((o.dataset, o.system), []).append(o.score)
    return by


def _friedman(matrix: np.ndarray) -> Friedman:
    n, k = matrix.shape
    if k < 3:
        return Friedman(n, k, None, None, "the Friedman test needs 3 or more systems; with 2, "
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


def _pair(a: str, b: str, oriented: dict[tuple[str, str], float], datasets: list[str]) -> Pair:
    shared = [d for d in datasets if (d, a) in oriented and (d, b) in oriented]
    diff = np.array([oriented[d, a] - oriented[d, b] for d in shared])
    counts = dict(n_datasets=len(shared), wins=int((diff > 0).sum()), ties=int((diff == 0).sum()),
                  losses=int((diff < 0).sum()))
    if len(shared) < 2:
        return Pair(a, b, **counts, median_difference=float(np.median(diff)) if shared else None,
                    note=NOT_ENOUGH)
    median = float(np.median(diff))
    if not diff.any():
        return Pair(a, b, **counts, median_difference=median, note="equal on every dataset")
    x, y = ([oriented[d, s] for d in shared] for s in (a, b))
    result = stats.wilcoxon(x, y)
    return Pair(a, b, **counts, median_difference=median, statistic=float(result.statistic),
                p_value=float(result.pvalue))


def _normalized(style: str, zero: str, one: str, oriented: dict[tuple[str, str], float],
                best: dict[str, float], datasets: list[str], systems: list[str]) -> Normalized:
    """(score − zero) / (one − zero) per dataset on oriented means (× 100 for Bayesmark style)."""
    scale = 1.0 if style == "amlb" else 100.0
    per_dataset: dict[tuple[str, str], float] = {}
    skipped = []
    for d in datasets:
        low = oriented.get((d, zero))
        top = oriented.get((d, one)) if style == "amlb" else best[d]
        if low is None or top is None or top == low:
            skipped.append(d)
            continue
        per_dataset |= {(d, s): scale * (oriented[d, s] - low) / (top - low)
                        for s in systems if (d, s) in oriented}
    # no mean can pass the best single run, 100 in Bayesmark style; AMLB style has no ceiling
    bounds = (-math.inf, math.inf if style == "amlb" else scale)
    summary = {s: mean_ci([v for (_, t), v in per_dataset.items() if t == s], bounds=bounds)
               for s in systems if any(t == s for _, t in per_dataset)}
    note = None
    if skipped:
        note = (f"left out {', '.join(skipped)}: {zero} or {one} has no score there, "
                "or the two score the same")
    return Normalized(style, zero, one, per_dataset, summary, note)


def compare(obs: Sequence[Observation], baseline: str | None = None,
            reference: str | None = None, random: str | None = None,
            alpha: float = ALPHA) -> Comparison:
    """Every statistic of the module docstring from the tidy table `obs`.

    `baseline` (constant predictor) and `reference` (tuned system) anchor the AMLB-style
    normalization and `random` (random search) the Bayesmark-style one; each is skipped when None.
    """
    datasets = list(dict.fromkeys(o.dataset for o in obs))
    systems = sorted({o.system for o in obs})
    gib = {o.dataset: o.greater_is_better for o in obs}
    raw = _by_cell(obs)
    bounds = {o.dataset: o.bounds for o in obs}
    intervals = {(d, s): mean_ci(v, bounds=bounds[d]) for (d, s), v in raw.items()}
    sign = {d: 1.0 if gib[d] else -1.0 for d in datasets}
    oriented = {(d, s): sign[d] * i.mean for (d, s), i in intervals.items()}
    best = {d: max(sign[d] * v for (e, _), vs in raw.items() if e == d for v in vs)
            for d in datasets}
    excluded = {}
    for d in datasets:
        missing = [s for s in systems if (d, s) not in oriented]
        if missing:
            excluded[d] = f"no successful run of {', '.join(missing)}"
    blocks = [d for d in datasets if d not in excluded]
    matrix = np.array([[oriented[d, s] for s in systems] for d in blocks]).reshape(-1, len(systems))
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
    cells = [Cell(d, s, intervals[d, s], block_rank.get((d, s)))
             for d in datasets for s in order if (d, s) in intervals]
    pairs = [_pair(a, b, oriented, datasets) for a, b in combinations(order, 2)]
    tested = [i for i, p in enumerate(pairs) if p.p_value is not None]
    for i, adjusted in zip(tested, holm([pairs[i].p_value for i in tested]), strict=True):
        pairs[i] = replace(pairs[i], p_holm=adjusted)
    normalized = []
    if baseline in systems and reference in systems:
        normalized.append(_normalized("amlb", baseline, reference, oriented, best, datasets,
                                      order))
    if random in systems:
        normalized.append(_normalized("bayesmark", random, "best seen", oriented, best,
                                      datasets, order))
    splits = {d: len({o.split for o in obs if o.dataset == d}) for d in datasets}
    return Comparison(order, datasets, blocks, excluded, splits, cells, mean_ranks, friedman,
                      nemenyi, pairs, normalized)
