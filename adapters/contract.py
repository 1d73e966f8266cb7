"""The adapter contract: what a system receives and what it must hand back.

A system gets the search rows (features and labels), the holdout *features* only, a budget,
a seed and a metric. It returns holdout predictions plus its own account of the search. The
harness, not the system, scores the holdout. Everything here is plain data, so that it crosses
process boundaries.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from adapters.failures import FailureClass

TaskType = Literal["binary", "multiclass", "regression"]
HPKind = Literal["float", "int", "categorical"]
# how a system chooses configurations: one fixed configuration, random draws, a model of the
# scores, or a strategy of its own (portfolios, meta-learning, ensembling)
SearchKind = Literal["fixed", "random", "model-based", "own-strategy"]
TASK_TYPES: tuple[TaskType, ...] = ("binary", "multiclass", "regression")
# How far a row of class probabilities may sum from 1
PROBABILITY_TOLERANCE = 1e-4
DISK_MB = 2048  # default disk budget of a job folder
# a system's start-up (its imports, its data, a server it needs) is not charged to its budget up
# to this many seconds; the harness waits this long for it before the budget's clock runs anyway
STARTUP_CAP_S = 120.0


@dataclass(frozen=True)
class Budget:
    """One budget shared by every system in a suite (matched budgets)."""

    wall_seconds: float
    cores: int = 1
    memory_mb: int = 4096
    max_trials: int | None = None
    disk_mb: int = DISK_MB  # the job folder's disk; past it the run fails as `disk`

    def as_dict(self) -> dict[str, Any]:
        """The budget's fields; `disk_mb` only when not the default, so that job ids stay."""
        out: dict[str, Any] = {
            "wall_seconds": self.wall_seconds,
            "cores": self.cores,
            "memory_mb": self.memory_mb,
            "max_trials": self.max_trials,
        }
        return out if self.disk_mb == DISK_MB else {**out, "disk_mb": self.disk_mb}


@dataclass(frozen=True)
class Hyperparameter:
    """One dimension of a search space.

    `condition` is (parent name, parent values that make this hyperparameter active)."""

    name: str
    kind: HPKind
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()
    log: bool = False
    default: Any = None
    condition: tuple[str, tuple[Any, ...]] | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.kind, "log": self.log}
        if self.kind == "categorical":
            out["choices"] = list(self.choices)
        else:
            out["range"] = [self.low, self.high]
        if self.default is not None:
            out["default"] = self.default
        if self.condition is not None:
            out["condition"] = {"parent": self.condition[0], "values": list(self.condition[1])}
        return out


@dataclass(frozen=True)
class SearchSpace:
    """A named, documented set of hyperparameters."""

    name: str
    hyperparameters: tuple[Hyperparameter, ...]
    description: str = ""

    @property
    def dimension(self) -> int:
        return len(self.hyperparameters)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "dimension": self.dimension,
            "hyperparameters": [hp.as_dict() for hp in self.hyperparameters],
        }


@dataclass
class SearchData:
    """What a system may see: search rows with labels, holdout rows without."""

    X: pd.DataFrame
    y: np.ndarray
    X_holdout: pd.DataFrame
    task_type: TaskType
    metric: str
    classes: list[Any] = field(default_factory=list)

    @property
    def categorical_columns(self) -> list[str]:
        return [c for c in self.X.columns if isinstance(self.X[c].dtype, pd.CategoricalDtype)]


def place_probabilities(proba: Any, codes: Any, n_classes: int) -> np.ndarray:
    """Probabilities (n, n_classes) in the harness's class order, from a model's columns that
    belong to the class codes `codes`; a class the model never saw keeps probability 0."""
    proba = np.asarray(proba, dtype=np.float64)
    placed = np.zeros((len(proba), n_classes))
    placed[:, np.asarray(codes, dtype=int)] = proba
    return placed


def prediction_shape(n: int, task_type: str, n_classes: int) -> tuple[int, ...]:
    """(n,) values for regression, else (n, n_classes) probabilities."""
    return (n,) if task_type == "regression" else (n, n_classes)


def prediction_problem(preds: np.ndarray, n: int, task_type: str, n_classes: int) -> str | None:
    """Why holdout predictions are unusable, or None when they are fine: (n,) values for
    regression, else (n, n_classes) probabilities in [0, 1] with rows summing to 1."""
    want = prediction_shape(n, task_type, n_classes)
    if preds.shape != want:
        return f"predictions have shape {preds.shape}, expected {want}"
    if not np.isfinite(preds).all():
        return f"{int((~np.isfinite(preds)).sum())} predictions are NaN or infinite"
    if task_type != "regression":
        if preds.min() < 0 or preds.max() > 1:
            return "probabilities outside [0, 1]"
        worst = float(np.abs(preds.sum(axis=1) - 1).max())
        if worst > PROBABILITY_TOLERANCE:
            return f"probabilities do not sum to 1 (off by up to {worst:.3g})"
    return None


@dataclass
class Trial:
    """One evaluation of a configuration. Times are seconds since the run started; `fidelity` is
    the fraction of the full training effort (1.0 = full); `status` is complete (full fidelity),
    partial (lower fidelity, promoted), pruned (lower fidelity, stopped), failed or stopped (cut
    by the deadline)."""

    number: int
    config: dict[str, Any]
    score: float | None
    start: float
    end: float
    fidelity: float = 1.0
    status: str = "complete"
    cpu_s: float | None = None


@dataclass
class RunResult:
    """A system's answer. `predictions` are probabilities (n, n_classes) or values (n,)."""

    predictions: np.ndarray
    reported_score: float | None
    reported_on: str
    n_configs: int
    best_config: dict[str, Any] = field(default_factory=dict)
    trials: list[Trial] = field(default_factory=list)
    model_description: str = ""
    # what the system searched, when it says so itself (counts of hyperparameters, conditions,
    # or a statement that it uses a fixed portfolio); otherwise the adapter's `search_space()`
    search_space: dict[str, Any] | None = None
    # the environment the system ran in: python, version, sha256 of its `pip freeze`
    environment: dict[str, Any] = field(default_factory=dict)
    # what the reported score was validated on: its per-fold CV scores, or the number of rows
    # of the system's internal holdout; they give the reported score's own uncertainty
    fold_scores: list[float] = field(default_factory=list)
    validation_rows: int | None = None


class SystemFailure(Exception):
    """A system failed in a known way; `failure_class` goes into the store, `detail` (its
    evidence: output lines) joins the traceback."""

    failure_class: str = FailureClass.CRASH
    detail = ""


class BudgetFailure(SystemFailure):
    """Nothing usable within the budget: no configuration finished, or the budget is below what
    the system needs; the message says what it needs."""

    failure_class = FailureClass.BUDGET


class SetupFailure(SystemFailure):
    """The system's environment is missing or broken; the message says how to fix it."""

    failure_class = FailureClass.SETUP


class RunContext:
    """Deadline and stop signal for a run. Adapters poll `should_stop()` between units of work."""

    def __init__(self, deadline: float, seed: int, budget: Budget,
                 job_started: float | None = None,
                 on_begin: Callable[[float], None] | None = None) -> None:
        self.deadline = deadline  # time.monotonic() value
        self.seed = seed
        self.budget = budget
        self.started = time.monotonic()
        # when the job started (time.monotonic()); None once `begin` has moved the deadline
        self.job_started: float | None = self.started if job_started is None else job_started
        self.on_begin = on_begin
        self.stop_requested = False

    def begin(self) -> float:
        """The system's first line of work, after its imports, its data and any server it needs:
        its budget starts now. The deadline moves on by the start-up since the job started (at
        most `STARTUP_CAP_S`), `elapsed()` counts from now, and the harness is told. Returns the
        start-up in seconds; a second call moves nothing."""
        if self.job_started is None:
            return 0.0
        now = time.monotonic()
        startup = min(max(0.0, now - self.job_started), STARTUP_CAP_S)
        self.deadline += startup
        self.started, self.job_started = now, None
        if self.on_begin is not None:
            self.on_begin(startup)
        return startup

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def should_stop(self, reserve: float = 0.0) -> bool:
        return self.stop_requested or self.remaining() <= reserve

    def stop_on_sigterm(self) -> None:
        """SIGTERM sets `stop_requested` in this process only. Processes forked from it inherit
        Python's handlers and must still end on SIGTERM, or they outlive a `terminate()` from
        the system's own code and block their parent's exit."""
        owner = os.getpid()

        def handler(signum: int, frame: object) -> None:
            if os.getpid() == owner:
                self.stop_requested = True
            else:
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)

        signal.signal(signal.SIGTERM, handler)


@dataclass(frozen=True)
class Capabilities:
    """What an adapter declares about itself; the harness reads these instead of guessing from
    names. `metrics` None: every harness metric of its tasks (scored with `adapters.metrics`);
    `search` None: a searcher of unknown kind (judged as random search)."""

    tasks: tuple[TaskType, ...] = TASK_TYPES
    metrics: tuple[str, ...] | None = None
    search: SearchKind | None = None
    min_wall_seconds: float = 0.0  # below this the system cannot do a search at all
    cv_folds: bool = False  # takes the suite's `cv_folds` as an option
    title: str = ""  # how findings name the system (default: its `name`)


class Adapter:
    """Base of every system and searcher. `options` come from the suite file. Subclasses set
    `name` and `capabilities`, and implement `version` and `run`."""

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities] = Capabilities()
    # the system's own name for each harness metric it claims, when it translates them
    metric_map: ClassVar[Mapping[str, Any] | None] = None
    # random trials a model-based searcher draws before its model proposes (its own setting)
    n_startup_trials: int | None = None
    # the adapter calls `RunContext.begin` itself, once its system has started (a system in its
    # own environment); otherwise the harness calls it just before `run`
    begins_itself: ClassVar[bool] = False

    def version(self) -> str:
        raise NotImplementedError

    def search_space(self) -> SearchSpace | None:
        return None

    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        raise NotImplementedError
