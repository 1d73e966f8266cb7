"""Compute accounting and anytime trajectories, from a run's trial history.

Full-fidelity equivalents (FFE) add up each evaluation's fidelity, so a Hyperband run's many cheap
partial evaluations and a random search's full ones are counted in the same unit. The anytime
trajectory is the incumbent's validation score (best complete evaluation so far) after each
evaluation, against wall time, cumulative CPU seconds and evaluation count.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.contract import Trial
from adapters.metrics import Metric


@dataclass(frozen=True)
class Compute:
    cpu_s: float | None  # summed over evaluations; None when the system does not report it
    full_fidelity_evals: float


def compute(trials: list[Trial]) -> Compute:
    cpu = [t.cpu_s for t in trials if t.cpu_s is not None]
    return Compute(float(sum(cpu)) if cpu else None, float(sum(t.fidelity for t in trials)))


def trajectory(trials: list[Trial], metric: Metric) -> list[list[float]]:
    """Rows [end seconds, cumulative CPU seconds, evaluations so far, incumbent score], one per
    evaluation that improved the incumbent, in order of finishing."""
    rows: list[list[float]] = []
    best: float | None = None
    cpu = 0.0
    for n, t in enumerate(sorted(trials, key=lambda t: t.end), start=1):
        cpu += t.cpu_s or 0.0
        if t.status == "complete" and t.score is not None and (
                best is None or metric.better(t.score, best)):
            best = t.score
            rows.append([t.end, cpu, float(n), best])
    return rows
