"""Compute accounting and anytime trajectories, from a run's trial history.

Full-fidelity equivalents (FFE) add up each evaluation's fidelity, so a Hyperband run's many cheap
partial evaluations and a random search's full ones are counted in the same unit. The anytime
trajectory is the incumbent's validation score (best complete evaluation so far) after each
evaluation, against wall time, cumulative CPU seconds and evaluation count. A system that does
not report each evaluation's CPU (a third-party system) is measured by the harness instead: the
CPU seconds of its job's whole process tree since the budget started, sampled every 0.5 s
(`cpu_clock`), at each evaluation's end.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass

from adapters.contract import Trial
from adapters.metrics import Metric


@dataclass(frozen=True)
class Compute:
    cpu_s: float | None  # summed over evaluations; None when the system does not report it
    full_fidelity_evals: float


# CPU seconds of a job's process tree at a time on its budget's clock
TreeCPU = Callable[[float], float]


def tree_cpu(clock: list[list[float]]) -> TreeCPU | None:
    """The process tree's CPU seconds at any time, from the harness's samples (rows [seconds,
    CPU seconds] since the budget's start), interpolated between them; None without samples."""
    if not clock:
        return None
    times, cpus = [0.0, *(r[0] for r in clock)], [0.0, *(r[1] for r in clock)]

    def at(t: float) -> float:
        i = bisect.bisect_left(times, t)
        if i >= len(times):
            return cpus[-1]
        if i == 0 or times[i] == t:
            return cpus[i]
        t0, t1 = times[i - 1], times[i]
        return cpus[i - 1] + (cpus[i] - cpus[i - 1]) * (t - t0) / (t1 - t0)

    return at


def _measured(trials: list[Trial], tree: TreeCPU | None) -> TreeCPU | None:
    """The harness's CPU clock, where the system did not report each evaluation's CPU."""
    return tree if trials and any(t.cpu_s is None for t in trials) else None


def compute(trials: list[Trial], tree: TreeCPU | None = None) -> Compute:
    """Compute spent: the evaluations' own CPU seconds summed, or (`tree`, where they did not
    report it) the process tree's CPU from the budget's start to the last evaluation's end."""
    ffe = float(sum(t.fidelity for t in trials))
    if (measured := _measured(trials, tree)) is not None:
        return Compute(measured(max(t.end for t in trials)), ffe)
    cpu = [t.cpu_s for t in trials if t.cpu_s is not None]
    return Compute(float(sum(cpu)) if cpu else None, ffe)


def trajectory(trials: list[Trial], metric: Metric, tree: TreeCPU | None = None
               ) -> list[list[float]]:
    """Rows [end seconds, cumulative CPU seconds, evaluations so far, incumbent score], one per
    evaluation that improved the incumbent, in order of finishing; the CPU from `tree` where the
    system did not report each evaluation's."""
    rows: list[list[float]] = []
    best: float | None = None
    cpu = 0.0
    measured = _measured(trials, tree)
    for n, t in enumerate(sorted(trials, key=lambda t: t.end), start=1):
        cpu = measured(t.end) if measured is not None else cpu + (t.cpu_s or 0.0)
        if t.status == "complete" and t.score is not None and (
                best is None or metric.better(t.score, best)):
            best = t.score
            rows.append([t.end, cpu, float(n), best])
    return rows
