"""Run jobs in their own processes, in parallel, under an enforced budget.

Each job is a fresh process forked from a fork server that has preloaded the heavy imports, so a
job starts in milliseconds with clean OpenMP state. The parent samples each job's process tree,
sends SIGTERM at the wall budget (counted from when the system began, `confinement.Startup`; the
adapter stops searching, refits and predicts), SIGKILLs after the grace period, and kills on the
memory limit. Every job ends as an `Outcome`, failed or not.
The fork server and its jobs run in the sandbox of `auditor.execution.sandbox`; a job with a
cgroup is measured and killed through it (`auditor.execution.cgroups`).

`JobProcess` is one job's process from start to collection; `Runner` schedules jobs on local
slots, and `auditor.execution.ray_cluster` runs the same `JobProcess` inside Ray tasks.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

import psutil

from adapters import protocol
from adapters.contract import FailureClass, RunResult
from auditor.execution import child, entry, handoff, outputs, sandbox, servers, warmup
from auditor.execution.cgroups import JobCgroup
from auditor.execution.confinement import Startup, Usage, node_cpus
from auditor.execution.executor import (
    Executor,
    Job,
    JobSpec,
    Limits,
    NextJob,
    Outcome,
    Placement,
)

POLL_S = 0.05
SLOW_EVERY = 10  # polls between the costlier looks: the job folder's disk use, the CPU wait
# The adapter is told to finish this much before the wall budget, to leave time for hand-back.
HANDBACK_S = 0.25


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def failed(message: str, failure: str, started: float, started_at: str) -> dict[str, Any]:
    """Outcome fields of a job that produced nothing."""
    return {"status": "failed", "failure_class": failure, "failure_message": message,
            "result": None, "extra": {}, "wall_s": time.monotonic() - started, "cpu_s": 0.0,
            "peak_rss_mb": 0.0, "overrun": False, "started_at": started_at,
            "finished_at": now_iso()}


def start_hidden(process: Any) -> None:
    """Start `process` from the fork server (started again in its sandbox if it died)."""
    sandbox.ensure_served()
    with sandbox.main_hidden():
        process.start()


class JobProcess:
    """One job's process: started on its split's data folder (`handoff`), watched, killed at its
    limits, collected."""

    def __init__(self, ctx: Any, task: JobSpec, data: Path, cpus: list[int], limits: Limits,
                 folder: Path, warm: servers.Servers | None = None) -> None:
        self.isolation = found = sandbox.current()
        if found.on and folder.parent != sandbox.jobs_root():  # the only folder it can write
            folder = sandbox.job_folder(folder.name)
        self.task, self.limits, self.folder = task, limits, folder
        shutil.rmtree(folder, ignore_errors=True)
        (folder / "tmp").mkdir(parents=True)
        (folder / handoff.MOUNT).mkdir()  # where a sandboxed job sees its split's data
        self.started = time.monotonic()
        self.started_at = now_iso()
        budget = limits.budget
        protocol.write_json(folder / protocol.JOB, {
            "system": task.system,
            "options": task.options,
            "seed": task.seed,
            "metric": task.metric,
            "task_type": task.task_type,
            "classes": task.classes,
            "budget": budget.as_dict(),
            "started": self.started,
            "deadline": self.started + budget.wall_seconds - HANDBACK_S,
            "environment": limits.environment,
            "settings": task.settings,
            "data": str(folder / handoff.MOUNT if found.on else data),
        })
        self.cell = (JobCgroup.create(found.groups, budget.memory_mb, budget.cores, cpus)
                     if found.groups else None)
        entering = (entry.Entry.for_job(found, self.cell, folder, task.network, budget.memory_mb,
                                        data)
                    if found.level != "off" else None)
        door = warm.door(task, self.cell, entering.uid if entering else None, cpus,
                         budget.cores) if warm else None
        self.told, tell = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=child.main,
                                   args=(str(folder), cpus, entering, tell, door),
                                   name=f"job-{task.job_id}")
        start_hidden(self.process)
        tell.close()
        for opened in (entering, door):
            if opened:
                opened.close()
        # the fork server reports a sandboxed job's pid in its own namespace
        self.pid = (sandbox.host_pid(sandbox.server_pid(), self.process.pid) if found.on
                    else self.process.pid)
        try:
            self.ps: psutil.Process | None = psutil.Process(self.pid) if self.pid else None
        except psutil.Error:
            self.ps = None
        self.usage = Usage()
        self.startup = Startup(folder / protocol.STARTUP, self.started)
        self.termed = False
        self.killed_for: str | None = None

    def _sample(self) -> float:
        """Current memory in MB, with CPU seconds, CPU wait and peak memory updated (and, now
        and then, the CPU seconds kept for the run's CPU clock)."""
        u = self.usage
        slow = u.samples % SLOW_EVERY == 0
        if slow:
            u.sample_wait(self.ps, self.cell.pids() if self.cell else None)
        if self.cell is None:
            # the job's own /tmp and /dev/shm count, as a cgroup would count their pages
            mb = u.sample(self.ps, own_tmpfs=self.isolation.on) if self.ps else 0.0
        else:
            u.cpu_s, u.peak_rss_mb = self.cell.cpu_s(), max(u.peak_rss_mb, self.cell.peak_mb())
            u.samples += 1
            mb = self.cell.memory_mb()
        if slow:
            u.mark()
        return mb

    def enforce(self) -> None:
        budget = self.limits.budget
        rss = self._sample()
        elapsed = time.monotonic() - self.started - self.startup.allowance()
        if rss > budget.memory_mb or (self.cell and self.cell.oom_killed()):
            self.killed_for = self.killed_for or FailureClass.OOM
            self.kill()
        elif (self.usage.samples % SLOW_EVERY == 0
              and sandbox.disk_bytes(self.folder) > budget.disk_mb * 2**20):
            self.killed_for = self.killed_for or FailureClass.DISK
            self.kill()
        elif elapsed > budget.wall_seconds + self.limits.grace_s:
            self.killed_for = self.killed_for or FailureClass.TIMEOUT
            self.kill()
        elif elapsed > budget.wall_seconds and not self.termed:
            self.termed = True
            if self.pid is not None:
                with contextlib.suppress(OSError):
                    os.kill(self.pid, signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL the job's whole process tree (its whole cgroup, when it has one)."""
        if self.cell is not None:
            self.cell.kill()
            return
        if self.ps is None:
            if not self.isolation.on:  # a sandboxed job's own pid means nothing here
                self.process.kill()
            return
        try:
            procs = [self.ps, *self.ps.children(recursive=True)]
        except psutil.Error:
            procs = [self.ps]
        for p in procs:
            with contextlib.suppress(psutil.Error):
                p.send_signal(signal.SIGKILL)

    def run_to_end(self) -> dict[str, Any]:
        """Watch the process until it ends; its outcome fields."""
        while self.process.is_alive():
            self.enforce()
            self.process.join(POLL_S)
        return self.collect()

    def _entry_failure(self) -> str:
        """Why the job could not enter its sandbox, as it said before any system code ran."""
        try:
            return str(self.told.recv()) if self.told.poll() else ""
        except (EOFError, OSError):
            return ""
        finally:
            self.told.close()

    def collect(self) -> dict[str, Any]:
        """The outcome fields of the ended process (all of `Outcome` but the job)."""
        self.process.join()
        wall = time.monotonic() - self.started
        self.startup.allowance()
        startup = self.startup.seconds or 0.0  # never begun: all of it counts
        if self.cell is not None:  # what the job left behind dies with it
            self.cell.kill()
            self._sample()
            if self.cell.oom_killed():
                self.killed_for = self.killed_for or "oom"
            self.cell.remove()
        self.usage.mark()  # the last CPU seconds seen
        outputs.drop_links(self.folder)
        budget, task, folder = self.limits.budget, self.task, self.folder
        result: RunResult | None = None
        extra: dict[str, Any] = {}
        notes: list[str] = []
        detail = ""
        failure, message = self.killed_for, None
        if failure is None and sandbox.disk_bytes(folder) > budget.disk_mb * 2**20:
            failure = FailureClass.DISK  # written past the limit between two looks
        if failure == FailureClass.TIMEOUT:
            message = (f"killed after {wall:.1f} s (start-up {startup:.1f} s + budget "
                       f"{budget.wall_seconds:g} s + grace)")
        elif failure == FailureClass.OOM:
            message = (f"killed at {self.usage.peak_rss_mb:.0f} MB resident "
                       f"(limit {budget.memory_mb} MB)")
        elif failure == FailureClass.DISK:
            message = f"killed past {budget.disk_mb} MB on disk in its job folder"
        elif entry_failed := self._entry_failure():
            failure, message = FailureClass.INFRASTRUCTURE, entry_failed
        else:
            failure, message, detail, result, extra, notes = outputs.read_outcome(
                folder, task.n_holdout, task.task_type, len(task.classes), self.process.exitcode)
        self.process.close()
        if failure:  # the last lines of the traceback, then of stderr
            detail = "\n".join(filter(None, (outputs.tail(detail),
                                              outputs.stderr_tail(folder / child.STDERR))))
        shutil.rmtree(folder, ignore_errors=True)
        return {
            "status": "failed" if failure else "ok",
            "failure_class": failure,
            "failure_message": message,
            "result": result if not failure else None,
            "extra": extra,
            "wall_s": wall,
            "cpu_s": max(extra.get("cpu_s", 0.0), self.usage.cpu_s),
            "peak_rss_mb": max(extra.get("maxrss_mb", 0.0), self.usage.peak_rss_mb),
            "cpu_wait_s": self.usage.wait_s,
            "overrun": wall - startup > budget.wall_seconds,
            "startup_s": self.startup.seconds,
            "cpu_clock": self.usage.cpu_clock(self.started + startup),
            "started_at": self.started_at,
            "finished_at": now_iso(),
            "notes": notes,
            "failure_detail": detail or None,
            "isolation": self.isolation.label(task.network),
        }


class _Results(threading.Thread):
    """Hands finished jobs' outcomes to `on_done`, one at a time and in order, beside the loop
    that watches the running jobs: while a result is scored and stored, the other jobs are still
    sampled, held to their budget, collected when they end, and free slots are filled. After a
    failure of `on_done` the rest is skipped and `check` raises it in the loop."""

    def __init__(self, on_done: Callable[[Outcome], None]) -> None:
        super().__init__(daemon=True, name="results")
        self.on_done = on_done
        self.todo: queue.Queue[Outcome | None] = queue.Queue()
        self.error: BaseException | None = None

    def run(self) -> None:
        while (o := self.todo.get()) is not None:
            try:
                if self.error is None:
                    self.on_done(o)
            except BaseException as exc:  # raised again in the loop (`check`)
                self.error = exc
            finally:
                self.todo.task_done()

    @property
    def busy(self) -> bool:
        """An outcome is waiting or being handed over (it may yet add a job to run)."""
        return self.todo.unfinished_tasks > 0

    def check(self) -> None:
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        """Let the outcomes handed over so far be processed, then end the thread."""
        self.todo.put(None)
        self.join()


class Runner(Executor):
    """Schedules jobs on up to `workers` local processes, each confined to `budget.cores` CPUs.
    Each split's data is written once, for all its jobs (`handoff`), and removed on exit."""

    name = "local"
    workers: int

    def __init__(self, limits: Limits, workers: int, work_dir: Path) -> None:
        self.limits = limits
        self.workers = workers
        self.work_dir = work_dir
        self.ctx = warmup.context(limits.budget.cores, limits.sandbox, limits.adapters)
        self.files = handoff.SplitFiles()
        self.servers = servers.Servers(self.ctx, start_hidden)

    @classmethod
    def open(cls, placement: Placement) -> Runner:
        return cls(placement.limits, placement.workers or 1, placement.work)

    @classmethod
    def default_workers(cls, workers: int | None, cores: int) -> int | None:
        return workers or max(1, (os.cpu_count() or 1) // cores)

    def __exit__(self, *exc: object) -> None:
        self.files.remove()
        self.servers.close()

    def prepare(self, systems: list[str], say: Callable[[str], None]) -> None:
        """Start the warm servers of `systems` and wait for their imports, so that no job waits
        for them and none shares its CPUs with them."""
        if started := self.servers.prestart(systems):
            say(f"warm servers of {', '.join(started)}: loading their imports (outside every "
                "budget)")
            for line in self.servers.wait():
                say(line)

    def _start(self, job: Job, cpus: list[int]) -> JobProcess:
        data = self.files.folder(str(id(job.split)), job.data)
        return JobProcess(self.ctx, job.task(), data, cpus, self.limits,
                          self.work_dir / job.job_id, self.servers)

    def run(self, next_job: NextJob, on_done: Callable[[Outcome], None],
            on_start: Callable[[Job], None] | None = None) -> None:
        """Run jobs until `next_job` has none and none is running or being handed to `on_done`
        (in a thread of its own, `_Results`); a failure of `on_done` kills the running jobs."""
        running: dict[int, tuple[Job, JobProcess]] = {}
        cpus: dict[int, contextlib.ExitStack] = {}  # each job's CPU locks (node_cpus)
        free = list(range(self.workers))
        results = _Results(on_done)
        results.start()
        try:
            while True:
                results.check()
                while free and (job := next_job()) is not None:
                    slot = free.pop(0)
                    cpus[slot] = contextlib.ExitStack()
                    held = cpus[slot].enter_context(node_cpus(self.limits.budget.cores))
                    running[slot] = job, self._start(job, held)
                    if on_start:
                        on_start(job)
                if not running and not results.busy:
                    results.check()
                    return
                if running:
                    wait([p.process.sentinel for _, p in running.values()], timeout=POLL_S)
                else:
                    time.sleep(POLL_S)
                for slot, (job, p) in list(running.items()):
                    if p.process.is_alive():
                        p.enforce()
                        continue
                    del running[slot]
                    outcome = Outcome(job=job, **p.collect())
                    cpus.pop(slot).close()
                    free.append(slot)
                    results.todo.put(outcome)
        finally:
            for _, p in running.values():
                p.kill()
            for stack in cpus.values():
                stack.close()
            results.stop()
