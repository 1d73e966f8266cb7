"""Was a run starved of CPU? Its CPU share is its process tree's CPU seconds over its wall
seconds times its cores; the kernel's schedstat says how long its threads waited for a CPU. A
run the budget bound that got under `SHARE` of its cores because it waited for them is starved:
a busy machine took compute from its budget, so its score is not a result to rank against runs
that had theirs."""

from __future__ import annotations

from typing import Any, Protocol

from auditor.audit.checks import Finding
from reports import plural

CHECK = "CPU share"
# a run that got less than this share of its cores' time is under-served ...
SHARE = 0.8
# ... and starved when it waited for a CPU more than this share of the time its threads were
# ready to run, or when the CPU it waited for would have brought it to `SHARE`
WAIT = 0.5


class Measured(Protocol):
    """What a stored run records of its compute (`StoredRun`, the report's `ReportRun`)."""

    @property
    def cpu_s(self) -> float | None: ...
    @property
    def cpu_wait_s(self) -> float | None: ...
    @property
    def wall_s(self) -> float: ...
    @property
    def startup_s(self) -> float | None: ...
    @property
    def budget(self) -> dict[str, Any]: ...


def budget_wall(run: Measured) -> float:
    """The wall seconds a run spent in its budget: its wall clock less its start-up."""
    return run.wall_s - (run.startup_s or 0.0)


def cpu_share(run: Measured) -> float | None:
    """CPU seconds of the run's process tree / (wall × cores), start-up in both; None when
    not measured."""
    if run.cpu_s is None or run.wall_s <= 0:
        return None
    return run.cpu_s / (run.wall_s * run.budget.get("cores", 1))


def cpu_wait(run: Measured) -> float | None:
    """The share of the time its threads were ready to run that a run waited for a CPU."""
    if run.cpu_wait_s is None or run.cpu_s is None or run.cpu_wait_s + run.cpu_s <= 0:
        return None
    return run.cpu_wait_s / (run.cpu_wait_s + run.cpu_s)


def is_starved(run: Measured) -> bool:
    """Ran through at least half its wall budget (the budget bound it: a run that ended early
    finds the same on a quiet machine), got under `SHARE` of its cores, and waited for them:
    more than `WAIT` of its ready time, or enough that the CPU it waited for would have brought
    it to `SHARE`. A run whose wait was not measured is not judged."""
    share, wait = cpu_share(run), cpu_wait(run)
    if share is None or wait is None or share >= SHARE:
        return False
    if budget_wall(run) < 0.5 * run.budget["wall_seconds"]:
        return False
    capacity = run.wall_s * run.budget.get("cores", 1)
    return wait > WAIT or (run.cpu_s or 0.0) + (run.cpu_wait_s or 0.0) >= SHARE * capacity


def finding(run: Measured) -> list[Finding]:
    """The audit's CPU-share check of one run; none when its CPU time was not measured."""
    share, wait = cpu_share(run), cpu_wait(run)
    if share is None:
        return []
    cores = plural(run.budget.get("cores", 1), "core")
    got = f"{100 * share:.0f} % of its {cores}' time"
    detail = {"cpu_share": share, "cpu_wait": wait, "budget_wall_s": budget_wall(run)}
    if wait is None:
        return [Finding(CHECK, False, f"{got}; its wait for a CPU was not measured, so whether "
                        "it was starved is not judged", {**detail, "verdict": "not judged"})]
    waited = f"waited for a CPU {100 * wait:.0f} % of the time its threads were ready"
    if is_starved(run):
        return [Finding(CHECK, True, f"starved: {got} through {budget_wall(run):.0f} s of its "
                        f"{run.budget['wall_seconds']:g} s wall budget; {waited}. Not a result: "
                        "left out of the report's ranking and comparisons",
                        {**detail, "verdict": "starved"})]
    return [Finding(CHECK, False, f"{got}; {waited}: not starved", {**detail, "verdict": "ok"})]
