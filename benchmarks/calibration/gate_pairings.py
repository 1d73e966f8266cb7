"""The regression gate's calibration on the shipped tables: random search against itself with new
seeds (false alarms) and against random search that stops exploring after half its trials (power).

Random search draws each trial independently from the space's prior, mapped to the nearest
tabulated configuration, so a run is a sequence of independent rows drawn with the prior's row
probabilities (estimated once per table from Optuna's `RandomSampler`). That makes thousands of
gate pairings cheap; each pairing goes through the gate's own `compare`, as `auditor regress`
would run it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna

from adapters.spaces import suggest
from auditor.gate.benchmark_tables import Table, TableTask, load_tasks
from auditor.gate.regression import DEFAULT_ALPHA, DEFAULT_TOLERANCE, StrategyRuns, compare
from auditor.gate.strategies import RunRecord
from benchmarks.calibration.experiments import Rate

TABLES = Path(__file__).resolve().parents[1] / "tables"
TRIALS, SEEDS = 100, 10  # `auditor regress` defaults
PRIOR_DRAWS = 4000


def row_probabilities(table: Table, seed: int) -> np.ndarray:
    """How often random search lands on each tabulated configuration."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    rows = table.nearest([suggest(study.ask(), table.space) for _ in range(PRIOR_DRAWS)])
    return np.bincount(rows, minlength=len(table.configs)) / len(rows)


def incumbents(task: TableTask, rows: np.ndarray) -> np.ndarray:
    """(runs, trials) incumbent row after each trial (−1 before the first valid score), as the
    gate's runs record them: the first row reaching the best score so far."""
    score = task.sign * task.valid[rows, -1]
    score = np.where(np.isnan(score), -np.inf, score)
    before = np.concatenate([np.full((len(rows), 1), -np.inf),
                             np.maximum.accumulate(score, axis=1)[:, :-1]], axis=1)
    steps = np.arange(rows.shape[1])
    last = np.maximum.accumulate(np.where(score > before, steps, -1), axis=1)
    return np.where(last >= 0, np.take_along_axis(rows, np.maximum(last, 0), axis=1), -1)


def simulated_runs(rng: np.random.Generator, tasks: list[TableTask],
                   probs: dict[str, np.ndarray], seeds: list[int], explore: int) -> StrategyRuns:
    """Random search on every task; it explores `explore` configurations, then repeats them."""
    records = []
    for task in tasks:
        p = probs[task.name]
        rows = rng.choice(len(p), size=(len(seeds), TRIALS), p=p)
        rows[:, explore:] = rows[:, np.arange(explore, TRIALS) % explore]
        records += [RunRecord(task.name, s, inc.tolist(), 0.0)
                    for s, inc in zip(seeds, incumbents(task, rows), strict=True)]
    return StrategyRuns("RandomSampler()", TRIALS, seeds, {t.name: t.fingerprint for t in tasks},
                        records, {}, 0.0)


def gate_rates(reps: int, seed: int) -> list[Rate]:
    """False-alarm rate and power of the gate at its default tolerance and alpha."""
    tasks = load_tasks([TABLES])
    by_table: dict[int, np.ndarray] = {}
    for task in tasks:
        if id(task.table) not in by_table:
            by_table[id(task.table)] = row_probabilities(task.table, seed)
    probs = {t.name: by_table[id(t.table)] for t in tasks}
    rng = np.random.default_rng([seed, 8])
    same = half = 0
    base_seeds, new_seeds = list(range(SEEDS)), list(range(SEEDS, 2 * SEEDS))
    for _ in range(reps):
        baseline = simulated_runs(rng, tasks, probs, base_seeds, TRIALS)
        for explore in (TRIALS, TRIALS // 2):
            candidate = simulated_runs(rng, tasks, probs, new_seeds, explore)
            worse = compare(baseline, candidate, tasks, DEFAULT_TOLERANCE, DEFAULT_ALPHA).worse
            same, half = same + (worse and explore == TRIALS), half + (worse and explore < TRIALS)
    setting = f"shipped tables, {len(tasks)} tasks × {SEEDS} seeds × {TRIALS} trials"
    return [Rate("regression gate", f"random search vs itself, new seeds ({setting})",
                 "false alarm", same, reps, DEFAULT_ALPHA),
            Rate("regression gate", f"random search vs half its trials ({setting})", "power",
                 half, reps, None, "explores 50 of 100 configurations")]
