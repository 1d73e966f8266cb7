"""Where a suite's jobs run. An `Executor` takes jobs from `next_job` while it has room, hands
each `Outcome` to `on_done`, and is used as a context manager (it connects on enter and lets go
on exit). A new executor is a subclass whose import path is added to `EXECUTORS`; `auditor run
--executor NAME` picks it."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from auditor.config.errors import UsageError

if TYPE_CHECKING:
    from auditor.execution.local import Job, Limits, NextJob, Outcome

EXECUTORS: dict[str, str] = {
    "local": "auditor.execution.local:Runner",
    "ray": "auditor.execution.ray_cluster:RayRunner",
}


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
