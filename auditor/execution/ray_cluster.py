"""Run jobs as Ray tasks on an existing cluster (`auditor run --executor ray [--address ADDR]`).

Each job is one Ray task that reserves the budget's cores (`num_cpus`) and memory. The task runs
the job exactly as the local runner does: a `JobProcess` forked from a fork server (one per Ray
worker process, heavy imports preloaded; a third-party system's worker forked from its
environment's warm server, one per Ray worker process, waited for before the job starts), with the
same thread caps, confined to CPUs that the task takes on its node, sampled, sent SIGTERM at the
budget, and SIGKILLed after the grace period or past the memory limit. The task returns the
outcome's fields; the harness records them. A task gets the search rows, their labels and the
holdout features: holdout labels stay in the harness.

A task lost to the machinery (its worker or node died, or Ray failed it) is the failure class
`infrastructure`; Ray's own retries are off, so the harness counts and bounds them.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any

from adapters.contract import FailureClass
from auditor.config.errors import UsageError
from auditor.execution import handoff, sandbox, servers, warmup
from auditor.execution.confinement import node_cpus
from auditor.execution.executor import (
    Executor,
    Job,
    JobData,
    JobSpec,
    Limits,
    NextJob,
    Outcome,
    Placement,
)
from auditor.execution.local import POLL_S, JobProcess, failed, now_iso, start_hidden


@functools.cache
def _fork_context(cores: int, level: str, adapters: tuple[str, ...]) -> Any:
    return warmup.context(cores, level, adapters)


@functools.cache
def _servers(cores: int, level: str, adapters: tuple[str, ...]) -> servers.Servers:
    """This Ray worker process's warm servers, ended when it exits."""
    warm = servers.Servers(_fork_context(cores, level, adapters), start_hidden)
    atexit.register(warm.close)
    return warm


def run_task(task: JobSpec, data: JobData, limits: Limits) -> dict[str, Any]:
    """Body of a job's Ray task, on a worker: the job's process from start to outcome."""
    key = limits.budget.cores, limits.sandbox, limits.adapters
    ctx, warm = _fork_context(*key), _servers(*key)
    warm.prestart([task.system])
    warm.wait()  # before the job starts: a server's imports are not its start-up
    files = handoff.SplitFiles()  # this worker's copy of the split, for this job
    try:
        with node_cpus(limits.budget.cores) as cpus:
            folder = sandbox.job_folder(task.job_id)  # swept by the next job if this worker dies
            return JobProcess(ctx, task, files.folder("split", lambda: data), cpus, limits,
                              folder, warm).run_to_end()
    finally:
        files.remove()


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else 'no detail'}"[:300]


class RayRunner(Executor):
    """Schedules jobs as Ray tasks, at most `workers` at a time (default: the cluster's CPUs
    divided by the budget's cores). Use as a context manager: it connects and disconnects."""

    name = "ray"
    takes_address = True

    def __init__(self, limits: Limits, workers: int | None, address: str | None) -> None:
        self.limits, self.workers, self.address = limits, workers, address or "auto"

    @classmethod
    def open(cls, placement: Placement) -> RayRunner:
        return cls(placement.limits, placement.workers, placement.address)

    def __enter__(self) -> RayRunner:
        if self.address != "auto":
            self._check_address()
        try:
            import ray
        except ImportError:
            raise UsageError("--executor ray needs Ray; install it with "
                             "pip install 'automl-auditor[ray]'") from None
        self.ray = ray
        try:
            ray.init(address=self.address, logging_level=logging.WARNING, log_to_driver=False)
        except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError, ...
            raise UsageError(f"cannot connect to a Ray cluster at {self.address} "
                             f"({_first_line(exc)}); start one with `ray start --head` or give "
                             "--address HOST:PORT") from None
        budget = self.limits.budget
        cpus = int(ray.cluster_resources().get("CPU", 0))
        if cpus < budget.cores:
            ray.shutdown()
            raise UsageError(f"the Ray cluster at {self.address} has {cpus} CPUs, fewer than "
                             f"the budget's {budget.cores} cores per job; add nodes or lower "
                             "budget.cores")
        self.workers = self.workers or cpus // budget.cores
        self.remote = ray.remote(run_task).options(
            num_cpus=budget.cores, memory=budget.memory_mb * 2**20, max_retries=0)
        return self

    def _check_address(self) -> None:
        """Fail fast on an address where nothing listens (Ray would retry for minutes); a
        loopback address means a one-machine cluster, which Ray binds to 127.0.0.1 only when
        told so before it is imported."""
        host, sep, port = self.address.rpartition(":")
        if not sep or not port.isdigit():
            raise UsageError(f"--address {self.address!r} is not HOST:PORT; give e.g. "
                             "127.0.0.1:6379")
        try:
            socket.create_connection((host, int(port)), timeout=5).close()
        except OSError as exc:
            raise UsageError(f"no Ray cluster answers at {self.address} "
                             f"({exc.strerror or exc}); start one with `ray start --head` or fix "
                             "--address") from None
        if host == "localhost" or host.startswith("127."):
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

    def __exit__(self, *exc: object) -> None:
        self.ray.shutdown()

    def run(self, next_job: NextJob, on_done: Callable[[Outcome], None],
            on_start: Callable[[Job], None] | None = None) -> None:
        """Run jobs until `next_job` has none and none is in flight; a failure of `on_done`
        cancels the tasks in flight."""
        ray = self.ray
        assert self.workers is not None  # set on entering, as self.ray is
        inflight: dict[Any, tuple[Job, float, str]] = {}
        data: dict[int, Any] = {}  # one object per split, shared by its jobs
        try:
            while True:
                while len(inflight) < self.workers and (job := next_job()) is not None:
                    if id(job.split) not in data:
                        data[id(job.split)] = ray.put(job.data())
                    ref = self.remote.remote(job.task(), data[id(job.split)], self.limits)
                    inflight[ref] = job, time.monotonic(), now_iso()
                    if on_start:
                        on_start(job)
                if not inflight:
                    return
                ready, _ = ray.wait(list(inflight), num_returns=1, timeout=POLL_S * 20)
                for ref in ready:
                    job, started, started_at = inflight.pop(ref)
                    try:
                        fields = ray.get(ref)
                    except ray.exceptions.RayError as exc:
                        fields = failed(_first_line(exc), FailureClass.INFRASTRUCTURE, started,
                                        started_at)
                    on_done(Outcome(job=job, **fields))
        finally:
            for ref in inflight:
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)
