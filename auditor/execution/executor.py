"""Where a suite's jobs run. An `Executor` takes jobs from `next_job` while it has room, hands each
`Outcome` to `on_done`, and is used as a context manager (it connects on enter and lets go on
exit). A `Job` travels to its process as a `JobSpec` and its `JobData`. A new executor is a
subclass whose import path is added to `EXECUTORS`; `auditor run --executor NAME` picks it."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from auditor.config.errors import UsageError

if TYPE_CHECKING:  # the command line imports this module before numpy and pandas are needed
    import numpy as np
    import pandas as pd

    from adapters.contract import Budget, RunResult
    from auditor.config.suite import SystemSpec
    from auditor.data.split import SealedSplit

EXECUTORS: dict[str, str] = {
    "local": "auditor.execution.local:Runner",
    "ray": "auditor.execution.ray_cluster:RayRunner",
}


@dataclass(frozen=True)
class Job:
    job_id: str
    split: SealedSplit
    system: SystemSpec
    metric: str
    settings: dict[str, str] = field(default_factory=dict)  # for the job's process

    @property
    def seed(self) -> int:
        return self.split.seed

    def task(self) -> JobSpec:
        d = self.split.dataset
        return JobSpec(self.job_id, self.system.system, self.system.options, self.seed, self.metric,
                    d.task_type, d.classes, len(self.split.holdout_idx), self.settings,
                    self.system.network)

    def data(self) -> JobData:
        s = self.split
        return s.search_X, s.search_y, s.holdout_X


# A split as its jobs get it (`auditor.execution.handoff`): search rows, labels, holdout features
JobData = tuple["pd.DataFrame", "np.ndarray", "pd.DataFrame"]


@dataclass(frozen=True)
class JobSpec:
    """A job as its process sees it: no holdout labels, so it can travel to another machine."""

    job_id: str
    system: str
    options: dict[str, Any]
    seed: int
    metric: str
    task_type: str
    classes: list[str]
    n_holdout: int
    # the command's AUDITOR_* settings (e.g. --envs); the fork server may predate them
    settings: dict[str, str]
    network: bool = False  # the suite lets this system use the network


@dataclass(frozen=True)
class Limits:
    """What every job of a suite gets: the budget, the grace period, the harness environment."""

    budget: Budget
    grace_s: float
    environment: dict[str, Any]
    sandbox: str = "auto"  # strict, auto or off (auditor.execution.sandbox)
    # the modules of the suite's adapters, imported once by the fork server (empty: every
    # built-in searcher's)
    adapters: tuple[str, ...] = ()


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
    # what the harness changed in the system's answer before storing it (execution.outputs)
    notes: list[str] = field(default_factory=list)
    # a failed job's last lines of traceback and stderr
    failure_detail: str | None = None
    isolation: str | None = None  # how the job was sandboxed (Isolation.label)
    cpu_wait_s: float | None = None  # runnable but waiting for a CPU (Usage.wait_s)
    startup_s: float | None = None  # before its budget started (Startup); None: never began
    # the process tree's CPU from the budget's start: rows [seconds, CPU seconds] (Usage)
    cpu_clock: list[list[float]] = field(default_factory=list)


# Asked for the next job whenever a slot is free; None: nothing to start now
NextJob = Callable[[], Job | None]


@dataclass(frozen=True)
class Placement:
    """What an executor is opened with: the suite's limits, the jobs to run at a time (None: the
    executor's default), this runner's folder for job folders, and a cluster address."""

    limits: Limits
    workers: int | None
    work: Path
    address: str | None = None


class Executor(ABC):
    """Runs jobs in isolated, budget-enforced processes, at most `workers` at a time."""

    name: ClassVar[str]
    takes_address: ClassVar[bool] = False  # runs on a cluster named by `--address`
    workers: int | None

    @classmethod
    @abstractmethod
    def open(cls, placement: Placement) -> Executor: ...

    @classmethod
    def default_workers(cls, workers: int | None, cores: int) -> int | None:
        """The jobs to run at a time when the command line gives `workers` (None: not given)."""
        return workers

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def prepare(self, systems: list[str], say: Callable[[str], None]) -> None:
        """Before the first job: start what the jobs of `systems` share (none by default),
        telling `say` what it waits for."""
        return None

    @abstractmethod
    def run(self, next_job: NextJob, on_done: Callable[[Outcome], None],
            on_start: Callable[[Job], None] | None = None) -> None:
        """Run jobs until `next_job` has none and none is running."""


def executor_class(name: str) -> type[Executor]:
    """The registered executor called `name`."""
    if name not in EXECUTORS:
        raise UsageError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")
    module, _, cls = EXECUTORS[name].partition(":")
    return getattr(importlib.import_module(module), cls)
