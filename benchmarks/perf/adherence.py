"""Budget adherence per system: wall / wall budget over several runs, through the real runner.

    python -m benchmarks.perf.adherence [--systems random tpe flaml auto-sklearn] [--budget 60]
                                        [--runs 3] [--envs DIR]

Every run is a real job on Telco churn under the same matched budget (1 core each, 2 workers).
Target: wall / budget <= 1.05 for every system. For comparison, AMLB kills a framework only at
2x its time budget and does not flag the overrun.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from adapters.failures import ENVS_VAR
from benchmarks.perf.overhead import TELCO, run_suite_rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--systems", nargs="+",
                    default=["constant", "lgbm-default", "random", "tpe", "flaml",
                             "auto-sklearn"])
    ap.add_argument("--budget", type=float, default=60.0, help="wall seconds per job")
    ap.add_argument("--runs", type=int, default=3, help="runs (seeds) per system")
    ap.add_argument("--envs", type=Path, help="system environments folder")
    args = ap.parse_args()
    if args.envs:
        os.environ[ENVS_VAR] = str(args.envs.resolve())
    with tempfile.TemporaryDirectory() as tmp:
        rows = run_suite_rows(Path(tmp), {
            "name": "adherence", "seeds": list(range(args.runs)), "cv_folds": 5,
            "budget": {"wall_seconds": args.budget, "cores": 1, "memory_mb": 6144},
            "datasets": [TELCO], "systems": args.systems,
        }, workers=2)
    print(f"\nbudget adherence on telco-churn: wall budget {args.budget:g} s, 1 core per job, "
          "2 workers (AMLB: killed at 2x the budget, no overrun flag)")
    for system in args.systems:
        mine = [r for r in rows if r.system == system]
        ratios = [r.wall_s / args.budget for r in mine]
        failed = [r.failure_class for r in mine if r.status != "ok"]
        print(f"  {system:<14} runs {len(ratios)}  wall/budget median "
              f"{statistics.median(ratios):.3f}  max {max(ratios):.3f}  "
              f"overruns {sum(bool(r.overrun) for r in mine)}  failed {failed or 0}   "
              "(target <= 1.05)")


if __name__ == "__main__":
    main()
