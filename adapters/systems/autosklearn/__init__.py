"""auto-sklearn 0.15 in its own Python 3.9 environment (requirement files in this folder).

Budget mapping: `time_left_for_this_task` = time left minus a reserve for loading the final
ensemble, prediction and hand-back (auto-sklearn refuses less than 30 s, hence `min_wall_seconds`);
`per_run_time_limit` = a tenth of that, but at least a third of it up to 30 s; `memory_limit` (an
address-space cap per evaluation, see `_memory_limit`); `n_jobs` = cores; `runcount_limit` =
max_trials, with the meta-learning warm start shrunk to fit inside it.
Reported score: the final ensemble's score on auto-sklearn's internal holdout, the rows that also
selected the ensemble, else the best single model's score there. Trials come from SMAC's
runhistory. This module runs on Python 3.9.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from adapters.contract import (
    Budget,
    BudgetFailure,
    Capabilities,
    RunContext,
    RunResult,
    SearchData,
    Trial,
    place_probabilities,
)
from adapters.systems.environments import EnvSpec
from adapters.systems.external import ExternalSystem

# harness metric -> auto-sklearn scorer
METRICS = {
    "roc_auc": "roc_auc",
    "log_loss": "log_loss",
    "balanced_accuracy": "balanced_accuracy",
    "rmse": "root_mean_squared_error",
    "r2": "r2",
}
OPTIONS = ("include", "ensemble_class", "initial_configurations_via_metalearning")
HOLDOUT = "auto-sklearn's internal holdout (33% of search rows)"
MIN_TASK_S = 30  # auto-sklearn's own floor for time_left_for_this_task
HARNESS_MB = 768  # resident memory of the job process, auto-sklearn's main process and helpers
MIN_SHARE_MB = 256


class AutoSklearn(ExternalSystem):
    """Options: `include` (e.g. {"classifier": ["random_forest"]}), `ensemble_class` (null for
    the single best model), `initial_configurations_via_metalearning` (0 for no warm start)."""

    name = "auto-sklearn"
    env = EnvSpec("auto-sklearn", "3.9",
                  ("autosklearn/requirements-base.txt",
                   "autosklearn/requirements-no-build-isolation.txt"),
                  "import autosklearn; print(autosklearn.__version__)")
    module = "adapters.systems.autosklearn"
    preload = ("autosklearn.classification", "autosklearn.regression")
    # auto-sklearn's 30 s floor + the reserve (its start-up is outside the budget)
    capabilities = Capabilities(
        metrics=tuple(METRICS), search="own-strategy", min_wall_seconds=35.0,
        title="auto-sklearn")
    metric_map = METRICS

    def __init__(self, **options: Any) -> None:
        unknown = set(options) - set(OPTIONS)
        if unknown:
            raise ValueError(f"unknown options {sorted(unknown)}; auto-sklearn takes {OPTIONS}")
        super().__init__(**options)


def _reserve(remaining: float) -> float:
    """Seconds kept back from auto-sklearn for loading the ensemble, predicting and handing back.
    auto-sklearn itself ends 4–5 s inside its own limit; this covers larger data."""
    return 2.0 + 0.05 * remaining


def _memory_limit(ctx: RunContext) -> int:
    """auto-sklearn's cap on one evaluation's address space (RLIMIT_AS), in MB: what this process
    already maps, which forked evaluations inherit (about 1.8 GB, mostly never touched), plus the
    evaluation's share of the resident budget. The harness's kill on resident memory is the real
    limit."""
    import psutil

    mapped = psutil.Process().memory_info().vms // 2**20
    return int(mapped + max(MIN_SHARE_MB, (ctx.budget.memory_mb - HARNESS_MB) // ctx.budget.cores))


def _settings(ctx: RunContext, options: dict[str, Any], folder: Path) -> dict[str, Any]:
    task_s = int(ctx.remaining() - _reserve(ctx.remaining()))
    if task_s < MIN_TASK_S:
        raise BudgetFailure(f"only {task_s} s left for the search, auto-sklearn needs "
                            f"{MIN_TASK_S} s; give a budget of "
                            f"{AutoSklearn.capabilities.min_wall_seconds:g} s or more")
    meta = options.get("initial_configurations_via_metalearning", 25)
    scenario = None
    if ctx.budget.max_trials:  # SMAC refuses an initial design (default + warm start) above it
        meta = min(meta, ctx.budget.max_trials - 1)
        scenario = {"runcount_limit": ctx.budget.max_trials}
    return {
        "time_left_for_this_task": task_s,
        "per_run_time_limit": int(max(task_s / 10, min(task_s / 3, 30))),
        "memory_limit": _memory_limit(ctx),
        "n_jobs": ctx.budget.cores,
        "seed": ctx.seed,
        "tmp_folder": str(folder / "autosklearn"),
        "delete_tmp_folder_after_terminate": False,  # the job folder goes as a whole
        "initial_configurations_via_metalearning": meta,
        "smac_scenario_args": scenario,
        "include": options.get("include"),
        "ensemble_class": options.get("ensemble_class", "default"),
    }


def _plain(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v.item() if hasattr(v, "item") else v for k, v in config.items()}


def _trials(runhistory: Any, ctx: RunContext, to_score: Any) -> list[Trial]:
    """Every run SMAC recorded; a run SMAC cancelled when it stopped is `stopped`."""
    from smac.tae import StatusType

    epoch = time.time() - ctx.elapsed()  # wall-clock time of ctx.started
    trials = []
    for number, (key, value) in enumerate(runhistory.data.items()):
        done = value.status == StatusType.SUCCESS
        trials.append(Trial(
            number=number,
            config=_plain(runhistory.ids_config[key.config_id].get_dictionary()),
            score=float(to_score(value.cost)) if done else None,
            start=max(0.0, value.starttime - epoch),
            end=max(0.0, value.endtime - epoch),
            status=("complete" if done else "stopped" if value.status == StatusType.STOP
                    else "failed"),
        ))
    return trials


def _describe(automl: Any, step: str, ensembled: bool) -> str:
    names = [pipeline.config[f"{step}:__choice__"] if hasattr(pipeline, "config")
             else type(pipeline).__name__ for _, pipeline in automl.get_models_with_weights()]
    if not ensembled:
        return f"single best model: {names[0]}"
    kinds = ", ".join(f"{n}×{name}" for name, n in Counter(names).most_common())
    return f"ensemble of {len(names)} model{'s' * (len(names) > 1)}: {kinds}"


def _space(automl: Any, X: pd.DataFrame, y: np.ndarray, step: str) -> dict[str, Any]:
    cs = automl.get_configuration_space(X, y)  # the space the search used
    learners = len(cs.get_hyperparameter(f"{step}:__choice__").choices)
    preprocessors = len(cs.get_hyperparameter("feature_preprocessor:__choice__").choices)
    return {
        "name": "auto-sklearn",
        "description": f"pipeline space (ConfigSpace): data preprocessing, one of {preprocessors} "
                       f"feature preprocessors and one of {learners} {step}s, each with its own "
                       "hyperparameters",
        "dimension": len(cs.get_hyperparameters()),
        "unconditional": len(cs.get_all_unconditional_hyperparameters()),
        "conditional": len(cs.get_all_conditional_hyperparameters()),
        "conditions": len(cs.get_conditions()),
        "forbidden": len(cs.get_forbiddens()),
    }


def _fit(automl: Any, X: pd.DataFrame, y: np.ndarray) -> bool:
    """`automl.fit`, with a bug of auto-sklearn 0.15 worked around: at shutdown its `fit` reads
    `result` (automl.py:932, `UnboundLocalError`), set only if an ensemble job was ever submitted.
    Its builder submits one for a run result that comes while it has time and SMAC is not stopped;
    none came when SMAC's own time (`time_left_for_this_task` less auto-sklearn's start-up, counted
    twice, less 5 s) was under the 6 s a run needs: every run came back STOP and no model was
    evaluated (met on a starved CPU). With several workers a model can finish after such a STOP:
    it is loaded as `fit` would have (no ensemble was built: the best single model). With no model
    the run is a BudgetFailure. True when the bug was met."""
    try:
        automl.fit(X, y)
        return False
    except UnboundLocalError as exc:
        inner = automl.automl_
        if "'result'" not in str(exc) or getattr(inner, "runhistory_", None) is None:
            raise
        runs = Counter(run.status.name for run in inner.runhistory_.data.values())
        if not runs["SUCCESS"]:
            tally = ", ".join(f"{n} {status}" for status, n in runs.items()) or "none"
            raise BudgetFailure(
                f"auto-sklearn evaluated no model (SMAC's runs: {tally}), so no ensemble job ran "
                "and auto-sklearn 0.15 failed at shutdown (UnboundLocalError): SMAC starts no "
                "run with under 6 s of its time left after auto-sklearn's start-up; give a "
                "larger budget or a less loaded CPU") from exc
        inner._load_models()
        inner.fitted = True
        if hasattr(automl, "target_type"):  # a classifier: what its `fit` sets last
            automl.classes_ = inner.InputValidator.target_validator.classes_
        return True


def warm(options: dict[str, Any], budget: Budget, folder: Path) -> None:
    """auto-sklearn's imports (with SMAC's and scikit-learn's), before the budget starts."""
    import autosklearn.classification
    import autosklearn.regression  # noqa: F401


def work(data: SearchData, ctx: RunContext, options: dict[str, Any], folder: Path) -> RunResult:
    import autosklearn.metrics
    from autosklearn.classification import AutoSklearnClassifier
    from autosklearn.regression import AutoSklearnRegressor

    metric = getattr(autosklearn.metrics, METRICS[data.metric])
    regression = data.task_type == "regression"
    step = "regressor" if regression else "classifier"
    settings = _settings(ctx, options, folder)
    automl = (AutoSklearnRegressor if regression else AutoSklearnClassifier)(
        metric=metric, get_trials_callback=lambda *_: False if ctx.stop_requested else None,
        **settings,
    )
    mended = _fit(automl, data.X, data.y)
    if regression:
        preds = automl.predict(data.X_holdout)
    else:
        preds = place_probabilities(automl.predict_proba(data.X_holdout), automl.classes_,
                                    len(data.classes))

    def to_score(cost: float) -> float:  # runhistory cost: lower is better, for every metric
        return metric._sign * (metric._optimum - cost)

    trials = _trials(automl.automl_.runhistory_, ctx, to_score)
    done = [t for t in trials if t.status == "complete"]
    if not done:
        raise BudgetFailure("auto-sklearn finished without a successful model")
    best = max(done, key=lambda t: metric._sign * t.score)
    history = automl.automl_.ensemble_performance_history
    ensembled = settings["ensemble_class"] is not None and bool(history)
    if ensembled:
        reported = metric._sign * history[-1]["ensemble_optimization_score"]
        reported_on = (f"auto-sklearn ensemble score on {HOLDOUT} that also selected the "
                       f"ensemble; best single model {best.score:.4g}")
    else:
        reported = best.score
        reported_on = f"auto-sklearn best single model on {HOLDOUT}"
    return RunResult(
        predictions=np.asarray(preds, dtype=float),
        reported_score=float(reported),
        reported_on=reported_on,
        n_configs=len(done),
        best_config=best.config,
        trials=trials,
        model_description=_describe(automl, step, ensembled) + (
            "; loaded after auto-sklearn's UnboundLocalError at shutdown" if mended else ""),
        search_space=_space(automl, data.X, data.y, step),
        validation_rows=len(data.y) - int(0.67 * len(data.y)),  # its holdout: train_size 0.67
    )
