"""Protocol checks on a sealed split and on what a system says of itself, and seed stability."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from adapters.metrics import Metric
from auditor.stats.bootstrap import CHUNK_CELLS, Resamples, percentile_interval
from reports import decimals, fmt_score, plural

LEAK_AUC = 0.99  # a single feature ranking the holdout this well is a leak suspect
LEAK_SPEARMAN = 0.99
# duplicates occur naturally in tabular data (identical customers); a share of the holdout below
# this is stated, not flagged, and each run's own check says whether the rows move its score
SHARED_SHARE = 0.01
# a shift by the shared rows below this fraction of the holdout CI's half-width changes no reading
SHARED_MATERIAL = 0.25
SHARED_ALPHA = 0.025  # one-sided: only flattering shifts are flagged
PERMUTATIONS = 999


@dataclass
class Finding:
    """One check's outcome: `flag` True means something to look at; plain words first. `system`
    names the system (or pair of systems) a dataset-scope finding is about."""

    check: str
    flag: bool
    summary: str
    detail: dict[str, Any] = field(default_factory=dict)
    system: str | None = None


def _two_digits(spread: float) -> str:
    """A spread (an SD, a CI's half-width) to two significant digits."""
    return fmt_score(spread, places=decimals(spread, spread))


def shared_rows(shared: np.ndarray) -> Finding:
    """Exact duplicate feature rows on both sides of the split; `shared` marks the holdout rows
    (`SealedSplit.shared_holdout`)."""
    n = int(shared.sum())
    share = n / len(shared)
    rows = "holdout row also appears" if n == 1 else "holdout rows also appear"
    summary = (f"{n} {rows} ({share:.1%} of the holdout), feature for feature, among the search "
               "rows; the holdout is not fully unseen"
               + (f" (under {SHARED_SHARE:.0%} of it: not flagged)" if share < SHARED_SHARE else "")
               + "; each run's 'shared holdout rows' check says whether they move its score")
    return Finding("duplicate rows across the split", share >= SHARED_SHARE,
                   summary if n else "no holdout row appears among the search rows",
                   {"shared_rows": n, "share": share})


def _random_unseen(y: np.ndarray, shared: np.ndarray, stratified: bool,
                   rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, unseen rows) indices of the holdout rows left when a random subset the size of
    `shared` (with its class counts when `stratified`) stands in for the shared rows."""
    groups = [np.flatnonzero(y == c) for c in np.unique(y)] if stratified else [np.arange(len(y))]
    parts = []
    for rows in groups:
        k = int(shared[rows].sum())
        if k == 0 or k == len(rows):
            parts.append(np.broadcast_to(rows if k == 0 else rows[:0], (n, len(rows) - k)))
            continue
        # the k smallest of random keys are a uniformly random subset of size k
        order = np.argpartition(rng.random((n, len(rows))), k - 1, axis=1)
        parts.append(rows[order[:, k:]])
    return np.concatenate(parts, axis=1)


def _permutation_p(metric: Metric, y: np.ndarray, preds: np.ndarray, shared: np.ndarray,
                   stratified: bool, effect: float, seed: int) -> float:
    """One-sided p-value of `effect` against random subsets in place of the shared rows."""
    sign = 1.0 if metric.greater_is_better else -1.0
    whole, score = metric(y, preds), metric.on(y, preds)
    rng = np.random.default_rng([seed, 2])
    chunk = max(1, min(PERMUTATIONS, 20_000_000 // len(y)))
    at_least = 0
    for start in range(0, PERMUTATIONS, chunk):
        unseen = _random_unseen(y, shared, stratified, rng, min(chunk, PERMUTATIONS - start))
        null = sign * (whole - score(unseen))
        at_least += int(np.sum(~(null < effect)))  # NaN counts against the flag
    return (1 + at_least) / (1 + PERMUTATIONS)


def shared_rows_effect(metric: Metric, y: np.ndarray, preds: np.ndarray, shared: np.ndarray,
                       stratified: bool, half_width: float, seed: int = 0) -> Finding:
    """How far the holdout rows that also appear among the search rows move a run's score: the
    score on all holdout rows minus the score on the unseen ones, oriented so that positive means
    the shared rows flatter the run, with a bootstrap CI that resamples the unseen and the shared
    rows separately. Flagged when a permutation test (random holdout subsets of the same size in
    place of the shared rows) gives p < `SHARED_ALPHA` and the shift is material: at least
    `SHARED_MATERIAL` of `half_width`, the half-width of the run's holdout CI. (The percentile
    CI alone flagged honest runs at about twice its nominal rate: the score on a few rows is
    skewed.)"""
    unseen, seen = np.flatnonzero(~shared), np.flatnonzero(shared)
    sign = 1.0 if metric.greater_is_better else -1.0
    score, step = metric.on(y, preds), max(1, CHUNK_CELLS // len(y))
    diffs = sign * np.concatenate([
        score(np.concatenate([unseen[u], seen[s]], axis=1)) - score(unseen[u])
        for u, s in zip(Resamples(y[unseen], stratified, seed).chunks(step),
                        Resamples(y[seen], stratified, seed + 1).chunks(step), strict=True)])
    diffs = diffs[np.isfinite(diffs)]
    unseen_score = metric(y[unseen], preds[unseen])
    effect = sign * (metric(y, preds) - unseen_score)
    if not (np.isfinite(effect) and diffs.size):
        return Finding("shared holdout rows", False,
                       f"the effect of the {len(seen)} holdout rows also among the search rows "
                       f"cannot be measured: {metric.name} is undefined on the "
                       f"{len(unseen)} unseen rows", {"shared_rows": len(seen)})
    lo, hi = percentile_interval(diffs)
    p = _permutation_p(metric, y, preds, shared, stratified, effect, seed)
    material = SHARED_MATERIAL * half_width
    flag = bool(p < SHARED_ALPHA and effect >= material)
    if flag:
        verdict = (f"they flatter the score: on the {len(unseen)} unseen rows alone it is "
                   f"{fmt_score(unseen_score)}")
    elif p < SHARED_ALPHA:
        verdict = (f"too small to matter (under {SHARED_MATERIAL:g} of the holdout CI's "
                   f"half-width, {_two_digits(half_width)})")
    else:
        verdict = "no clear effect: random rows in their place move it as much"
    places = decimals(effect, float(hi - lo))
    lo_text, hi_text = fmt_score(float(lo), True, places), fmt_score(float(hi), True, places)
    return Finding(
        "shared holdout rows", flag,
        f"the {plural(len(seen), 'holdout row')} also among the search rows "
        f"move{'s' * (len(seen) == 1)} {metric.name} by {fmt_score(effect, True, places)} "
        f"(95 % CI {lo_text} to {hi_text}; permutation p = {p:.2g}); {verdict}",
        {"shared_rows": len(seen), "effect": effect, "effect_lo": float(lo),
         "effect_hi": float(hi), "unseen_score": unseen_score, "p_value": p})


def _best_auc(score: np.ndarray, codes: np.ndarray, classes: list[int]) -> float:
    """The best one-vs-rest ROC AUC of `score` over `classes` (of the class `codes`), either
    way round, ranked once for them all: `roc_auc`'s Mann–Whitney count of the rows at each
    distinct score."""
    ranks = np.unique(score, return_inverse=True)[1].reshape(-1)
    k = int(codes.max()) + 1 if codes.size else 1
    counts = np.bincount(ranks * k + codes, minlength=(int(ranks.max()) + 1) * k if ranks.size
                         else k).reshape(-1, k)
    rows, best = counts.sum(axis=1), 0.5
    for c in classes:
        pos = counts[:, c]
        neg = rows - pos
        n_pos, n_neg = pos.sum(), neg.sum()
        if n_pos and n_neg:
            value = float((pos * (2 * np.cumsum(neg) - neg)).sum() / (2.0 * n_pos * n_neg))
            best = max(best, value, 1 - value)
    return best


def _feature_auc(values: pd.Series, search_values: pd.Series, search_y: np.ndarray,
                 y: np.ndarray) -> float:
    """How well one feature alone ranks the holdout's classes (one-vs-rest, best class): a
    category by its rate of the class among the search rows, a number as it is."""
    classes, codes = np.unique(y, return_inverse=True)
    codes = codes.reshape(-1)
    if isinstance(values.dtype, pd.CategoricalDtype) or values.dtype == object:
        search_text, text = search_values.astype(str).to_numpy(), values.astype(str)
        best = 0.5
        for c, label in enumerate(classes):
            is_c = (search_y == label).astype(float)
            rates = pd.Series(is_c).groupby(search_text).mean()
            score = text.map(rates).fillna(float(np.mean(is_c))).to_numpy()
            best = max(best, _best_auc(score, codes, [c]))
        return best
    score = values.to_numpy(dtype=float)
    score = np.where(np.isnan(score), np.nanmedian(score) if np.isfinite(score).any() else 0,
                     score)
    return _best_auc(score, codes, list(range(len(classes))))


def leakage_screen(search_X: pd.DataFrame, search_y: np.ndarray, holdout_X: pd.DataFrame,
                   holdout_y: np.ndarray, task_type: str) -> Finding:
    """A single feature that predicts the holdout target almost perfectly."""
    suspects: dict[str, float] = {}
    for col in holdout_X.columns:
        if task_type == "regression":
            if isinstance(holdout_X[col].dtype, pd.CategoricalDtype):
                continue
            rho = spearmanr(holdout_X[col].to_numpy(dtype=float), holdout_y,
                            nan_policy="omit").statistic
            if np.isfinite(rho) and abs(rho) >= LEAK_SPEARMAN:
                suspects[col] = float(abs(rho))
        else:
            best = _feature_auc(holdout_X[col], search_X[col], search_y, holdout_y)
            if best >= LEAK_AUC:
                suspects[col] = best
    what = "|Spearman rank correlation|" if task_type == "regression" else "one-feature ROC AUC"
    if suspects:
        listed = ", ".join(f"{k} ({v:.3f})" for k, v in sorted(suspects.items(),
                                                                key=lambda kv: -kv[1]))
        summary = (f"leak suspect: {listed} alone predict(s) the holdout target almost "
                   f"perfectly ({what} ≥ {LEAK_AUC}); check it is known before the outcome")
    else:
        summary = f"no single feature predicts the holdout target almost perfectly ({what})"
    return Finding("leakage screen", bool(suspects), summary, {"suspects": suspects})


def measured_on(reported_on: str | None) -> Finding:
    """What the reported score was measured on, and the selection bias that comes with it."""
    text = (reported_on or "").lower()
    if not text:
        kind = "not stated"
    elif "cv" in text or "cross" in text or "fold" in text:
        kind = "cross-validation on the search rows"
    elif "holdout" in text or "validation" in text:
        kind = "an internal holdout of the search rows"
    elif "train" in text:
        kind = "the training data"
    else:
        kind = "not stated"
    flag = kind in ("the training data", "not stated")
    return Finding("reported score measured on", flag,
                   f"the reported score was measured on {kind}", {"kind": kind})


def selection_bias(n_configs: int | None, reported_on: str | None) -> Finding:
    """The best of many scores on the same rows is biased upwards (winner's curse): a note that
    explains the gap, not a fault of the run, so it never flags."""
    many = (n_configs or 0) > 1
    return Finding(
        "selection bias", False,
        (f"the reported score is the best of {n_configs} configurations scored on the same "
         "search rows that chose it, so it is biased upwards; only the holdout is unbiased"
         if many else "one configuration: no selection among scores on the same rows"),
        {"n_configs": n_configs, "reported_on": reported_on})


def seed_stability(holdout_by_system: dict[str, list[float]],
                   configs_by_system: dict[str, list[dict[str, Any]]]) -> list[Finding]:
    """Spread across seeds of each system's holdout score and chosen configuration; flags pairs
    of systems whose difference is no larger than the between-seed spread."""
    findings = []
    spread = {s: float(np.std(v, ddof=1)) for s, v in holdout_by_system.items() if len(v) >= 2}
    for system, sd in spread.items():
        configs = configs_by_system.get(system, [])
        numeric = {k for c in configs for k, v in c.items() if isinstance(v, int | float)}
        cv = {k: float(np.std([c[k] for c in configs if k in c])
                       / (abs(np.mean([c[k] for c in configs if k in c])) or 1.0))
              for k in sorted(numeric)}
        findings.append(Finding(
            f"seed stability: {system}", False,
            f"{system}: holdout score varies by SD {_two_digits(sd)} "
            f"across "
            f"{len(holdout_by_system[system])} seeds",
            {"sd": sd, "config_relative_spread": cv}, system))
    systems = sorted(spread)
    for i, a in enumerate(systems):
        for b in systems[i + 1:]:
            diff = float(abs(np.mean(holdout_by_system[a]) - np.mean(holdout_by_system[b])))
            noise = max(spread[a], spread[b])
            if diff <= noise:
                findings.append(Finding(
                    f"seed stability: {a} vs {b}", True,
                    f"{a} and {b} differ by {fmt_score(diff, places=decimals(diff, noise))} "
                    f"on average, no more than the between-seed SD "
                    f"({_two_digits(noise)}): the ranking of the "
                    "two is not stable",
                    {"difference": diff, "seed_sd": noise}, f"{a} vs {b}"))
    return findings
