"""The regression gate: run a candidate strategy on the tasks and seeds of stored baseline results
and decide whether it got worse.

Results files (JSON, `StrategyRuns`) hold the strategy, the number of trials, the seeds, each task's
fingerprint (`TableTask.fingerprint`: configurations and every recorded figure) and, per run, the
incumbent table row after every trial and the simulated training seconds. Runs are deterministic
given the table, the strategy, the seed and the library versions (recorded), so a project keeps
its baseline file in its repository and re-runs only the candidate.

The candidate's k-th seed is the baseline's k-th seed plus `seed_offset` (0: the same seeds);
runs are paired by task and seed position. Per pair:

- regret r = (best − found) / (best − median) of the final incumbent's validation score, with
  best and median over the table's configurations at full fidelity (`TableTask.regret`); 0 is the
  table's best, 1 its median;
- d = r(candidate) − r(baseline).

The gate is a one-sided Wilcoxon signed-rank test over all task × seed pairs of d − tolerance
(H1: the pseudo-median of d exceeds the tolerance; zeros split between the signs). The candidate
fails — `auditor regress` exits 1 — when p < alpha. Seeds on one task share that task, so the
effect size, the mean of d, gets a 95 % two-level bootstrap CI (tasks resampled, then seeds
within each task). Reported beside it: the same test for "better", mean regret at 10, 25, 50 and
100 % of the trials, the holdout regret of the final incumbents, and simulated training time.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np
from scipy.stats import wilcoxon

from adapters.protocol import write_atomic
from auditor.config.errors import UsageError
from auditor.config.progress import LOG, ProgressDisplay
from auditor.gate.benchmark_tables import TableTask, load_tasks
from auditor.gate.strategies import RunRecord, Strategy, parse_strategy, run
from auditor.stats.bootstrap import percentile_interval

RESULTS_FORMAT = "automl-auditor regress results"
CHECKPOINTS = (0.1, 0.25, 0.5, 1.0)
N_BOOT = 2000
# calibrated by `python -m benchmarks.calibration` on the shipped tables: false alarms near
# alpha, and power against a candidate that explores half its trials (a positive tolerance
# buys fewer false alarms with much less power)
DEFAULT_TOLERANCE, DEFAULT_ALPHA = 0.0, 0.05


@dataclass
class StrategyRuns:
    """A strategy's runs on a set of tasks × seeds."""

    strategy: str
    trials: int
    seeds: list[int]
    tasks: dict[str, str]  # task name → fingerprint
    runs: list[RunRecord]
    versions: dict[str, str]
    wall_seconds: float

    def save(self, path: Path) -> None:
        data = {"format": RESULTS_FORMAT, **asdict(self)}
        write_atomic(path, json.dumps(data, indent=None, separators=(",", ":")) + "\n")

    @classmethod
    def load(cls, path: Path) -> StrategyRuns:
        try:
            data = json.loads(path.read_text())
            if data.pop("format") != RESULTS_FORMAT:
                raise ValueError
            data["runs"] = [RunRecord(**r) for r in data["runs"]]
            results = cls(**data)
            expected = {(t, s) for t in results.tasks for s in results.seeds}
            if {(r.task, r.seed) for r in results.runs} != expected or any(
                    len(r.incumbents) != results.trials for r in results.runs):
                raise ValueError
            return results
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise UsageError(f"{path} is not a results file of `auditor regress` — give one it "
                             "wrote, or delete it to have it made again") from None

    def runs_of(self, task: str) -> list[RunRecord]:
        """The task's runs in the order of `seeds`."""
        by_seed = {r.seed: r for r in self.runs if r.task == task}
        return [by_seed[s] for s in self.seeds]

    @property
    def simulated_seconds(self) -> float:
        return float(sum(r.seconds for r in self.runs))


_WORK: tuple[Strategy, list[TableTask], int] | None = None


def _start_worker(work: tuple[Strategy, list[TableTask], int]) -> None:
    global _WORK
    _WORK = work


def _run_one(job: tuple[int, int]) -> RunRecord:
    assert _WORK is not None, "worker not started"
    strategy, tasks, trials = _WORK
    return run(strategy, tasks[job[0]], trials, job[1])


def run_results(strategy: Strategy, tasks: list[TableTask], trials: int, seeds: list[int],
                workers: int = 1) -> StrategyRuns:
    """Run `strategy` on every task with every seed."""
    jobs = [(t, seed) for t in range(len(tasks)) for seed in seeds]
    start = time.monotonic()
    records: list[RunRecord] = []
    context = multiprocessing.get_context("fork")
    with (context.Pool(workers, _start_worker, ((strategy, tasks, trials),)) as pool,
          ProgressDisplay(f"{strategy.spec}: runs", len(jobs),
                          every=-(-len(jobs) // 10)) as progress):
        for record in pool.imap(_run_one, jobs, chunksize=max(1, len(jobs) // (8 * workers))):
            records.append(record)
            progress.advance()
    return StrategyRuns(strategy.spec, trials, list(seeds), {t.name: t.fingerprint for t in tasks},
                   records, {p: version(p) for p in ("optuna", "numpy", "scipy")},
                   time.monotonic() - start)


@dataclass(frozen=True)
class TaskRow:
    """Per task: mean final regret (validation and holdout) and pair counts."""

    task: str
    baseline: float
    candidate: float
    holdout_baseline: float
    holdout_candidate: float
    worse: int
    better: int


@dataclass
class GateComparison:
    baseline: StrategyRuns
    candidate: StrategyRuns
    tolerance: float
    alpha: float
    differences: np.ndarray  # (tasks, seeds)
    p_worse: float
    p_better: float
    ci: tuple[float, float]
    rows: list[TaskRow]
    checkpoints: list[tuple[int, float, float]]  # (trials, mean regret baseline, candidate)

    @property
    def effect(self) -> float:
        return float(self.differences.mean())

    @property
    def worse(self) -> bool:
        return self.p_worse < self.alpha

    @property
    def verdict(self) -> str:
        if self.worse:
            return "significantly worse"
        return "significantly better" if self.p_better < self.alpha else "no significant regression"

    def line(self) -> str:
        """The verdict in one line."""
        return (f"{self.verdict}: candidate {self.candidate.strategy} vs baseline "
                f"{self.baseline.strategy} on {self.differences.size} task × seed pairs; mean "
                f"regret difference {self.effect:+.4f} (95 % CI {self.ci[0]:+.4f} to "
                f"{self.ci[1]:+.4f}); Wilcoxon p(worse by > {self.tolerance:g}) = "
                f"{self.p_worse:.3g}, alpha {self.alpha:g}")


def _regrets(results: StrategyRuns, tasks: list[TableTask], trial: int, holdout: bool = False
             ) -> np.ndarray:
    """(tasks, seeds) regret of the incumbents after `trial` trials."""
    out = np.empty((len(tasks), len(results.seeds)))
    for i, task in enumerate(tasks):
        rows = np.array([r.incumbents[trial - 1] for r in results.runs_of(task.name)])
        column = task.holdout if holdout else task.valid[:, -1]
        scores = np.where(rows >= 0, column[np.maximum(rows, 0)], np.nan)
        out[i] = task.regret(scores, holdout)
    return out


def _p_greater(x: np.ndarray) -> float:
    """One-sided Wilcoxon signed-rank p-value for pseudo-median(x) > 0."""
    if not np.any(x):
        return 1.0
    return float(wilcoxon(x, alternative="greater", zero_method="zsplit").pvalue)


def _bootstrap_ci(d: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """95 % percentile CI of mean(d) resampling tasks (rows), then seeds within each task."""
    rng = np.random.default_rng(seed)
    n_tasks, n_seeds = d.shape
    tasks = rng.integers(0, n_tasks, size=(N_BOOT, n_tasks))
    seeds = rng.integers(0, n_seeds, size=(N_BOOT, n_tasks, n_seeds))
    means = d[tasks[:, :, None], seeds].mean(axis=(1, 2))
    return percentile_interval(means, 0.95)


def compare(baseline: StrategyRuns, candidate: StrategyRuns, tasks: list[TableTask],
            tolerance: float, alpha: float) -> GateComparison:
    """Pair the two results by task and seed position and test the candidate."""
    pair = (baseline, candidate)
    base, cand = (_regrets(r, tasks, r.trials) for r in pair)
    held_base, held_cand = (_regrets(r, tasks, r.trials, holdout=True) for r in pair)
    d = cand - base
    rows = [TaskRow(task.name, float(base[i].mean()), float(cand[i].mean()),
                    float(held_base[i].mean()), float(held_cand[i].mean()),
                    int((d[i] > 0).sum()), int((d[i] < 0).sum()))
            for i, task in enumerate(tasks)]
    checkpoints = []
    for share in CHECKPOINTS:
        k = max(1, round(share * baseline.trials))
        at_base, at_cand = (float(_regrets(r, tasks, k).mean()) for r in pair)
        checkpoints.append((k, at_base, at_cand))
    return GateComparison(baseline, candidate, tolerance, alpha, d,
                      _p_greater(d.ravel() - tolerance), _p_greater(-d.ravel() - tolerance),
                      _bootstrap_ci(d), rows, checkpoints)


def _matched_tasks(results: StrategyRuns, available: list[TableTask], source: Path
                   ) -> list[TableTask]:
    """The tasks of stored results, checked against the tables given."""
    by_name = {t.name: t for t in available}
    tasks = []
    for name, fingerprint in results.tasks.items():
        if name not in by_name:
            raise UsageError(f"task {name} of {source} is in none of the tables given — add its "
                             "table to --tables, or make the baseline again")
        if by_name[name].fingerprint != fingerprint:
            raise UsageError(f"task {name} differs from the one {source} was run on (the table "
                             "was rebuilt) — delete the baseline file to make it again")
        tasks.append(by_name[name])
    return tasks


def gate(tables: list[Path], candidate: str, baseline: str,
         baseline_strategy: str | None = None, trials: int | None = None,
         seeds: int | None = None, seed_offset: int = 0, tolerance: float = DEFAULT_TOLERANCE,
         alpha: float = DEFAULT_ALPHA, workers: int = 1) -> GateComparison:
    """Compare `candidate` with `baseline`: a results file (made from `baseline_strategy` and
    saved there when missing) or a strategy run on the spot. Checks every input before running
    anything and writes nothing but a missing baseline file."""
    for option, value, ok, fix in (
            ("--trials", trials, trials is None or trials >= 1, "at least 1"),
            ("--seeds", seeds, seeds is None or seeds >= 2, "at least 2"),
            ("--seed-offset", seed_offset, seed_offset >= 0, "0 or more"),
            ("--workers", workers, workers >= 1, "at least 1"),
            ("--tolerance", tolerance, tolerance >= 0, "0 or more"),
            ("--alpha", alpha, 0 < alpha < 1, "between 0 and 1")):
        if not ok:
            raise UsageError(f"{option} {value} is out of range — give {fix}")
    available = load_tasks(tables)
    cand = parse_strategy(candidate)
    path = Path(baseline) if baseline.endswith(".json") else None
    stored = StrategyRuns.load(path) if path and path.exists() else None
    if stored:
        for option, given, kept in (("--trials", trials, stored.trials),
                                    ("--seeds", seeds, len(stored.seeds)),
                                    ("--baseline-strategy", baseline_strategy, stored.strategy)):
            if given is not None and given != kept:
                raise UsageError(f"{path} holds {option.lstrip('-')} {kept}, not {given} — drop "
                                 f"{option}, or delete {path} to make it again")
        assert path is not None  # only a baseline file is stored
        tasks = _matched_tasks(stored, available, path)
        base_results = stored
    else:
        if path and not baseline_strategy:
            raise UsageError(f"{path} does not exist — give --baseline-strategy SPEC to make it")
        spec = baseline_strategy if path else baseline
        assert spec is not None  # checked just above
        base = parse_strategy(spec)
        tasks = available
        base_results = run_results(base, tasks, trials or 100, list(range(seeds or 10)),
                                   workers)
    cand_results = run_results(cand, tasks, base_results.trials,
                               [s + seed_offset for s in base_results.seeds], workers)
    if path and not stored:
        base_results.save(path)
        LOG.info("baseline saved to %s; keep it with the project", path)
    return compare(base_results, cand_results, tasks, tolerance, alpha)
