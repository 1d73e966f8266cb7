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

import json
import shutil
import sys
import threading
import time
from collections import Counter, deque
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import asdict
from pathlib import Path
from typing import TextIO

import numpy as np

from adapters.metrics import get_metric
from auditor.audit.score import audit_run, score_with_ci
from auditor.audit.suite_pass import run_audits
from auditor.audit.trajectory import compute, trajectory
from auditor.config.errors import INFRASTRUCTURE
from auditor.config.suite import Suite
from auditor.data.dataset import Dataset
from auditor.execution.local import Job, Limits, Outcome, Runner
from auditor.execution.recording import predictions_path, save_predictions
from auditor.pipeline.plan import (
    Plan,
    harness_environment,
    harness_versions,
    job_id,
    open_store,
)
from auditor.store.leases import dead_here, owner_id
from auditor.store.records import RESULTS_DB, Store, StoreUnavailable

INFRA_RETRIES = 2
HEARTBEAT_S = 5.0
# A lease whose heartbeat is older than budget + grace + this is taken over
STALE_MARGIN_S = 60.0
WAIT_S = 2.0  # between looks at jobs that other runners hold


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


def _record(store: Store, out: Path, suite: Suite, o: Outcome, versions: dict[str, str],
            owner: str, shared: bool) -> float | None:
    """Write the run (and its predictions file); `shared`: the store is not the output folder's
    own, so the run records the absolute path of its predictions."""
    job = o.job
    r = o.result
    holdout = None
    row = {
        "job_id": job.job_id, "suite": suite.name, "dataset": job.split.dataset.name,
        "system": job.system.label, "system_ref": job.system.system,
        "options": json.dumps(job.system.options, sort_keys=True), "seed": job.seed,
        "metric": job.metric, "status": o.status, "failure_class": o.failure_class,
        "failure_message": o.failure_message, "failure_detail": o.failure_detail,
        "notes": "; ".join(o.notes) or None, "wall_s": o.wall_s, "cpu_s": o.cpu_s,
        "peak_rss_mb": o.peak_rss_mb, "search_s": o.extra.get("search_s"),
        "overrun": int(o.overrun), "budget": json.dumps(suite.budget.as_dict()),
        "versions": json.dumps(versions), "dataset_fingerprint": job.split.dataset.fingerprint(),
        "split_fingerprint": job.split.fingerprint(), "started_at": o.started_at,
        "finished_at": o.finished_at, "system_version": o.extra.get("system_version"),
        **_openml_columns(job.split.dataset), "repeat": job.split.repeat, "fold": job.split.fold,
        "isolation": o.isolation,
    }
    trials = []
    if r is not None:
        metric = get_metric(job.metric)
        classification = job.split.dataset.task_type != "regression"
        a = audit_run(metric, job.split.holdout_y, r.predictions, r.reported_score,
                      stratified=classification, seed=job.seed, fold_scores=r.fold_scores,
                      validation_rows=r.validation_rows)
        holdout = a.holdout
        spent = compute(r.trials)
        pred_path = predictions_path(job.job_id)  # saved by `save_predictions`
        row.update({
            "reported_score": a.reported, "reported_on": r.reported_on,
            "holdout_score": a.holdout, "holdout_lo": a.holdout_lo, "holdout_hi": a.holdout_hi,
            "gap": a.gap, "gap_lo": a.gap_lo, "gap_hi": a.gap_hi, "verdict": a.verdict,
            "n_configs": r.n_configs, "best_config": json.dumps(r.best_config, default=str),
            "model_description": r.model_description,
            "predictions_path": str((out / pred_path).resolve() if shared else pred_path),
            "search_space": json.dumps(r.search_space), "environment": json.dumps(r.environment),
            "compute_cpu_s": spent.cpu_s, "full_fidelity_evals": spent.full_fidelity_evals,
            "trajectory": json.dumps(trajectory(r.trials, metric)),
            "extra_metrics": json.dumps({**_extra_metrics(job, r.predictions),
                                         "reported_uncertainty": {  # what the gap's CI used
                                             "method": a.reported_uncertainty, "sd": a.reported_sd,
                                             "fold_scores": r.fold_scores,
                                             "validation_rows": r.validation_rows}}),
        })
        trials = [
            {"job_id": job.job_id, "number": t.number, "config": json.dumps(t.config, default=str),
             "score": t.score, "start_s": t.start, "end_s": t.end, "fidelity": t.fidelity,
             "status": t.status, "cpu_s": t.cpu_s}
            for t in r.trials
        ]
    store.put_run(row, trials, owner)
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


def _executor(kind: str, limits: Limits, workers: int | None, work: Path,
              address: str | None) -> AbstractContextManager:
    if kind == "ray":
        from auditor.execution.ray_cluster import RayRunner

        return RayRunner(limits, workers, address)
    return nullcontext(Runner(limits, workers or 1, work))


def run_suite(p: Plan, out: Path, workers: int | None, store_url: str | None = None,
              executor: str = "local", address: str | None = None, sandbox: str = "auto"
              ) -> Progress:
    """Run every job not yet recorded in the store (`store_url`, default the output folder's
    SQLite file) on `executor` ("local" or "ray"), each in the `sandbox` level's isolation;
    returns the progress counters."""
    suite = p.suite
    store = open_store(out, p, store_url)
    owner = owner_id()
    limits = Limits(suite.budget, suite.grace_seconds, harness_environment(), sandbox)
    work = _work_folder(out, owner)
    beat: _Heartbeat | None = None
    try:
        with _executor(executor, limits, workers, work, address) as runner:
            out.mkdir(parents=True, exist_ok=True)
            store = store or Store(out / RESULTS_DB)
            _put_data(store, p)
            finished = store.finished_jobs()
            planned: list[Job] = []
            for (name, *_), split in p.splits.items():
                for system in p.systems:
                    jid = job_id(split, system, p.metrics[name], suite)
                    if jid not in finished:
                        planned.append(Job(jid, split, system, p.metrics[name]))
            total = len(p.splits) * len(p.systems)
            progress = Progress(total, total - len(planned))
            where = "" if store_url is None else f", store {store.name}"
            progress.say(f"{suite.name}: {total} jobs ({total - len(planned)} already recorded), "
                         f"{runner.workers} worker(s) on {executor}{where}, "
                         f"budget {json.dumps(asdict(suite.budget))}")
            beat = _Heartbeat(store, owner)
            beat.start()
            _run_jobs(runner, store, out, p, planned, progress, owner, store_url is not None)
            progress.say("auditing: protocol checks, budget adequacy, overtuning, seed stability")
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


def _put_data(store: Store, p: Plan) -> None:
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


def _run_jobs(runner: Runner, store: Store, out: Path, p: Plan, planned: list[Job],
              progress: Progress, owner: str, shared: bool) -> None:
    """Claim and run the planned jobs, retrying infrastructure failures, until every one is
    recorded (by this runner or another)."""
    suite = p.suite
    stale_s = suite.budget.wall_seconds + suite.grace_seconds + STALE_MARGIN_S
    versions = harness_versions()
    queue, held, retry = deque(planned), [], deque()
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
        if o.failure_class == INFRASTRUCTURE and tries[o.job.job_id] < INFRA_RETRIES:
            tries[o.job.job_id] += 1
            progress.say(f"  retry  {o.job.split.dataset.name} · {o.job.system.label} · "
                         f"{o.job.split.label} after {o.failure_message}")
            retry.append(o.job)
            return
        progress.finished(o, _record(store, out, suite, o, versions, owner, shared))

    waiting = 0
    while True:
        runner.run(next_job, on_done, on_start=progress.started)
        finished = store.finished_jobs()
        progress.done += sum(j.job_id in finished for j in held)
        queue.extend(j for j in held if j.job_id not in finished)
        held.clear()
        if not queue:
            return
        if len(queue) != waiting:
            waiting = len(queue)
            progress.say(f"waiting for {waiting} job(s) that other runners hold")
        time.sleep(WAIT_S)
