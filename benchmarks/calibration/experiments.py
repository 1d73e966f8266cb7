"""The calibration experiments: each simulates many honest or dishonest runs, calls one of the
auditor's own verdict functions, and counts how often it flags."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import integrate, stats

from auditor.audit import adequacy
from auditor.audit.checks import leakage_screen, shared_rows_effect
from auditor.audit.score import audit_run, score_with_ci
from auditor.claims.verify import verdict as claim_verdict
from auditor.stats.bootstrap import paired_gain
from auditor.stats.gap import ZERO_WIDTH
from benchmarks.calibration import worlds
from benchmarks.calibration.worlds import Simulated, Sizes


@dataclass(frozen=True)
class Rate:
    """One measured rate: `hits` of `n` replicates."""

    verdict: str
    case: str
    kind: str  # false alarm / power / coverage / no verdict
    hits: int
    n: int
    nominal: float | None  # the rate a calibrated procedure would have (false alarms, coverage)
    effect: str = ""

    @property
    def rate(self) -> float:
        return self.hits / self.n

    def wilson(self, z: float = 1.96) -> tuple[float, float]:
        """Wilson score interval for the rate."""
        p, n = self.rate, self.n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return max(0.0, centre - half), min(1.0, centre + half)


Simulate = Callable[[np.random.Generator, Sizes], Simulated]
HONEST: dict[str, Simulate] = {
    "honest, 5-fold CV reported": worlds.honest_cv,
    "honest, internal holdout reported": worlds.honest_holdout,
    "constant, 5-fold CV reported (RMSE)": worlds.constant_cv,
    "constant, 5-fold CV reported (log loss)": worlds.constant_log_loss,
}
FLAGS = ("optimistic", "pessimistic")


def _outcomes(simulate: Simulate, sizes: Sizes, reps: int, seed: int, tag: int
              ) -> Iterator[tuple[int, Simulated]]:
    for rep in range(reps):
        yield rep, simulate(np.random.default_rng([seed, tag, rep]), sizes)


def audit_simulated(o: Simulated, rep: int, reported: float | None = None, fixed: bool = False):
    metric = worlds.LOG_LOSS if o.predictions.ndim == 2 else worlds.RMSE
    return audit_run(metric, o.holdout_y, o.predictions,
                     o.reported if reported is None else reported, o.predictions.ndim == 2,
                     seed=rep, fold_scores=() if fixed else o.fold_scores,
                     validation_rows=None if fixed else o.validation_rows)


def optimism_and_claims(sizes: Sizes, reps: int, seed: int) -> list[Rate]:
    """Optimism verdict and vendor-claim verdict on honest systems (false alarms), on a selected
    best-of-20 and on reported scores inflated by 1 and 2 holdout-CI half-widths (power)."""
    rates: list[Rate] = []
    for tag, (case, simulate) in enumerate(HONEST.items()):
        flags = fixed_flags = claims = silent = 0
        for rep, o in _outcomes(simulate, sizes, reps, seed, tag):
            a = audit_simulated(o, rep)
            flags += a.verdict in FLAGS
            silent += a.verdict == ZERO_WIDTH
            claim = claim_verdict(o.reported, a.holdout, a.holdout_lo, a.holdout_hi, False,
                                  a.reported_sd or 0.0)
            claims += claim not in ("confirmed", ZERO_WIDTH)
            if tag == 0:
                fixed_flags += audit_simulated(o, rep, fixed=True).verdict in FLAGS
        rates += [Rate("optimism", case, "false alarm", flags, reps, 0.05),
                  Rate("vendor claim", case, "false alarm", claims, reps, 0.05)]
        if silent:
            rates.append(Rate("optimism", case, "no verdict (zero-width CI)", silent, reps, None))
        if tag == 0:
            rates.append(Rate("optimism", case + ", reported score taken as fixed (before)",
                              "false alarm", fixed_flags, reps, 0.05))
    flags, gaps = 0, []
    for rep, o in _outcomes(worlds.selected, sizes, reps, seed, 10):
        flags += audit_simulated(o, rep).verdict == "optimistic"
        gaps.append(o.population - o.reported)
    rates.append(Rate("optimism", "best of 20 equal predictors by CV", "power", flags, reps, None,
                      f"true optimism {np.mean(gaps):.3g} RMSE"))
    for m in (1, 2):
        flags = claims = 0
        for rep, o in _outcomes(worlds.honest_cv, sizes, reps, seed, 20 + m):
            honest = audit_simulated(o, rep)
            half = (honest.holdout_hi - honest.holdout_lo) / 2
            inflated = o.reported - m * half
            flags += audit_simulated(o, rep, reported=inflated).verdict == "optimistic"
            claims += claim_verdict(inflated, honest.holdout, honest.holdout_lo,
                                    honest.holdout_hi, False, honest.reported_sd or 0.0
                                    ) != "confirmed"
        effect = f"reported score better by {m} holdout-CI half-width{'s' if m > 1 else ''}"
        rates += [Rate("optimism", "inflated CV report", "power", flags, reps, None, effect),
                  Rate("vendor claim", "inflated claim", "power", claims, reps, None, effect)]
    return rates


def overtuning(sizes: Sizes, reps: int, seed: int, worse: float) -> list[Rate]:
    """Overtuning flag (incumbent worse than a reference beyond the paired CI) when the two are
    equally good in the population, and when the incumbent is worse by `worse` RMSE."""
    r_ref = 0.5
    r_worse = float(np.sqrt((float(np.hypot(worlds.SIGMA, r_ref)) + worse)
                            ** 2 - worlds.SIGMA ** 2))
    rates = []
    for case, r_inc, tag in (("equally good", r_ref, 30), ("incumbent worse", r_worse, 31)):
        flags = 0
        for rep in range(reps):
            y, inc, ref, _ = worlds.equal_pair(np.random.default_rng([seed, tag, rep]), sizes,
                                               r_inc, r_ref)
            _, _, hi = paired_gain(worlds.RMSE, y, inc, ref, False, rep)
            flags += hi < 0
        rates.append(Rate("overtuning", case, "false alarm" if r_inc == r_ref else "power",
                          flags, reps, 0.025 if r_inc == r_ref else None,
                          "" if r_inc == r_ref else f"incumbent worse by {worse:g} RMSE"))
    return rates


DISTRIBUTIONS = {"normal": stats.norm(), "uniform": stats.uniform(), "exponential": stats.expon()}


def expected_max(dist: stats.rv_continuous, k: int) -> float:
    """E[best of k draws] = ∫ Q(u) k u^(k−1) du."""
    return integrate.quad(lambda u: dist.ppf(u) * k * u ** (k - 1), 0, 1, limit=200)[0]


def _plugin_max(samples: np.ndarray, k: int) -> np.ndarray:
    """E[best of k draws with replacement] for each row of sorted `samples` (B, n)."""
    n = samples.shape[1]
    cdf = np.arange(1, n + 1) / n
    return samples @ (cdf ** k - np.concatenate([[0.0], cdf[:-1]]) ** k)


def doubling_gain(scores: np.ndarray, seed: int, boot: int = 1000) -> tuple[float, float]:
    """The 90 % bootstrap interval of E[max_2n] − E[max_n] on the empirical distribution, as the
    adequacy verdict used it until its coverage was measured here (it is no longer used)."""
    v = np.sort(np.asarray(scores, dtype=float))
    n = len(v)
    rows = np.sort(v[np.random.default_rng(seed).integers(0, n, size=(boot, n))], axis=1)
    lo, hi = np.quantile(_plugin_max(rows, 2 * n) - _plugin_max(rows, n), [0.05, 0.95])
    return float(lo), float(hi)


def doubling_gain_coverage(reps: int, seed: int, n: int = 50) -> list[Rate]:
    """How often the 90 % interval of the doubling gain E[max_2n] − E[max_n] held its truth."""
    rates = []
    for tag, (name, dist) in enumerate(DISTRIBUTIONS.items()):
        truth = expected_max(dist, 2 * n) - expected_max(dist, n)
        hits = 0
        for rep in range(reps):
            v = dist.rvs(size=n, random_state=np.random.default_rng([seed, 40 + tag, rep]))
            lo, hi = doubling_gain(v, rep)
            hits += lo <= truth <= hi
        rates.append(Rate("doubling gain (dropped)", f"{name} scores, n = {n}", "coverage",
                          hits, reps, 0.90, f"true gain {truth:.3g}"))
    return rates


def budget_adequacy(reps: int, seed: int) -> list[Rate]:
    """Random search: flagged (inadequate or marginal) at 100 trials, and at 10 trials."""
    rates = []
    for n, kind, tag in ((100, "false alarm", 50), (10, "power", 51)):
        flags = 0
        for rep in range(reps):
            v = np.random.default_rng([seed, tag, rep]).standard_normal(n)
            a = adequacy.assess(list(v), list(np.arange(1.0, n + 1)), True, n, None, "random",
                                "random")
            flags += a.verdict in ("inadequate", "marginal")
        rates.append(Rate("budget adequacy", f"random search, {n} trials", kind, flags, reps,
                          0.05 if kind == "false alarm" else None,
                          "" if n > 59 else "below the 59 trials for 95 % of the top 5 %"))
    return rates


def shared_rows(sizes: Sizes, reps: int, seed: int, share: float = 0.1) -> list[Rate]:
    """Shared-rows flag when the shared holdout rows are predicted like the unseen ones
    (false alarm), and when the system memorised them (prediction error SD halved)."""
    rates = []
    for case, memorised, tag in (("shared rows predicted like unseen ones", False, 60),
                                 ("shared rows memorised", True, 61)):
        flags = 0
        for rep in range(reps):
            o = worlds.honest_cv(np.random.default_rng([seed, tag, rep]), sizes)
            rng = np.random.default_rng([seed, tag, rep, 1])
            shared = rng.random(sizes.holdout) < share
            preds = o.predictions.copy()
            if memorised:
                preds[shared] = o.holdout_y[shared] + 0.5 * rng.standard_normal(shared.sum())
            _, lo, hi = score_with_ci(worlds.RMSE, o.holdout_y, preds, False, rep)
            flags += shared_rows_effect(worlds.RMSE, o.holdout_y, preds, shared, False,
                                        (hi - lo) / 2, rep).flag
        rates.append(Rate("shared holdout rows", case, "power" if memorised else "false alarm",
                          flags, reps, None if memorised else 0.025,
                          f"{share:.0%} of the holdout shared" + (
                              ", their error SD halved" if memorised else "")))
    return rates


def _leaky(rng: np.random.Generator, n: int, leak: bool) -> tuple[pd.DataFrame, np.ndarray]:
    """`n` rows of the regression world, with the target plus N(0, 0.01²) as a feature if `leak`."""
    X, y = worlds.draw(rng, n)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(worlds.D)])
    if leak:
        frame["leak"] = y + 0.01 * rng.standard_normal(n)
    return frame, y


def leakage(sizes: Sizes, reps: int, seed: int) -> list[Rate]:
    """Leakage screen on honest features (false alarm) and with a near-copy of the target."""
    rates = []
    for case, leak, tag in (("honest features", False, 70), ("a near-copy of the target", True,
                                                              71)):
        flags = 0
        for rep in range(reps):
            rng = np.random.default_rng([seed, tag, rep])
            (search_X, search_y), (holdout_X, holdout_y) = (
                _leaky(rng, n, leak) for n in (sizes.search, sizes.holdout))
            flags += leakage_screen(search_X, search_y, holdout_X, holdout_y, "regression").flag
        rates.append(Rate("leakage screen", case, "power" if leak else "false alarm", flags,
                          reps, None if leak else 0.05,
                          "target + N(0, 0.01²) as a feature" if leak else ""))
    return rates
