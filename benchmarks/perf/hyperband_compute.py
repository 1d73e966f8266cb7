"""Compute Hyperband needs to reach random search's final validation score, as a ratio to random
search's total compute, per seed, from a finished churn case study.

    auditor run benchmarks/churn-case-study.yaml --out results/churn-case-study
    python -m benchmarks.perf.hyperband_compute results/churn-case-study

Compute is counted two ways: CPU seconds summed over evaluations, and full-fidelity equivalents
(each evaluation weighted by the fraction of training rows it used).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from adapters.metrics import get_metric
from auditor.store.database import RESULTS_DB, Store
from auditor.store.records import StoredRun, StoredTrial


def _runs(store: Store, system: str) -> dict[int, tuple[StoredRun, list[StoredTrial]]]:
    """Per seed, the successful run of `system` and its trials by end time."""
    return {r.seed: (r, sorted(store.trials(r.job_id), key=lambda t: t.end_s))
            for r in store.runs(status="ok") if r.system == system}


def reach(trials: list[StoredTrial], target: float, greater: bool
          ) -> tuple[float, float] | None:
    """(CPU s, full-fidelity equivalents) spent when a complete evaluation first matches
    `target`; None when none does."""
    cpu = ffe = 0.0
    for t in trials:
        cpu += t.cpu_s or 0.0
        ffe += t.fidelity
        if t.status == "complete" and t.score is not None and (
                t.score >= target if greater else t.score <= target):
            return cpu, ffe
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="output folder of the churn case study")
    ap.add_argument("--reference", default="random")
    ap.add_argument("--candidate", default="hyperband")
    args = ap.parse_args()
    store = Store(args.out / RESULTS_DB)
    try:
        reference, candidate = _runs(store, args.reference), _runs(store, args.candidate)
    finally:
        store.close()
    cpu_ratios, ffe_ratios = [], []
    print(f"compute {args.candidate} needs to reach {args.reference}'s final validation score")
    for seed in sorted(set(reference) & set(candidate)):
        ref, ref_trials = reference[seed]
        greater = get_metric(ref.metric).greater_is_better
        final = (ref.trajectory or [])[-1][3]
        total_cpu = sum(t.cpu_s or 0.0 for t in ref_trials)
        total_ffe = sum(t.fidelity for t in ref_trials)
        hit = reach(candidate[seed][1], final, greater)
        if hit is None:
            print(f"  seed {seed}: {args.reference} final {final:.4f} "
                  f"({total_cpu:.0f} CPU s, {total_ffe:.0f} FFE); {args.candidate} never "
                  "reached it")
            continue
        cpu_ratios.append(hit[0] / total_cpu)
        ffe_ratios.append(hit[1] / total_ffe)
        print(f"  seed {seed}: {args.reference} final {final:.4f} ({total_cpu:.0f} CPU s, "
              f"{total_ffe:.0f} FFE); {args.candidate} reached it after {hit[0]:.0f} CPU s "
              f"({hit[1]:.1f} FFE): ratio {cpu_ratios[-1]:.2f} CPU, {ffe_ratios[-1]:.2f} FFE")
    if cpu_ratios:
        print(f"median ratio over {len(cpu_ratios)} of {len(set(reference) & set(candidate))} "
              f"seeds: {statistics.median(cpu_ratios):.2f} of the CPU seconds, "
              f"{statistics.median(ffe_ratios):.2f} of the full-fidelity equivalents")


if __name__ == "__main__":
    main()
