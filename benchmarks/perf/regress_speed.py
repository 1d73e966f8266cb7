"""Wall time of a regression suite on tables, beside the time the same runs would have taken with
real training (the sum of the recorded evaluation times of everything they evaluated).

    python -m benchmarks.perf.regress_speed [--tables benchmarks/tables] [--workers 2]

Default suite: every task of the shipped tables (gbm11 and linear3 on five data sets: 10 tasks)
× 3 strategies (random, TPE, CMA-ES) × 10 seeds × 100 trials. Target: ≤ 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from auditor.gate.benchmark_tables import TableTask, load_tasks
from auditor.gate.regression import run_results
from auditor.gate.strategies import parse_strategy

STRATEGIES = ("optuna.samplers.RandomSampler", "optuna.samplers.TPESampler",
              "optuna.samplers.CmaEsSampler")
TABLES = Path(__file__).resolve().parents[1] / "tables"


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tables", type=Path, nargs="+", default=[TABLES])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--trials", type=int, default=100)
    args = ap.parse_args()
    tasks = load_tasks(args.tables)
    seeds = list(range(args.seeds))
    print(f"{len(tasks)} tasks × {len(STRATEGIES)} strategies × {args.seeds} seeds × "
          f"{args.trials} trials, {args.workers} workers")
    start, cpu = time.monotonic(), _cpu()
    simulated = 0.0
    for spec in STRATEGIES:
        results = run_results(parse_strategy(spec), tasks, args.trials, seeds, args.workers)
        simulated += results.simulated_seconds
        per_trial = results.wall_seconds / (len(results.runs) * args.trials) * 1000
        print(f"  {spec:<32} {results.wall_seconds:6.1f} s on tables ({per_trial:.2f} ms per "
              f"trial); real training {_duration(results.simulated_seconds)}")
    wall, cpu = time.monotonic() - start, _cpu() - cpu
    print(f"suite: {wall:.1f} s on tables (target ≤ 60 s), {cpu:.0f} CPU s; the same runs with "
          f"real training: {_duration(simulated)} of recorded evaluation time "
          f"({simulated / wall:,.0f}× longer)")
    lookup = _lookup_seconds(tasks)
    print(f"table lookups (map a suggestion to its nearest configuration): {lookup * 1e6:.0f} µs "
          f"per trial, {lookup * len(tasks) * len(STRATEGIES) * args.seeds * args.trials:.1f} "
          "CPU s of the suite; the rest is the strategies' own work")


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the pool's workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _lookup_seconds(tasks: list[TableTask]) -> float:
    """Mean time of one `nearest` call, one configuration at a time as a run makes them."""
    calls = [(t.table, config) for t in tasks for config in t.table.configs[:200]]
    start = time.perf_counter()
    for table, config in calls:
        table.nearest([config])
    return (time.perf_counter() - start) / len(calls)


if __name__ == "__main__":
    main()
