"""Large results stores made from a small real one, for the store-scale benchmark.

A template suite (`constant` and `lgbm-default` on three scikit-learn datasets, two seeds) runs
through the real harness; its stored datasets, splits, runs, trials and prediction files are then
copied through the store's own API into a store of N runs: new dataset names (each with its own
fingerprints), up to ten systems (labels `constant`, `lgbm-default`, `constant-2`, ...) and up to
ten seeds. The audit pass and the report read exactly what real runs leave behind.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from auditor.config.suite import load_suite
from auditor.data.split import SealedSplit
from auditor.execution.recording import predictions_path
from auditor.pipeline.plan import plan
from auditor.pipeline.run import run_suite
from auditor.store.database import RESULTS_DB, Store
from auditor.store.leases import owner_id
from auditor.store.records import StoredDataset, StoredRun, StoredSplit, StoredTrial

TEMPLATE_SYSTEMS = ("constant", "lgbm-default")
TEMPLATE_SEEDS = (0, 1)
TEMPLATE = {
    "name": "scale", "seeds": list(TEMPLATE_SEEDS), "cv_folds": 3, "grace_seconds": 2,
    "budget": {"wall_seconds": 60, "cores": 1, "memory_mb": 2048},
    "datasets": [{"name": "breast-cancer", "source": "sklearn:breast_cancer"},
                 {"name": "wine", "source": "sklearn:wine"},
                 {"name": "diabetes", "source": "sklearn:diabetes"}],
    "systems": list(TEMPLATE_SYSTEMS),
}
MAX_SYSTEMS = MAX_SEEDS = 10


@dataclass
class Template:
    """The real suite's output folder, its stored rows and its sealed splits."""

    out: Path
    datasets: dict[str, StoredDataset]
    splits: dict[tuple[str, int], StoredSplit]  # (dataset, seed) → split
    sealed: dict[tuple[str, int], SealedSplit]
    runs: dict[tuple[str, int, str], StoredRun]  # (dataset, seed, system) → run
    trials: dict[str, list[StoredTrial]]  # job id → trials


def run_template(folder: Path) -> Template:
    """Run the template suite in `folder` with the real harness, and read back what it stored."""
    suite = folder / "template.yaml"
    suite.write_text(yaml.safe_dump(TEMPLATE))
    p = plan(load_suite(suite))
    out = folder / "template"
    run_suite(p, out, workers=2)
    store = Store(out / RESULTS_DB)
    try:
        runs = store.runs()
        failed = [r for r in runs if r.status != "ok"]
        if failed:
            raise SystemExit(f"the template suite failed: {failed[0].failure_message}")
        trials: dict[str, list[StoredTrial]] = {}
        for t in store.trials():
            trials.setdefault(t.job_id, []).append(t)
        return Template(out, {d.name: d for d in store.datasets()},
                        {(s.dataset, s.seed): s for s in store.splits()},
                        {(name, seed): s for (name, seed, _, _), s in p.splits.items()},
                        {(r.dataset, r.seed, r.system): r for r in runs}, trials)
    finally:
        store.close()


def shape(n_runs: int) -> tuple[int, int, int]:
    """(datasets, systems, seeds) of an N-run store: ten systems and ten seeds once N allows."""
    systems = min(MAX_SYSTEMS, n_runs)
    seeds = min(MAX_SEEDS, max(1, n_runs // systems))
    datasets = -(-n_runs // (systems * seeds))
    return datasets, systems, seeds


def _hash(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


def system_label(j: int) -> tuple[str, str]:
    """(label, registered system) of the j-th system of a replicated store."""
    ref = TEMPLATE_SYSTEMS[j % len(TEMPLATE_SYSTEMS)]
    copy = j // len(TEMPLATE_SYSTEMS)
    return (ref if copy == 0 else f"{ref}-{copy + 1}"), ref


def replicate(t: Template, out: Path, n_runs: int) -> dict[str, SealedSplit]:
    """Write an N-run store in `out` (results.sqlite and predictions/) from the template, through
    the store's API; returns the sealed splits by fingerprint, as the audit pass takes them."""
    n_datasets, n_systems, n_seeds = shape(n_runs)
    names = sorted(t.datasets)
    out.mkdir(parents=True)
    store = Store(out / RESULTS_DB)
    owner = owner_id()
    sealed: dict[str, SealedSplit] = {}
    written = 0
    try:
        for k in range(n_datasets):
            base = names[k % len(names)]
            name = f"{base}-{k:03d}"
            d = replace(t.datasets[base], name=name,
                        fingerprint=_hash(t.datasets[base].fingerprint, name))
            store.put_dataset(d)
            # one loaded dataset for all its splits, as in a plan
            data = replace(t.sealed[base, TEMPLATE_SEEDS[0]].dataset, name=name)
            for seed in range(n_seeds):
                like = TEMPLATE_SEEDS[seed % len(TEMPLATE_SEEDS)]
                split = replace(t.splits[base, like], dataset=name, seed=seed,
                                fingerprint=_hash(t.splits[base, like].fingerprint, name, seed))
                store.put_split(split)
                sealed[split.fingerprint] = replace(t.sealed[base, like], dataset=data, seed=seed)
                for j in range(n_systems):
                    if written == n_runs:
                        return sealed
                    label, ref = system_label(j)
                    run = t.runs[base, like, ref]
                    job = _hash(run.job_id, name, seed, label)[:16]
                    path = predictions_path(job)
                    (out / path).parent.mkdir(exist_ok=True)
                    assert run.predictions_path is not None
                    shutil.copyfile(t.out / run.predictions_path, out / path)
                    store.put_run(replace(run, job_id=job, dataset=name, system=label, seed=seed,
                                          dataset_fingerprint=d.fingerprint,
                                          split_fingerprint=split.fingerprint,
                                          predictions_path=str(path)),
                                  [replace(x, job_id=job) for x in t.trials.get(run.job_id, [])],
                                  owner)
                    written += 1
        return sealed
    finally:
        store.close()
