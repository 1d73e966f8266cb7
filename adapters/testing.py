"""Check an adapter against the contract on small real data, as scikit-learn's `check_estimator`
does for estimators:

    from adapters.testing import check_adapter
    check_adapter(MySystem)                      # or check_adapter("package.module:MySystem")

It checks the declared `Capabilities` (tasks, metrics and their `metric_map`, search kind, the
`cv_folds` option), then runs the adapter under a trial budget on scikit-learn's bundled data for
each task type it claims, once per metric it claims, and checks what it hands back: predictions,
reported score, trials. A broken part raises `AdapterCheckFailed` naming it.
"""

from __future__ import annotations

import functools
import inspect
import math
import time
from typing import Any, cast, get_args

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.model_selection import train_test_split

from adapters import registry
from adapters.contract import (
    TASK_TYPES,
    Adapter,
    Budget,
    RunContext,
    RunResult,
    SearchData,
    SearchKind,
    SearchSpace,
    TaskType,
    prediction_problem,
)
from adapters.metrics import METRICS

LOADERS = {"binary": load_breast_cancer, "multiclass": load_wine, "regression": load_diabetes}
TRIAL_STATUSES = {"complete", "partial", "pruned", "failed", "stopped"}


class AdapterCheckFailed(AssertionError):
    """An adapter breaks the contract; the message names the adapter and the failing part."""


def _require(ok: object, where: str, problem: str) -> None:
    if not ok:
        raise AdapterCheckFailed(f"{where}: {problem}")


def claimed_metrics(cls: type[Adapter], task: TaskType) -> list[str]:
    """The harness metrics the adapter claims for `task`."""
    claimed = cls.capabilities.metrics
    return [m for m, v in METRICS.items()
            if task in v.tasks and (claimed is None or m in claimed)]


def check_capabilities(cls: type[Adapter]) -> None:
    """The declared capabilities are well formed and consistent with the class."""
    where = f"{getattr(cls, '__name__', cls)!r}"
    _require(isinstance(cls, type) and issubclass(cls, Adapter), where,
             "is not a subclass of adapters.contract.Adapter")
    _require(isinstance(getattr(cls, "name", None), str) and cls.name, where,
             "declares no `name`")
    caps, where = cls.capabilities, f"{cls.name} capabilities"
    _require(caps.tasks and set(caps.tasks) <= set(TASK_TYPES), where,
             f"tasks {caps.tasks!r} must be a non-empty subset of {TASK_TYPES}")
    _require(caps.search is None or caps.search in get_args(SearchKind), where,
             f"search {caps.search!r} must be one of {get_args(SearchKind)} or None")
    _require(math.isfinite(caps.min_wall_seconds) and caps.min_wall_seconds >= 0, where,
             f"min_wall_seconds {caps.min_wall_seconds!r} must be a finite number >= 0")
    for metric in caps.metrics or ():
        _require(metric in METRICS, where,
                 f"claims unknown metric {metric!r}; known: {', '.join(METRICS)}")
        _require(set(METRICS[metric].tasks) & set(caps.tasks), where,
                 f"claims metric {metric!r}, which fits none of its tasks {caps.tasks}")
    for task in caps.tasks:
        _require(claimed_metrics(cls, task), where, f"claims no metric for {task} tasks")
        if cls.metric_map is None:
            continue
        for metric in claimed_metrics(cls, task):
            _require(metric in cls.metric_map, where,
                     f"claims metric {metric!r} but its metric_map does not map it; add it to "
                     "metric_map or leave it out of capabilities.metrics")
    takes = "cv_folds" in inspect.signature(cls).parameters
    _require(takes == caps.cv_folds, where,
             f"cv_folds={caps.cv_folds} but the constructor "
             f"{'takes' if takes else 'does not take'} a cv_folds option")


def check_space(space: SearchSpace, where: str) -> None:
    """A search space with unique names, valid ranges, defaults and conditions."""
    names = [hp.name for hp in space.hyperparameters]
    _require(space.name and names and len(set(names)) == len(names), where,
             "the search space needs a name and uniquely named hyperparameters")
    for i, hp in enumerate(space.hyperparameters):
        if hp.kind == "categorical":
            ok = hp.choices and (hp.default is None or hp.default in hp.choices)
        else:
            low, high = cast(float, hp.low), cast(float, hp.high)  # unset: TypeError below
            ok = (hp.kind in {"int", "float"} and low < high and (low > 0 or not hp.log)
                  and (hp.default is None or low <= hp.default <= high))
        _require(ok and (hp.condition is None or hp.condition[0] in names[:i]), where,
                 f"hyperparameter {hp.name!r} is malformed: {hp}")


@functools.cache
def dataset(task: TaskType, metric: str) -> tuple[SearchData, np.ndarray]:
    """Search data and holdout labels for `task`: a categorical column with NaN (and, in the
    holdout, an unseen category) and NaN in a numeric column."""
    X, y = LOADERS[task](return_X_y=True, as_frame=True)
    X = X.astype("float64")
    rng = np.random.default_rng(0)
    first = X.columns[0]
    band = pd.qcut(X[first], 3, labels=["low", "mid", "high"]).astype(object)
    band[rng.random(len(X)) < 0.1] = np.nan
    X["band"] = band
    X.loc[rng.random(len(X)) < 0.05, first] = np.nan
    y = y.to_numpy() if task == "regression" else y.to_numpy().astype(int)
    X_s, X_h, y_s, y_h = train_test_split(X, y, test_size=0.3, random_state=0,
                                          stratify=None if task == "regression" else y)
    X_h = X_h.copy()
    X_h.iloc[:3, X_h.columns.get_loc("band")] = "unseen"
    X_s["band"], X_h["band"] = X_s["band"].astype("category"), X_h["band"].astype("category")
    classes = [] if task == "regression" else sorted(np.unique(y).tolist())
    return SearchData(X_s, y_s, X_h, task, metric, classes), y_h


def check_result(adapter: Adapter, data: SearchData, result: object, elapsed: float) -> None:
    """What one run handed back honours the contract; `elapsed` is the run's wall time."""
    where = f"{adapter.name} on {data.task_type} ({data.metric})"
    if not isinstance(result, RunResult):
        raise AdapterCheckFailed(f"{where}: run() returned {type(result).__name__}, not a "
                                 "RunResult")
    p = result.predictions
    _require(isinstance(p, np.ndarray), where, "predictions are not a numpy array")
    problem = prediction_problem(np.asarray(p, dtype=float), len(data.X_holdout), data.task_type,
                                 len(data.classes))
    _require(problem is None, where, f"invalid predictions: {problem}")
    score, (low, high) = result.reported_score, METRICS[data.metric].bounds
    _require(isinstance(score, int | float) and math.isfinite(score) and low <= score <= high,
             where, f"reported score {score!r} is not a finite {data.metric} in [{low}, {high}]")
    _require(isinstance(result.reported_on, str) and result.reported_on.strip(), where,
             "reported_on does not say what the score was measured on")
    _require(isinstance(result.n_configs, int) and result.n_configs >= 1, where,
             f"n_configs {result.n_configs!r} is not an integer >= 1")
    space = adapter.search_space()
    if space is not None:
        check_space(space, where)
        extra = set(result.best_config) - {hp.name for hp in space.hyperparameters}
        _require(not extra, where, f"best_config has keys outside the search space: {extra}")
    numbers = [t.number for t in result.trials]
    _require(len(set(numbers)) == len(numbers), where, "trial numbers are not unique")
    if result.trials:
        _require(result.n_configs <= sum(t.status != "failed" for t in result.trials), where,
                 f"n_configs {result.n_configs} exceeds the trials that did not fail")
    for t in result.trials:
        what = f"{where}, trial {t.number}"
        _require(t.status in TRIAL_STATUSES, what, f"status {t.status!r} is not one of "
                 f"{sorted(TRIAL_STATUSES)}")
        _require(0 <= t.start <= t.end <= elapsed, what,
                 f"times {t.start}..{t.end} are not within the run's 0..{elapsed:.3g} s")
        _require(0 < t.fidelity <= 1, what, f"fidelity {t.fidelity} is not in (0, 1]")
        _require(t.score is None or math.isfinite(t.score), what, f"score {t.score} is not finite")


def check_adapter(cls: type[Adapter] | str, options: dict[str, Any] | None = None,
                  max_trials: int = 3, wall_seconds: float = 600.0) -> None:
    """Check the adapter class `cls` (or a registered name or `module:Class` path): its
    capabilities, then one run per claimed task and metric under `max_trials` trials, with
    `wall_seconds` as a cap. A CV adapter runs with 2 folds unless `options` say otherwise.
    Raises `AdapterCheckFailed` naming the failing part."""
    if isinstance(cls, str):
        try:
            cls = registry.adapter_class(cls)
        except registry.UnknownSystem as exc:
            raise AdapterCheckFailed(str(exc)) from None
    check_capabilities(cls)
    options = dict(options or {})
    if cls.capabilities.cv_folds:
        options.setdefault("cv_folds", 2)
    try:
        adapter = cls(**options)
    except Exception as exc:
        raise AdapterCheckFailed(f"{cls.name}: the constructor raised {type(exc).__name__}: "
                                 f"{exc} (options {options})") from exc
    version = adapter.version()
    _require(isinstance(version, str) and version, cls.name, "version() gave no version")
    startup = adapter.n_startup_trials
    _require(startup is None or (isinstance(startup, int) and startup >= 0), cls.name,
             f"n_startup_trials {startup!r} is not None or an integer >= 0")
    budget = Budget(wall_seconds, cores=1, max_trials=max_trials)
    for task in cls.capabilities.tasks:
        for metric in claimed_metrics(cls, task):
            data, _ = dataset(task, metric)
            started = time.monotonic()
            ctx = RunContext(started + wall_seconds, seed=0, budget=budget)
            try:
                result = adapter.run(data, ctx)
            except Exception as exc:
                raise AdapterCheckFailed(f"{cls.name} on {task} ({metric}): run() raised "
                                         f"{type(exc).__name__}: {exc}") from exc
            check_result(adapter, data, result, time.monotonic() - started)
