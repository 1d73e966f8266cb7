"""Run jobs in their own processes, in parallel, under an enforced budget.

Each job is a fresh process forked from a fork server that has preloaded the heavy imports, so a
job starts in milliseconds with clean OpenMP state. The parent samples each job's process tree,
sends SIGTERM at the wall budget (the adapter stops searching, refits and predicts), SIGKILLs after
the grace period, and kills on the memory limit. Every job ends as an `Outcome`, failed or not.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import shutil
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from adapters import protocol
from adapters.contract import Budget, RunResult
from auditor import child
from auditor.budget import Usage, cpu_slots, thread_env
from auditor.splits import SealedSplit
from auditor.suite import SystemSpec

PRELOAD = [
    "auditor.child", "adapters.baseline", "adapters.lgbm_default", "adapters.optuna_search",
    "lightgbm", "optuna", "sklearn.model_selection", "pandas", "pyarrow.parquet", "threadpoolctl",
]
POLL_S = 0.05
# The adapter is told to finish this much before the wall budget, to leave time for hand-back.
HANDBACK_S = 0.25


@dataclass(frozen=True)
class Job:
    job_id: str
    split: SealedSplit
    system: SystemSpec
    metric: str

    @property
    def seed(self) -> int:
        return self.split.seed


@dataclass
class Outcome:
    """Everything measured about one finished job."""

    job: Job
    status: str
    failure_class: str | None
    failure_message: str | None
    result: RunResult | None
    extra: dict[str, Any]
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    overrun: bool
    started_at: str
    finished_at: str


def check_predictions(preds: np.ndarray, n: int, task_type: str, n_classes: int) -> str | None:
    """Why predictions are invalid, or None when they are fine."""
    want = (n,) if task_type == "regression" else (n, n_classes)
    if preds.shape != want:
        return f"predictions have shape {preds.shape}, expected {want}"
    if not np.isfinite(preds).all():
        return f"{int((~np.isfinite(preds)).sum())} predictions are NaN or infinite"
    if task_type != "regression":
        if preds.min() < 0 or preds.max() > 1:
            return "probabilities outside [0, 1]"
        worst = float(np.abs(preds.sum(axis=1) - 1).max())
        if worst > 1e-4:
            return f"probabilities do not sum to 1 (off by up to {worst:.3g})"
    return None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class _Running:
    job: Job
    folder: Path
    process: Any
    ps: psutil.Process | None
    started: float
    started_at: str
    slot: int
    usage: Usage = field(default_factory=Usage)
    termed: bool = False
    killed_for: str | None = None


class Runner:
    """Schedules jobs on up to `workers` processes, each confined to `budget.cores` CPUs."""

    def __init__(self, budget: Budget, workers: int, work_dir: Path, grace_s: float,
                 environment: dict[str, Any]) -> None:
        self.budget = budget
        self.environment = environment
        self.workers = workers
        self.work_dir = work_dir
        self.grace_s = grace_s
        self.slots = cpu_slots(budget.cores, workers)
        os.environ.update(thread_env(budget.cores))  # inherited by the fork server
        self.ctx = mp.get_context("forkserver")
        self.ctx.set_forkserver_preload(PRELOAD)
        warm = self.ctx.Process(target=int)  # waits for the preload: paid once, outside any job
        warm.start()
        warm.join()

    def run(self, jobs: Iterable[Job], on_done: Callable[[Outcome], None],
            on_start: Callable[[Job], None] | None = None) -> None:
        pending = deque(jobs)
        running: dict[int, _Running] = {}
        free = list(range(self.workers))
        while pending or running:
            while pending and free:
                job = pending.popleft()
                slot = free.pop(0)
                running[slot] = self._start(job, slot)
                if on_start:
                    on_start(job)
            wait([r.process.sentinel for r in running.values()], timeout=POLL_S)
            for slot, r in list(running.items()):
                if r.process.is_alive():
                    self._enforce(r)
                    continue
                r.process.join()
                outcome = self._collect(r)
                r.process.close()
                del running[slot]
                free.append(slot)
                on_done(outcome)

    def _start(self, job: Job, slot: int) -> _Running:
        folder = self.work_dir / job.job_id
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        started = time.monotonic()
        d = job.split.dataset
        protocol.write_json(folder / protocol.JOB, {
            "system": job.system.system,
            "options": job.system.options,
            "seed": job.seed,
            "metric": job.metric,
            "task_type": d.task_type,
            "classes": d.classes,
            "budget": self.budget.as_dict(),
            "deadline": started + self.budget.wall_seconds - HANDBACK_S,
            "environment": self.environment,
            # the fork server may predate these settings (e.g. --envs), so they travel along
            "settings": {k: v for k, v in os.environ.items() if k.startswith("AUDITOR_")},
        })
        s = job.split
        process = self.ctx.Process(
            target=child.main,
            args=(str(folder), self.slots[slot], s.search_X, s.search_y, s.holdout_X),
            name=f"job-{job.job_id}",
        )
        process.start()
        try:
            ps = psutil.Process(process.pid)
        except psutil.Error:
            ps = None
        return _Running(job, folder, process, ps, started, _now(), slot)

    def _enforce(self, r: _Running) -> None:
        rss = r.usage.sample(r.ps) if r.ps else 0.0
        elapsed = time.monotonic() - r.started
        if rss > self.budget.memory_mb:
            r.killed_for = r.killed_for or "oom"
            self._kill_tree(r)
        elif elapsed > self.budget.wall_seconds + self.grace_s:
            r.killed_for = r.killed_for or "timeout"
            self._kill_tree(r)
        elif elapsed > self.budget.wall_seconds and not r.termed:
            r.termed = True
            r.process.terminate()

    @staticmethod
    def _kill_tree(r: _Running) -> None:
        if r.ps is None:
            r.process.kill()
            return
        try:
            procs = [r.ps, *r.ps.children(recursive=True)]
        except psutil.Error:
            procs = [r.ps]
        for p in procs:
            with contextlib.suppress(psutil.Error):
                p.send_signal(signal.SIGKILL)

    def _collect(self, r: _Running) -> Outcome:
        wall = time.monotonic() - r.started
        job = r.job
        result, extra = None, {}
        failure, message = r.killed_for, None
        if failure == "timeout":
            message = f"killed after {wall:.1f} s (budget {self.budget.wall_seconds:g} s + grace)"
        elif failure == "oom":
            message = (f"killed at {r.usage.peak_rss_mb:.0f} MB resident "
                       f"(limit {self.budget.memory_mb} MB)")
        elif (error := protocol.read_error(r.folder)) is not None:
            failure, message = error["failure_class"], error["message"]
        elif not (r.folder / protocol.RESULT).exists():
            code = r.process.exitcode
            failure = "crash"
            message = (f"process killed by signal {-code}" if code and code < 0
                       else f"process exited with code {code} and no result")
        else:
            try:
                result, extra = protocol.read_result(r.folder)
            except (ValueError, OSError) as exc:
                failure, message = "invalid-output", str(exc)
            else:
                d = job.split.dataset
                message = check_predictions(result.predictions, len(job.split.holdout_idx),
                                            d.task_type, len(d.classes))
                failure = "invalid-output" if message else None
        cpu_s = max(extra.get("cpu_s", 0.0), r.usage.cpu_s)
        peak = max(extra.get("maxrss_mb", 0.0), r.usage.peak_rss_mb)
        shutil.rmtree(r.folder, ignore_errors=True)
        return Outcome(
            job=job,
            status="failed" if failure else "ok",
            failure_class=failure,
            failure_message=message,
            result=result if not failure else None,
            extra=extra,
            wall_s=wall,
            cpu_s=cpu_s,
            peak_rss_mb=peak,
            overrun=wall > self.budget.wall_seconds,
            started_at=r.started_at,
            finished_at=_now(),
        )
