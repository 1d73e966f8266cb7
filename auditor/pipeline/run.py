"""`auditor run`: validate everything, seal the splits, run the jobs, audit and store each one.

All input is checked before the output folder is touched, so bad input leaves nothing behind.
Re-running on the same output folder (or store) skips jobs already recorded.

Runners may share a store (`--store postgresql://...`): each job is leased before it runs, so it
runs once; a runner heartbeats its leases, gives them back when it stops, and waits at the end for
jobs that other live runners hold, taking over those whose runner died. A job lost to the machinery
(failure class `infrastructure`) runs again, at most `INFRA_RETRIES` more times; a system's own
failure is recorded as it is.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import threading
import time
from collections import Counter, deque
from contextlib import suppress
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from adapters import registry
from adapters.contract import FailureClass
from adapters.failures import ENVS_VAR
from adapters.metrics import get_metric
from adapters.systems.environments import envs_root
from auditor.audit.score import Scored, audit_run, scores_on_holdout
from auditor.audit.suite_pass import run_audits
from auditor.audit.trajectory import compute, trajectory, tree_cpu
from auditor.config.progress import LOG, ProgressDisplay
from auditor.config.suite import Suite
from auditor.data.dataset import Dataset
from auditor.execution import sandbox as sandbox_folders
from auditor.execution.confinement import load_warning
from auditor.execution.executor import Executor, Job, Limits, Outcome, Placement, executor_class
from auditor.execution.recording import (
    bootstrap_file,
    predictions_path,
    save_predictions,
    write_npy,
)
from auditor.pipeline.plan import (
    Plan,
    harness_environment,
    harness_versions,
    job_id,
    open_store,
)
from auditor.stats.bootstrap import N_BOOTSTRAP
from auditor.store.database import RESULTS_DB, Store, StoreUnavailable
from auditor.store.leases import dead_here, owner_id
from auditor.store.records import StoredDataset, StoredRun, StoredSplit, StoredTrial

INFRA_RETRIES = 2
HEARTBEAT_S = 5.0
# A lease whose heartbeat is older than budget + grace + this is taken over
STALE_MARGIN_S = 60.0
WAIT_S = 2.0  # between looks at jobs that other runners hold


def _named(job: Job) -> str:
    return f"{job.split.dataset.name} · {job.system.label} · {job.split.label}"


def _started(job: Job) -> None:
    LOG.info("  start  %s", _named(job))


def _finished(progress: ProgressDisplay, o: Outcome, holdout: float | None) -> None:
    """One line per finished job: its holdout score or its failure."""
    what = (f"holdout {o.job.metric} {holdout:.4g}" if holdout is not None
            else f"FAILED {o.failure_class}: {o.failure_message}")
    flag = " OVERRUN" if o.overrun else ""
    progress.advance(f"{_named(o.job)}  {what}  ({o.wall_s:.1f} s{flag})")


def _openml_columns(d: Dataset) -> dict[str, int | None]:
    origin = d.openml
    return {"openml_dataset_id": origin.dataset_id if origin else None,
            "openml_dataset_version": origin.version if origin else None,
            "openml_task_id": origin.task_id if origin else None}


EXTRA_METRICS = {"binary": ("top_decile_precision",)}


def _holdout_scores(job: Job, predictions: np.ndarray) -> tuple[Scored, dict[str, Any]]:
    """The suite's metric on the holdout, and the figures beside it (binary: precision in the
    top risk decile), all on the same resamples."""
    extra = EXTRA_METRICS.get(job.split.dataset.task_type, ())
    metrics = [get_metric(job.metric), *map(get_metric, extra)]
    scored = scores_on_holdout(metrics, job.split.holdout_y, predictions,
                               job.split.dataset.task_type != "regression", job.seed)
    return scored[0], {name: {"value": value, "lo": lo, "hi": hi}
                       for name, (value, lo, hi, _) in zip(extra, scored[1:], strict=True)}


def _keep_bootstrap(path: Path, boot: np.ndarray) -> None:
    """Keep the metric's bootstrap scores for the audit's paired comparisons, when every
    resample was scored (else the audit draws them again); a failed write only costs that."""
    with suppress(OSError):
        if len(boot) == N_BOOTSTRAP:
            write_npy(path, boot)
        else:
            path.unlink(missing_ok=True)


def _record(store: Store, out: Path, suite: Suite, o: Outcome, versions: dict[str, str],
            owner: str, shared: bool) -> float | None:
    """Write the run (and its predictions file); `shared`: the store is not the output folder's
    own, so the run records the absolute path of its predictions."""
    job = o.job
    r = o.result
    holdout = None
    row: dict[str, Any] = {
        "job_id": job.job_id, "suite": suite.name, "dataset": job.split.dataset.name,
        "system": job.system.label, "system_ref": job.system.system,
        "options": job.system.options, "seed": job.seed,
        "metric": job.metric, "status": o.status, "failure_class": o.failure_class,
        "failure_message": o.failure_message, "failure_detail": o.failure_detail,
        "notes": "; ".join(o.notes) or None, "wall_s": o.wall_s, "cpu_s": o.cpu_s,
        "peak_rss_mb": o.peak_rss_mb, "search_s": o.extra.get("search_s"),
        "overrun": o.overrun, "budget": suite.budget.as_dict(),
        "versions": versions, "dataset_fingerprint": job.split.dataset.fingerprint(),
        "split_fingerprint": job.split.fingerprint(), "started_at": o.started_at,
        "finished_at": o.finished_at, "system_version": o.extra.get("system_version"),
        **_openml_columns(job.split.dataset), "repeat": job.split.repeat, "fold": job.split.fold,
        "isolation": o.isolation, "cpu_wait_s": o.cpu_wait_s, "startup_s": o.startup_s,
    }
    trials: list[StoredTrial] = []
    if r is not None:
        metric = get_metric(job.metric)
        scored, extra = _holdout_scores(job, r.predictions)
        a = audit_run(metric, job.split.holdout_y, r.predictions, r.reported_score,
                      stratified=job.split.dataset.task_type != "regression", seed=job.seed,
                      fold_scores=r.fold_scores,
                      validation_rows=r.validation_rows, scored=scored)
        holdout = a.holdout
        tree = tree_cpu(o.cpu_clock)
        spent = compute(r.trials, tree)
        pred_path = predictions_path(job.job_id)  # saved by `save_predictions`
        _keep_bootstrap(bootstrap_file(out / pred_path), scored[3])
        row.update({
            "reported_score": a.reported, "reported_on": r.reported_on,
            "holdout_score": a.holdout, "holdout_lo": a.holdout_lo, "holdout_hi": a.holdout_hi,
            "gap": a.gap, "gap_lo": a.gap_lo, "gap_hi": a.gap_hi, "verdict": a.verdict,
            "n_configs": r.n_configs, "best_config": r.best_config,
            "model_description": r.model_description,
            "predictions_path": str((out / pred_path).resolve() if shared else pred_path),
            "search_space": r.search_space, "environment": r.environment,
            "compute_cpu_s": spent.cpu_s, "full_fidelity_evals": spent.full_fidelity_evals,
            "trajectory": trajectory(r.trials, metric, tree),
            "extra_metrics": {**extra,
                                         "reported_uncertainty": {  # what the gap's CI used
                                             "method": a.reported_uncertainty, "sd": a.reported_sd,
                                             "fold_scores": r.fold_scores,
                                             "validation_rows": r.validation_rows}},
        })
        trials = [
            StoredTrial(job.job_id, t.number, t.config, t.score, t.start, t.end, t.fidelity,
                        t.status, t.cpu_s)
            for t in r.trials
        ]
    store.put_run(StoredRun(**row), trials, owner)
    return holdout


class _Heartbeat(threading.Thread):
    """Refreshes this runner's leases every `HEARTBEAT_S` until stopped."""

    def __init__(self, store: Store, owner: str) -> None:
        super().__init__(daemon=True)
        self.store, self.owner, self.stopped = store, owner, threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(HEARTBEAT_S):
            with suppress(StoreUnavailable):  # the next beat tries again
                self.store.heartbeat(self.owner)


def _work_folder(out: Path, owner: str) -> Path:
    """This runner's job folders under out/work; those of runners that died here are removed."""
    root = out / "work"
    for old in root.glob("*~*~*"):
        if dead_here(old.name.replace("~", "/")):
            shutil.rmtree(old, ignore_errors=True)
    return root / owner.replace("/", "~")


def run_suite(p: Plan, out: Path, workers: int | None, store_url: str | None = None,
              executor: str = "local", address: str | None = None, sandbox: str = "auto"
              ) -> ProgressDisplay:
    """Run every job not yet recorded in the store (`store_url`, default the output folder's
    SQLite file) on the registered `executor` (`auditor.execution.executor.EXECUTORS`), each in
    the `sandbox` level's isolation; returns the progress counters."""
    suite = p.suite
    store = open_store(out, p, store_url)
    owner = owner_id()
    limits = Limits(suite.budget, suite.grace_seconds, harness_environment(), sandbox,
                    registry.modules([s.system for s in p.systems]))
    if p.settings.envs:  # the systems' environments are read inside the sandbox
        sandbox_folders.ENVS_FOLDERS[:] = [p.settings.envs]
    work = _work_folder(out, owner)
    beat: _Heartbeat | None = None
    try:
        placement = Placement(limits, workers, work, address)
        with executor_class(executor).open(placement) as runner:
            out.mkdir(parents=True, exist_ok=True)
            store = store or Store(out / RESULTS_DB)
            _put_data(store, p)
            finished = store.finished_jobs()
            # a job's HOME is its own folder, so the harness says where the environments are
            env = {**p.settings.child_env(), ENVS_VAR: str(envs_root(p.settings.envs))}
            planned: list[Job] = []
            for (name, *_), split in p.splits.items():
                for system in p.systems:
                    jid = job_id(split, system, p.metrics[name], suite)
                    if jid not in finished:
                        planned.append(Job(jid, split, system, p.metrics[name], env))
            runner.prepare([j.system.system for j in planned], LOG.info)
            total = len(p.splits) * len(p.systems)
            progress = ProgressDisplay(suite.name, total, total - len(planned))
            where = "" if store_url is None else f", store {store.name}"
            LOG.info("%s: %d jobs (%d already recorded), %d worker(s) on %s%s, budget %s",
                     suite.name, total, total - len(planned), runner.workers, executor, where,
                     json.dumps(asdict(suite.budget)))
            if executor == "local" and planned and runner.workers and (
                    line := load_warning(min(runner.workers, len(planned)), suite.budget.cores)):
                print(line, file=sys.stderr)
            beat = _Heartbeat(store, owner)
            beat.start()
            with progress:
                _run_jobs(runner, store, out, p, planned, progress, owner, store_url is not None)
            LOG.info("auditing: protocol checks, budget adequacy, overtuning, seed stability")
            run_audits(store, out, {s.fingerprint(): s for s in p.splits.values()},
                       suite.budget.cores)
    finally:
        if beat is not None:
            beat.stopped.set()
        if store is not None:
            with suppress(StoreUnavailable):
                store.release(owner)
            store.close()
        shutil.rmtree(work, ignore_errors=True)
        with suppress(OSError):
            work.parent.rmdir()
    return progress


def _file_sha256(source: str) -> str | None:
    """The sha256 of a local file's bytes (source `file:PATH`)."""
    if not source.startswith("file:"):
        return None
    with open(source.removeprefix("file:"), "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _put_data(store: Store, p: Plan) -> None:
    for name, d in p.datasets.items():
        store.put_dataset(StoredDataset(
            name=name, source=d.source, target=d.target, task_type=d.task_type,
            classes=d.classes, n_rows=len(d.y), n_features=d.X.shape[1],
            n_categorical=sum(t == "categorical" for t in d.feature_types.values()),
            n_missing=d.n_missing, fingerprint=d.fingerprint(), **_openml_columns(d),
            file_sha256=_file_sha256(d.source)))
    for (name, seed, repeat, fold), s in p.splits.items():
        store.put_split(StoredSplit(
            dataset=name, seed=seed, holdout_fraction=s.fraction, fingerprint=s.fingerprint(),
            n_search=len(s.search_idx), n_holdout=len(s.holdout_idx), holdout_y=s.holdout_y,
            openml_task_id=s.task_id, repeat=repeat, fold=fold))


def _run_jobs(runner: Executor, store: Store, out: Path, p: Plan, planned: list[Job],
              progress: ProgressDisplay, owner: str, shared: bool) -> None:
    """Claim and run the planned jobs, retrying infrastructure failures, until every one is
    recorded (by this runner or another)."""
    suite = p.suite
    stale_s = suite.budget.wall_seconds + suite.grace_seconds + STALE_MARGIN_S
    versions = harness_versions()
    queue, held = deque(planned), []
    retry: deque[Job] = deque()
    tries: Counter[str] = Counter()

    def next_job() -> Job | None:
        if retry:
            return retry.popleft()
        while queue:
            job = queue.popleft()
            if store.lease(job.job_id, owner, stale_s):
                return job
            held.append(job)
        return None

    def on_done(o: Outcome) -> None:
        o = save_predictions(o, out)
        if o.failure_class == FailureClass.INFRASTRUCTURE and tries[o.job.job_id] < INFRA_RETRIES:
            tries[o.job.job_id] += 1
            LOG.info("  retry  %s after %s", _named(o.job), o.failure_message)
            retry.append(o.job)
            return
        _finished(progress, o, _record(store, out, suite, o, versions, owner, shared))

    waiting = 0
    while True:
        runner.run(next_job, on_done, on_start=_started)
        finished = store.finished_jobs()
        progress.count(sum(j.job_id in finished for j in held))
        queue.extend(j for j in held if j.job_id not in finished)
        held.clear()
        if not queue:
            return
        if len(queue) != waiting:
            waiting = len(queue)
            LOG.info("waiting for %d job(s) that other runners hold", waiting)
        time.sleep(WAIT_S)
