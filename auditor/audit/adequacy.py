"""Budget adequacy: was the search big enough for its space?

Rules, with their sources:
- Random search finds a configuration in the top q of the space with probability 1 − (1 − q)^n
  after n draws; 95 % for q = 5 % needs n = 59 (Bergstra & Bengio 2012).
- A model-based searcher spends its first evaluations exploring: its own start-up setting (TPE's
  `n_startup_trials`), and about 10·d evaluations before the surrogate is informed in d dimensions
  (the usual initial-design size for Bayesian optimisation, Jones et al. 1998; Loeppky et al. 2009).
- Systems with their own strategy (fixed or meta-learned portfolios: FLAML, auto-sklearn,
  AutoGluon, H2O, TPOT) and fixed configurations get `not applicable`, said plainly.
The searcher's kind is what its adapter declares (`Capabilities.search`).
Figures from the trial history, shown but not part of the verdict: the expected best validation
score after k trials, E[max_k], by the unbiased estimator over the observed scores (Dodge et al.
2019, as corrected by Tang et al. 2020), its slope at n, and the share of the budget spent since
the last improvement (for random search, where the best falls is a coin flip).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import gammaln

from adapters.contract import SearchKind
from reports import plural

TOP_Q = 0.05
TARGET = 0.95
N_FOR_TARGET = math.ceil(math.log(1 - TARGET) / math.log(1 - TOP_Q))  # 59
PER_DIMENSION = 10
GRID_LEVELS = 3  # levels per numeric dimension in the grid-equivalent size


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


@dataclass
class Adequacy:
    verdict: str  # adequate / marginal / inadequate / not applicable
    reasons: list[str]
    recommended_trials: int | None
    figures: dict[str, Any] = field(default_factory=dict)


def _not_applicable(searcher: str, kind: SearchKind | None,
                    stats: SpaceStats | None) -> Adequacy | None:
    """The plain statement for systems whose budget the rules here cannot judge."""
    space = {"space": stats.__dict__ if stats else None}
    if kind == "fixed":
        return Adequacy("not applicable", [f"{searcher} evaluates one fixed configuration; it is "
                                           "not a search"], None, space)
    if kind == "own-strategy":
        return Adequacy("not applicable", [
            f"{searcher} chooses configurations by its own strategy (fixed or "
            "meta-learned portfolios, its own search and ensembling), so random-search "
            "arithmetic does not describe it; its completion (portfolio finished, ensemble size) "
            "is not recorded, so its budget is not judged"], None, space)
    return None


def assess(scores: list[float], ends: list[float], greater_is_better: bool, evaluations: int,
           space: dict[str, Any] | None, searcher: str, kind: SearchKind | None,
           startup: int | None = None) -> Adequacy:
    """Verdict for one search from the count of configurations it evaluated at full fidelity
    (`evaluations`) and rules that fit the searcher's kind; `scores`/`ends` (complete
    evaluations in finishing order) give the descriptive figures only; `searcher` names the
    system in the reasons and `kind` is its declared `Capabilities.search`.

    Random search (and searchers of unknown kind, said so) gets random-search arithmetic;
    model-based searchers get it for their random start-up phase plus their start-up rules;
    systems with their own strategy, and fixed configurations, are `not applicable`. The
    verdict does not use the gain from doubling the budget: resampling the observed scores can
    never exceed the best one seen, and its 90 % interval held the truth only about 20 % of the
    time for normal scores (`python -m benchmarks.calibration`)."""
    stats = space_stats(space)
    skipped = _not_applicable(searcher, kind, stats)
    if skipped is not None:
        return skipped
    evaluations = int(evaluations)
    model_based = kind == "model-based"
    dim = stats.dimension if stats else None
    needed = [N_FOR_TARGET]
    reasons: list[str] = []
    if kind not in ("random", "model-based"):
        reasons.append(f"the searcher ({searcher}) is of unknown kind; judged as random search")
    if evaluations < 2:
        reasons.append(f"{'only one configuration' if evaluations else 'no configuration'} was "
                       "evaluated at full fidelity, so nothing was searched")
    if evaluations < N_FOR_TARGET:
        reasons.append(f"{plural(evaluations, 'configuration')} give{'s' * (evaluations == 1)} "
                       "random search a "
                       f"{p_top(evaluations):.0%} chance of one in the top 5 %; 95 % needs "
                       f"{N_FOR_TARGET}")
    if model_based and dim:
        needed.append(PER_DIMENSION * dim)
        if evaluations < PER_DIMENSION * dim:
            reasons.append(f"a model-based searcher needs about 10·d = {PER_DIMENSION * dim} "
                           f"evaluations in {dim} dimensions to leave its start-up phase; it had "
                           f"{evaluations}")
    never_left = model_based and startup is not None and evaluations <= startup
    if never_left:
        reasons.append(f"it never left its own start-up phase ({startup} random trials)")
    figures: dict[str, Any] = {"evaluations": evaluations, "scored_trials": len(scores),
                               "p_top5": p_top(evaluations),
                               "space": stats.__dict__ if stats else None}
    if len(scores) >= 2:
        sign = 1.0 if greater_is_better else -1.0
        v = sign * np.asarray(scores, dtype=float)
        emax = [sign * expected_max(v, k) for k in range(1, len(v) + 1)]
        best_at = int(np.argmax(v))
        figures.update({"expected_max": emax, "slope_at_n": emax[-1] - emax[-2],
                        "share_since_last_improvement":
                            1.0 - ends[best_at] / ends[-1] if ends[-1] > 0 else 0.0})
    if evaluations < 2 or evaluations < 0.5 * N_FOR_TARGET or never_left:
        verdict = "inadequate"
    elif evaluations < max(needed):
        verdict = "marginal"
    else:
        verdict = "adequate"
        reasons.append(f"{evaluations} configurations meet the rules for its kind "
                       f"(at least {max(needed)})")
    return Adequacy(verdict, reasons, max(needed) if verdict != "adequate" else None, figures)
