"""Budget enforcement: limits applied inside a job's process, measurements taken from outside.

The harness never trusts a system's own time limit. Inside the child: thread caps (env vars and
threadpoolctl), CPU affinity, and death with the parent. Outside: the parent samples the child's
process tree (RSS, CPU seconds), sends SIGTERM at the budget and SIGKILL after the grace period,
and kills on the memory limit; where the machine allows, a cgroup per job does the measuring and
the limiting instead (`auditor.execution.cgroups`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
from dataclasses import dataclass, field

import psutil

THREAD_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
PR_SET_PDEATHSIG = 1


def thread_env(cores: int) -> dict[str, str]:
    return {var: str(cores) for var in THREAD_VARS}


def cpu_slots(cores: int, workers: int) -> list[list[int]]:
    """CPU sets for concurrent jobs: disjoint where the machine allows, wrapping otherwise."""
    cpus = sorted(os.sched_getaffinity(0))
    return [[cpus[(w * cores + i) % len(cpus)] for i in range(cores)] for w in range(workers)]


def confine(cores: int, cpus: list[int]) -> None:
    """Called first thing in a job's process."""
    os.environ.update(thread_env(cores))
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
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
