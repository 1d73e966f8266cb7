"""Budget enforcement: limits applied inside a job's process, measurements taken from outside.

The harness never trusts a system's own time limit. Inside the child: thread caps (env vars and
threadpoolctl), CPU affinity, and death with the parent. Outside: the parent samples the child's
process tree (RSS, CPU seconds), sends SIGTERM at the budget and SIGKILL after the grace period,
and kills on the memory limit.
"""

from __future__ import annotations

import ctypes
import os
import signal
from dataclasses import dataclass, field
from typing import Any

import psutil

from adapters.contract import Budget
from auditor.errors import UsageError

THREAD_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
PR_SET_PDEATHSIG = 1


def parse_budget(raw: Any) -> Budget:
    """Budget from a suite's `budget` mapping; names the offending field on bad input."""
    if not isinstance(raw, dict):
        raise UsageError("suite field 'budget' must be a mapping with wall_seconds, cores, memory_mb")
    known = {"wall_seconds", "cores", "memory_mb", "max_trials"}
    unknown = set(raw) - known
    if unknown:
        raise UsageError(
            f"suite field 'budget.{sorted(unknown)[0]}' is unknown; use {', '.join(sorted(known))}"
        )
    if "wall_seconds" not in raw:
        raise UsageError("suite field 'budget.wall_seconds' is missing; give seconds per job, e.g. 30")
    values = {}
    for name, kind in (("wall_seconds", float), ("cores", int), ("memory_mb", int),
                       ("max_trials", int)):
        if name not in raw or (name == "max_trials" and raw[name] is None):
            continue
        value = raw[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0 or (
            kind is int and value != int(value)
        ):
            raise UsageError(
                f"suite field 'budget.{name}' must be a positive {'number' if kind is float else 'integer'}"
                f", got {value!r}"
            )
        values[name] = kind(value)
    budget = Budget(**values)
    if budget.cores > (os.cpu_count() or 1):
        raise UsageError(
            f"suite field 'budget.cores' is {budget.cores} but this machine has "
            f"{os.cpu_count()} cores; lower it"
        )
    return budget


def thread_env(cores: int) -> dict[str, str]:
    return {var: str(cores) for var in THREAD_VARS}


def cpu_slots(cores: int, workers: int) -> list[list[int]]:
    """CPU sets for concurrent jobs: disjoint where the machine allows, wrapping where it does not."""
    cpus = sorted(os.sched_getaffinity(0))
    return [[cpus[(w * cores + i) % len(cpus)] for i in range(cores)] for w in range(workers)]


def confine(cores: int, cpus: list[int]) -> None:
    """Called first thing in a job's process."""
    os.environ.update(thread_env(cores))
    try:
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    os.sched_setaffinity(0, cpus)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=cores)


@dataclass
class Usage:
    """What the parent measured of a job's process tree."""

    peak_rss_mb: float = 0.0
    cpu_s: float = 0.0
    samples: int = 0
    _seen: dict[int, float] = field(default_factory=dict)

    def sample(self, proc: psutil.Process) -> float:
        """Take one sample; return current tree RSS in MB (0 when the process is gone)."""
        rss = 0
        try:
            tree = [proc, *proc.children(recursive=True)]
        except psutil.Error:
            return 0.0
        for p in tree:
            try:
                with p.oneshot():
                    rss += p.memory_info().rss
                    t = p.cpu_times()
                    self._seen[p.pid] = t.user + t.system
            except psutil.Error:
                continue
        self.cpu_s = sum(self._seen.values())
        mb = rss / 2**20
        self.peak_rss_mb = max(self.peak_rss_mb, mb)
        self.samples += 1
        return mb
