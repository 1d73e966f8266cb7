"""Calibration of the verdicts that compare runs: the leakage suspicion (a run better than its
own validation and every rival), the per-dataset "clear lead", and the seed-stability flag."""

from __future__ import annotations

import numpy as np

from auditor.audit.checks import seed_stability
from auditor.audit.suspicion import suspected
from auditor.stats.bootstrap import Resamples, paired_gain, percentile_interval
from auditor.stats.lead import lead
from benchmarks.calibration import worlds
from benchmarks.calibration.experiments import Rate, audit_simulated
from benchmarks.calibration.worlds import Simulated, Sizes


def _on_holdout(rng: np.random.Generator, s: Sizes, Xh: np.ndarray, yh: np.ndarray,
                constant: bool = False) -> Simulated:
    """An honest OLS (or mean predictor) reported by 5-fold CV, on a holdout shared with rivals."""
    X, y = worlds.draw(rng, s.search)
    if constant:
        return Simulated(0.0, yh, np.full(len(yh), y.mean()), 0.0)
    folds = worlds.cv_rmse(X, y, worlds.fold_ids(rng, s.search), fit=True)
    b = worlds.ols(X, y)
    return Simulated(float(np.mean(folds)), yh, Xh @ b, worlds.population_rmse(b), folds)


def leakage_suspicion(sizes: Sizes, reps: int, seed: int, pull: float = 0.2) -> list[Rate]:
    """The suspicion flag on an honest run beside two rivals as good as it (false alarm), beside
    two mean predictors (the worst case: it beats them always), and when its holdout predictions
    were pulled towards the labels by `pull` (power)."""
    rates = []
    for case, rivals_constant, leak, tag in (
            ("honest, rivals as good", False, False, 80),
            ("honest, rivals far worse (mean predictors)", True, False, 81),
            ("labels leaked into the predictions", True, True, 82)):
        flags = 0
        for rep in range(reps):
            rng = np.random.default_rng([seed, tag, rep])
            Xh, yh = worlds.draw(rng, sizes.holdout)
            run = _on_holdout(rng, sizes, Xh, yh)
            if leak:
                run.predictions = (1 - pull) * run.predictions + pull * yh
            rivals = [_on_holdout(rng, sizes, Xh, yh, rivals_constant) for _ in range(2)]
            beats = [paired_gain(worlds.RMSE, yh, run.predictions, r.predictions, False, rep)[1] > 0
                     for r in rivals]
            a = audit_simulated(run, rep)
            flags += suspected(worlds.RMSE, a.holdout, a.gap_hi, beats)[0]
        rates.append(Rate("suspicious: check for leakage", case,
                          "power" if leak else "false alarm", flags, reps,
                          None if leak else 0.025,
                          f"holdout predictions pulled {pull:.0%} of the way to the labels"
                          if leak else ""))
    return rates


def _fixed_predictor(rng: np.random.Generator, Xh: np.ndarray, shift: float = 0.0) -> np.ndarray:
    """A seed's chosen model: a linear predictor at a random distance (0.1–0.9) from β, so its
    population score varies from seed to seed; `shift` moves it further away (worse)."""
    u = rng.standard_normal(worlds.D)
    return Xh @ (worlds.BETA + (rng.uniform(0.1, 0.9) + shift) * u / np.linalg.norm(u))


def two_level_bootstrap(pairs: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]]
                        ) -> tuple[float, float]:
    """The clear-lead interval as the report drew it until measured here (splits resampled, then
    holdout rows within each): far too narrow over a few splits."""
    boots = []
    for y, a, b, s in pairs:
        rows = Resamples(y, False, s)  # the same resampled rows for a and b
        boots.append(rows.scores(worlds.RMSE, b) - rows.scores(worlds.RMSE, a))
    draws = np.vstack(boots)
    pick = np.random.default_rng(0).integers(0, len(pairs), size=draws.shape)
    return percentile_interval(np.nanmean(np.take_along_axis(draws, pick, axis=0), axis=0))


def clear_lead(sizes: Sizes, reps: int, seed: int, worse: float = 0.4) -> list[Rate]:
    """"A clear lead" for the better by mean of two equally good systems over 2, 3 and 5 seeds
    (false alarm; nominal 5 %, either may lead), before and after the t-interval, and the lead of
    a system whose rival sits `worse` further from β (power)."""
    rates = []
    for seeds, shift, tag in ((2, 0.0, 90), (3, 0.0, 91), (5, 0.0, 92), (5, worse, 93)):
        hits = before = 0
        for rep in range(reps):
            rng = np.random.default_rng([seed, tag, rep])
            pairs = []
            for s in range(seeds):
                Xh, yh = worlds.draw(rng, sizes.holdout)
                pairs.append((yh, _fixed_predictor(rng, Xh), _fixed_predictor(rng, Xh, shift), s))
            ahead = lead(worlds.RMSE, pairs, False)
            hits += ahead.clear or (shift == 0 and ahead.hi < 0)  # b's lead is as clear
            lo, hi = two_level_bootstrap(pairs)
            before += lo > 0 or (shift == 0 and hi < 0)
        case = (f"equally good, {seeds} seeds" if shift == 0 else
                f"one better, {seeds} seeds")
        kind, nominal = ("false alarm", 0.05) if shift == 0 else ("power", None)
        effect = "" if shift == 0 else f"rival's model {worse:g} further from β on every seed"
        rates.append(Rate("clear lead", case, kind, hits, reps, nominal, effect))
        if shift == 0:
            rates.append(Rate("clear lead", case + ", two-level bootstrap (before)", kind, before,
                              reps, nominal))
    return rates


def stability(reps: int, seed: int, seeds: int = 3) -> list[Rate]:
    """The seed-stability rule ("not stable" when the mean difference is within the larger
    between-seed SD): on equal systems (it should flag), and on systems 3 SDs apart (it
    should not). A rule, not a test: no nominal rate."""
    rates = []
    for apart, tag in ((0.0, 95), (3.0, 96)):
        flags = 0
        for rep in range(reps):
            rng = np.random.default_rng([seed, tag, rep])
            scores = {"a": list(rng.standard_normal(seeds)),
                      "b": list(apart + rng.standard_normal(seeds))}
            flags += any(f.flag for f in seed_stability(scores, {}))
        rates.append(Rate("seed stability", f"{'equal' if apart == 0 else 'apart'}, {seeds} seeds",
                          "power" if apart == 0 else "false alarm", flags, reps, None,
                          "" if apart == 0 else f"means {apart:g} between-seed SDs apart"))
    return rates
