"""Budget adequacy: was the search big enough for its space?

Rules, with their sources:
- Random search finds a configuration in the top q of the space with probability 1 − (1 − q)^n
  after n draws; 95 % for q = 5 % needs n = 59 (Bergstra & Bengio 2012).
- A model-based searcher spends its first evaluations exploring: its own start-up setting (TPE's
  `n_startup_trials`), and about 10·d evaluations before the surrogate is informed in d dimensions
  (the usual initial-design size for Bayesian optimisation, Jones et al. 1998; Loeppky et al. 2009).
Evidence from the trial history:
- the expected best validation score after k trials, E[max_k], by the unbiased estimator over the
  observed scores (Dodge et al. 2019, as corrected by Tang et al. 2020: sampling without
  replacement), its slope at n, and the share of the budget spent since the last improvement;
- a bootstrap estimate (with a 90 % CI) of the gain from doubling the budget: E[max_2n] − E[max_n]
  on the empirical score distribution. Both assume draws that are exchangeable, as random search's
  are; for model-based searchers they describe the scores it happened to sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import gammaln

from auditor.stats.bootstrap import bootstrap_indices, percentile_interval

TOP_Q = 0.05
TARGET = 0.95
N_FOR_TARGET = math.ceil(math.log(1 - TARGET) / math.log(1 - TOP_Q))  # 59
PER_DIMENSION = 10
GRID_LEVELS = 3  # levels per numeric dimension in the grid-equivalent size
MODEL_BASED = {"tpe", "gp", "cmaes", "bohb", "ga"}
N_BOOT = 1000


@dataclass(frozen=True)
class SpaceStats:
    dimension: int
    by_type: dict[str, int]
    conditional: int
    grid_equivalent: float | None  # None when the space is not described in full


def space_stats(space: dict[str, Any] | None) -> SpaceStats | None:
    """Counts from a search-space description (`SearchSpace.as_dict()` or a system's summary)."""
    if not space:
        return None
    hps = space.get("hyperparameters")
    if not hps:
        return SpaceStats(int(space.get("dimension", 0)), {},
                          int(space.get("conditional", 0)), None)
    by_type: dict[str, int] = {}
    grid = 1.0
    for hp in hps:
        by_type[hp["type"]] = by_type.get(hp["type"], 0) + 1
        if hp["type"] == "categorical":
            grid *= len(hp["choices"])
        elif hp["type"] == "int":
            low, high = hp["range"]
            grid *= min(GRID_LEVELS, int(high - low) + 1)
        else:
            grid *= GRID_LEVELS
    return SpaceStats(len(hps), by_type, sum("condition" in hp for hp in hps), grid)


def p_top(n: float, q: float = TOP_Q) -> float:
    """Chance that n random draws include one from the top q of the space."""
    return 1.0 - (1.0 - q) ** n


def expected_max(scores: np.ndarray, k: int) -> float:
    """Unbiased E[best of k] from n observed scores (higher is better), 1 <= k <= n:
    sum over order statistics v_(i) of C(i-1, k-1) / C(n, k)."""
    v = np.sort(np.asarray(scores, dtype=float))
    n = len(v)
    i = np.arange(k, n + 1)
    log_w = (gammaln(i) - gammaln(k) - gammaln(i - k + 1)
             - (gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)))
    return float(np.sum(v[k - 1:] * np.exp(log_w)))


def _plugin_max(samples: np.ndarray, k: int) -> np.ndarray:
    """E[best of k draws with replacement] for each row of sorted `samples` (B, n)."""
    n = samples.shape[1]
    cdf = np.arange(1, n + 1) / n
    weights = cdf ** k - np.concatenate([[0.0], cdf[:-1]]) ** k
    return samples @ weights


def doubling_gain(scores: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    """E[max_2n] − E[max_n] on the empirical distribution, with a bootstrap 90 % CI."""
    v = np.sort(np.asarray(scores, dtype=float))
    n = len(v)
    point = float(_plugin_max(v[None, :], 2 * n)[0] - _plugin_max(v[None, :], n)[0])
    boot = np.sort(v[bootstrap_indices(v, False, seed, N_BOOT)], axis=1)
    gains = _plugin_max(boot, 2 * n) - _plugin_max(boot, n)
    lo, hi = percentile_interval(gains, 0.90)
    return point, lo, hi


@dataclass
class Adequacy:
    verdict: str  # adequate / marginal / inadequate / unknown
    reasons: list[str]
    recommended_trials: int | None
    figures: dict[str, Any] = field(default_factory=dict)


def assess(scores: list[float], ends: list[float], greater_is_better: bool, evaluations: float,
           space: dict[str, Any] | None, searcher: str, startup: int | None = None,
           tolerance: float | None = None, seed: int = 0) -> Adequacy:
    """Verdict for one search. `scores`/`ends`: complete evaluations in finishing order;
    `evaluations`: configurations evaluated in full-fidelity equivalents; `tolerance`: the gain
    from doubling that still counts as worth it (default 0.5 % of the score range seen)."""
    stats = space_stats(space)
    if len(scores) < 2:
        return Adequacy("unknown", ["the system reported no trial history (fewer than 2 scored "
                                    "trials), so the search cannot be judged"], None,
                        {"space": stats.__dict__ if stats else None})
    sign = 1.0 if greater_is_better else -1.0
    v = sign * np.asarray(scores, dtype=float)
    n = len(v)
    emax = [sign * expected_max(v, k) for k in range(1, n + 1)]
    slope = emax[-1] - emax[-2]
    best_at = int(np.argmax(np.maximum.accumulate(v) == v.max()))
    since = 1.0 - (ends[best_at] / ends[-1]) if ends[-1] > 0 else 0.0
    gain, gain_lo, gain_hi = doubling_gain(v, seed)
    spread = float(v.max() - v.min())
    tol = tolerance if tolerance is not None else max(0.005 * spread, 1e-12)
    model_based = searcher in MODEL_BASED
    dim = stats.dimension if stats else None
    needed = [N_FOR_TARGET]
    reasons: list[str] = []
    if evaluations < N_FOR_TARGET:
        reasons.append(f"{evaluations:g} configurations give random search a "
                       f"{p_top(evaluations):.0%} chance of one in the top 5 %; 95 % needs "
                       f"{N_FOR_TARGET}")
    if model_based and dim:
        needed.append(PER_DIMENSION * dim)
        if evaluations < PER_DIMENSION * dim:
            reasons.append(f"a model-based searcher needs about 10·d = {PER_DIMENSION * dim} "
                           f"evaluations in {dim} dimensions to leave its start-up phase; it had "
                           f"{evaluations:g}")
    if model_based and startup is not None and evaluations <= startup:
        reasons.append(f"it never left its own start-up phase ({startup} random trials)")
    improving = gain_hi > tol and since < 0.5
    if improving:
        reasons.append(f"still improving: doubling the budget is expected to gain "
                       f"{gain:.3g} (90 % CI {gain_lo:.3g} to {gain_hi:.3g}); the last "
                       f"improvement came {since:.0%} before the end")
        needed.append(2 * n)
    else:
        reasons.append(f"plateau: doubling the budget is expected to gain {gain:.3g} (90 % CI "
                       f"{gain_lo:.3g} to {gain_hi:.3g}); {since:.0%} of the time ran since the "
                       "last improvement")
    rule_short = evaluations < N_FOR_TARGET or (model_based and dim is not None
                                                and evaluations < PER_DIMENSION * dim)
    if evaluations < 0.5 * N_FOR_TARGET or (model_based and startup is not None
                                            and evaluations <= startup):
        verdict = "inadequate"
    elif rule_short or improving:
        verdict = "marginal"
    else:
        verdict = "adequate"
    figures = {
        "evaluations": evaluations, "scored_trials": n, "p_top5": p_top(evaluations),
        "expected_max": emax, "slope_at_n": slope, "share_since_last_improvement": since,
        "doubling_gain": [gain, gain_lo, gain_hi], "tolerance": tol,
        "space": stats.__dict__ if stats else None,
    }
    return Adequacy(verdict, reasons, max(needed) if verdict != "adequate" else None, figures)
