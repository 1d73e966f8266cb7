"""`auditor run`: validate everything, seal the splits, run the jobs, audit and store each one.

All input is checked before the output folder is touched, so bad input leaves nothing behind.
Re-running on the same output folder skips jobs already recorded.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import platform
import shutil
import sys
import warnings
from dataclasses import asdict, dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import TextIO

import numpy as np

import adapters
from adapters.metrics import get_metric
from auditor.audit import audit_run, score_with_ci
from auditor.audits import run_audits
from auditor.datasets import Dataset, load_dataset
from auditor.errors import UsageError
from auditor.openml_source import suite_tasks
from auditor.runner import Job, Outcome, Runner
from auditor.splits import SealedSplit, official, seal
from auditor.store import RESULTS_DB, Store
from auditor.suite import DatasetSpec, Suite, SystemSpec
from auditor.trajectory import compute, trajectory

HARNESS_PACKAGES = ("automl-auditor", "numpy", "pandas", "scipy", "scikit-learn", "lightgbm",
                    "optuna", "pyarrow", "threadpoolctl", "psutil", "openml")


def harness_environment() -> dict[str, str]:
    """The harness's own environment, for systems that run in it."""
    dists = sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions())
    return {"python": platform.python_version(), "name": "harness",
            "freeze_sha256": hashlib.sha256("\n".join(dists).encode()).hexdigest()}


def harness_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in HARNESS_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def resolve_systems(suite: Suite) -> list[SystemSpec]:
    """Check each system loads with its options; give CV systems the suite's `cv_folds`."""
    resolved = []
    for spec in suite.systems:
        try:
            ref = adapters.resolve(spec.system)
            options = dict(spec.options)
            module, _, cls = ref.partition(":")
            params = inspect.signature(getattr(__import__(module, fromlist=[cls]), cls)).parameters
            if "cv_folds" in params and "cv_folds" not in options:
                options["cv_folds"] = suite.cv_folds
            adapter = adapters.load(spec.system, options)
        except adapters.UnknownSystem as exc:
            raise UsageError(f"suite system {spec.label!r}: {exc}") from None
        minimum = getattr(adapter, "min_wall_seconds", 0.0)
        if suite.budget.wall_seconds < minimum:
            warnings.warn(f"system {spec.label!r} needs at least {minimum:g} s to search; the "
                          f"budget gives {suite.budget.wall_seconds:g} s, so its jobs will "
                          "likely fail", stacklevel=1)
        resolved.append(replace(spec, options=options))
    return resolved


def dataset_specs(suite: Suite) -> list[DatasetSpec]:
    """The suite's datasets, each OpenML suite replaced by its tasks (named SUITE/DATA-taskID)."""
    specs: list[DatasetSpec] = []
    for spec in suite.datasets:
        if spec.openml_suite is None:
            specs.append(spec)
            continue
        tasks = suite_tasks(spec.openml_suite, spec.limit, spec.max_rows)
        if not tasks:
            raise UsageError(f"OpenML suite {spec.openml_suite} has no task with at most "
                             f"{spec.max_rows} rows — raise max_rows of dataset {spec.name!r}")
        specs += [replace(spec, name=f"{spec.name}/{data}-task{task}",
                          source=f"openml:task/{task}", openml_suite=None, limit=None,
                          max_rows=None) for task, data in tasks]
    names = [s.name for s in specs]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise UsageError(f"two datasets are named {dup!r} once OpenML suites are expanded; "
                         "rename one of them")
    return specs


def load_datasets(specs: list[DatasetSpec], base: Path) -> dict[str, Dataset]:
    return {
        spec.name: load_dataset(spec.name, spec.source, target=spec.target, task=spec.task,
                                drop=spec.drop, base_dir=base)
        for spec in specs
    }


def job_id(split: SealedSplit, system: SystemSpec, metric: str, suite: Suite) -> str:
    what = {
        "dataset": split.dataset.fingerprint(), "split": split.fingerprint(),
        "label": system.label, "system": system.system, "options": system.options,
        "seed": split.seed, "metric": metric, "budget": suite.budget.as_dict(),
    }
    if split.task_id is not None:  # harness-made splits keep the ids they had before tasks
        what |= {"openml_task": split.task_id, "repeat": split.repeat, "fold": split.fold}
    key = json.dumps(what, sort_keys=True, default=str)
    return hashlib.sha256(key.encode()).hexdigest()[:16]


# (dataset name, seed, repeat, fold); repeat and fold are None for the harness's own splits
SplitKey = tuple[str, int, int | None, int | None]


@dataclass
class Plan:
    suite: Suite
    systems: list[SystemSpec]
    datasets: dict[str, Dataset]
    splits: dict[SplitKey, SealedSplit]
    metrics: dict[str, str]


def plan(suite: Suite) -> Plan:
    """Everything that can fail on bad input, done before any output is written."""
    systems = resolve_systems(suite)
    specs = dataset_specs(suite)
    datasets = load_datasets(specs, suite.path.parent)
    metrics = {s.name: suite.metric_for(s, datasets[s.name].task_type) for s in specs}
    splits: dict[SplitKey, SealedSplit] = {}
    for spec in specs:
        d = datasets[spec.name]
        for seed in suite.seeds:
            if d.openml is None or d.openml.task_id is None:
                splits[(spec.name, seed, None, None)] = seal(d, seed, suite.holdout_fraction)
                continue
            for repeat in spec.repeats:
                for fold in spec.folds:
                    splits[(spec.name, seed, repeat, fold)] = official(d, seed, repeat, fold)
    return Plan(suite, systems, datasets, splits, metrics)


def _check_output(out: Path, p: Plan) -> None:
    db = out / RESULTS_DB
    if out.exists() and not out.is_dir():
        raise UsageError(f"output path {out} is a file; give a folder with --out")
    if not db.exists():
        return
    store = Store(db)
    try:
        for name, d in p.datasets.items():
            known = store.dataset_fingerprint(name)
            if known is not None and known != d.fingerprint():
                raise UsageError(
                    f"output folder {out} holds results for a different dataset named {name!r}; "
                    "use a new --out folder or rename the dataset"
                )
    finally:
        store.close()


class Progress:
    """One line per started and finished job, with a bar of finished jobs."""

    def __init__(self, total: int, done: int, stream: TextIO | None = None) -> None:
        self.total, self.done, self.stream = total, done, stream or sys.stderr

    def say(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def started(self, job: Job) -> None:
        self.say(f"  start  {job.split.dataset.name} · {job.system.label} · {job.split.label}")

    def finished(self, o: Outcome, holdout: float | None) -> None:
        self.done += 1
        width = 20
        filled = round(width * self.done / self.total)
        bar = "#" * filled + "-" * (width - filled)
        j = o.job
        what = (f"holdout {o.job.metric} {holdout:.4g}" if holdout is not None
                else f"FAILED {o.failure_class}: {o.failure_message}")
        flag = " OVERRUN" if o.overrun else ""
        self.say(f"[{bar}] {self.done}/{self.total}  {j.split.dataset.name} · {j.system.label} · "
                 f"{j.split.label}  {what}  ({o.wall_s:.1f} s{flag})")


def _openml_columns(d: Dataset) -> dict[str, int | None]:
    origin = d.openml
    return {"openml_dataset_id": origin.dataset_id if origin else None,
            "openml_dataset_version": origin.version if origin else None,
            "openml_task_id": origin.task_id if origin else None}


EXTRA_METRICS = {"binary": ("top_decile_precision",)}


def _extra_metrics(job: Job, predictions: np.ndarray) -> dict[str, dict[str, float]]:
    """Holdout figures beside the suite's metric (binary: precision in the top risk decile)."""
    out = {}
    for name in EXTRA_METRICS.get(job.split.dataset.task_type, ()):
        value, lo, hi = score_with_ci(get_metric(name), job.split.holdout_y, predictions,
                                      stratified=True, seed=job.seed)
        out[name] = {"value": value, "lo": lo, "hi": hi}
    return out


def _record(store: Store, out: Path, suite: Suite, o: Outcome, versions: dict[str, str]
            ) -> float | None:
    job = o.job
    r = o.result
    holdout = None
    row = {
        "job_id": job.job_id, "suite": suite.name, "dataset": job.split.dataset.name,
        "system": job.system.label, "system_ref": job.system.system,
        "options": json.dumps(job.system.options, sort_keys=True), "seed": job.seed,
        "metric": job.metric, "status": o.status, "failure_class": o.failure_class,
        "failure_message": o.failure_message, "wall_s": o.wall_s, "cpu_s": o.cpu_s,
        "peak_rss_mb": o.peak_rss_mb, "search_s": o.extra.get("search_s"),
        "overrun": int(o.overrun), "budget": json.dumps(suite.budget.as_dict()),
        "versions": json.dumps(versions), "dataset_fingerprint": job.split.dataset.fingerprint(),
        "split_fingerprint": job.split.fingerprint(), "started_at": o.started_at,
        "finished_at": o.finished_at, "system_version": o.extra.get("system_version"),
        **_openml_columns(job.split.dataset), "repeat": job.split.repeat, "fold": job.split.fold,
    }
    trials = []
    if r is not None:
        metric = get_metric(job.metric)
        classification = job.split.dataset.task_type != "regression"
        a = audit_run(metric, job.split.holdout_y, r.predictions, r.reported_score,
                      stratified=classification, seed=job.seed)
        holdout = a.holdout
        spent = compute(r.trials)
        pred_path = Path("predictions") / f"{job.job_id}.npy"
        (out / "predictions").mkdir(exist_ok=True)
        tmp = out / f"{pred_path}.tmp"
        with open(tmp, "wb") as f:
            np.save(f, r.predictions, allow_pickle=False)
        os.replace(tmp, out / pred_path)
        row.update({
            "reported_score": a.reported, "reported_on": r.reported_on,
            "holdout_score": a.holdout, "holdout_lo": a.holdout_lo, "holdout_hi": a.holdout_hi,
            "gap": a.gap, "gap_lo": a.gap_lo, "gap_hi": a.gap_hi, "verdict": a.verdict,
            "n_configs": r.n_configs, "best_config": json.dumps(r.best_config, default=str),
            "model_description": r.model_description, "predictions_path": str(pred_path),
            "search_space": json.dumps(r.search_space), "environment": json.dumps(r.environment),
            "compute_cpu_s": spent.cpu_s, "full_fidelity_evals": spent.full_fidelity_evals,
            "trajectory": json.dumps(trajectory(r.trials, metric)),
            "extra_metrics": json.dumps(_extra_metrics(job, r.predictions)),
        })
        trials = [
            {"job_id": job.job_id, "number": t.number, "config": json.dumps(t.config, default=str),
             "score": t.score, "start_s": t.start, "end_s": t.end, "fidelity": t.fidelity,
             "status": t.status, "cpu_s": t.cpu_s}
            for t in r.trials
        ]
    store.put_run(row, trials)
    return holdout


def run_suite(p: Plan, out: Path, workers: int) -> Progress:
    """Run every job not yet recorded in `out`; returns the progress counters."""
    suite = p.suite
    _check_output(out, p)
    out.mkdir(parents=True, exist_ok=True)
    store = Store(out / RESULTS_DB)
    work = out / "work"
    shutil.rmtree(work, ignore_errors=True)
    try:
        for name, d in p.datasets.items():
            store.put_dataset({"name": name, "source": d.source, "target": d.target,
                               "task_type": d.task_type, "classes": d.classes,
                               "n_rows": len(d.y), "n_features": d.X.shape[1],
                               "n_categorical": sum(t == "categorical"
                                                    for t in d.feature_types.values()),
                               "n_missing": d.n_missing, "fingerprint": d.fingerprint(),
                               **_openml_columns(d)})
        for (name, seed, repeat, fold), s in p.splits.items():
            store.put_split({"dataset": name, "seed": seed, "holdout_fraction": s.fraction,
                             "fingerprint": s.fingerprint(), "n_search": len(s.search_idx),
                             "n_holdout": len(s.holdout_idx), "holdout_y": s.holdout_y,
                             "openml_task_id": s.task_id, "repeat": repeat, "fold": fold})
        finished = store.finished_jobs()
        jobs, total = [], 0
        for (name, *_), split in p.splits.items():
            for system in p.systems:
                total += 1
                jid = job_id(split, system, p.metrics[name], suite)
                if jid not in finished:
                    jobs.append(Job(jid, split, system, p.metrics[name]))
        progress = Progress(total, total - len(jobs))
        progress.say(f"{suite.name}: {total} jobs ({total - len(jobs)} already recorded), "
                     f"{workers} worker(s), budget {json.dumps(asdict(suite.budget))}")
        versions = harness_versions()
        runner = Runner(suite.budget, workers, work / "jobs", suite.grace_seconds,
                        harness_environment())
        runner.run(jobs,
                   on_done=lambda o: progress.finished(o, _record(store, out, suite, o, versions)),
                   on_start=progress.started)
        progress.say("auditing: protocol checks, budget adequacy, overtuning, seed stability")
        run_audits(store, out, {s.fingerprint(): s for s in p.splits.values()},
                   suite.budget.cores)
    finally:
        store.close()
        shutil.rmtree(work, ignore_errors=True)
    return progress
