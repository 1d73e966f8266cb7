"""TPOT 1.x in its own environment (`adapters/systems/tpot/requirements.txt`).

Budget mapping: a Dask cluster inside the worker's own process, one single-threaded worker per
core (TPOT submits one pipeline per worker at a time), started before the budget; no worker
process to start, so the budget begins within a second of the job. Memory is the job's cgroup's
to enforce: the whole search runs in this process, and an in-process Dask worker cannot be
restarted, so no per-worker Dask limit is set (at one, Dask would pause the worker and stall the
search). `max_time_mins` = the time left, minus a reserve for TPOT's setup and overshoot, its refit
of the best pipeline on all search rows, prediction and shutdown; `max_eval_time_mins` = a third
of that, so that no single pipeline can use up the search (TPOT interrupts a pipeline in its
thread when its Python code next runs). TPOT cannot be stopped early: a stop request is left to
its own time limit, with the harness's kill as the backstop. Reported score: the
cross-validated score of the pipeline TPOT selects from `evaluated_individuals`. Trial times are
TPOT's own submission and completion times.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

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
from adapters.systems.external import CrossValidating

# harness metric -> (scikit-learn scorer, sign that turns the scorer's value into the metric)
SCORERS = {
    "roc_auc": ("roc_auc", 1),
    "log_loss": ("neg_log_loss", -1),
    "balanced_accuracy": ("balanced_accuracy", 1),
    "rmse": ("neg_root_mean_squared_error", -1),
    "r2": ("r2", 1),
}
# node groups of TPOT's default "linear" pipeline: scaler -> selector -> transformers -> inner
# estimators -> final estimator
NODE_GROUPS = {
    True: ["scalers", "selectors_classification", "transformers", "classifiers"],
    False: ["scalers", "selectors_regression", "transformers", "regressors"],
}
# TPOT's setup before its clock starts (2.5-6 s: preprocessing, scattering the data, the first
# population), its refit of the best pipeline, prediction and shutdown (~0.1 s, see `_kill`), plus
# its overshoot of max_time_mins, which grows with the budget: its time limits are soft (a pipeline
# ran 17 s against a 9.5 s max_eval_time; it waits up to max_eval_time past its own deadline)
RESERVE_S = 10.0
RESERVE_FRACTION = 0.2


class TPOT(CrossValidating):
    """Options: `cv_folds` (the suite's: TPOT's `cv`; TPOT's own default is 10)."""

    name = "tpot"
    env = EnvSpec("tpot", "", ("tpot/requirements.txt", "tpot/requirements-no-deps.txt"),
                  "import tpot, xgboost; print(tpot.__version__)")
    module = "adapters.systems.tpot"
    preload = ("tpot", "dask.distributed")
    own_server = ("its own Dask cluster per job, in the worker's process (a thread per core), "
                  "started before the budget")
    # the reserve and time for a few pipelines: at 40 s on a busy machine no pipeline finished,
    # when 3-5 s of imports and 5-7 s to start the Dask workers with TPOT were inside the budget
    capabilities = Capabilities(
        metrics=tuple(SCORERS), search="own-strategy", min_wall_seconds=60.0, cv_folds=True,
        title="TPOT")
    metric_map = SCORERS


def _search_space(classification: bool, data: SearchData, seed: int) -> dict[str, Any]:
    """Hyperparameters of each node type's ConfigSpace; selectors that wrap an estimator have
    none of their own listed."""
    from ConfigSpace import ConfigurationSpace
    from tpot.config.get_configspace import flatten_group_names, get_configspace

    per_node, conditions, wrappers = {}, 0, []
    for name in dict.fromkeys(flatten_group_names(NODE_GROUPS[classification])):
        try:
            space = get_configspace(name, n_classes=max(2, len(data.classes)),
                                    n_samples=len(data.y), n_features=data.X.shape[1],
                                    random_state=seed)
        except ValueError:
            wrappers.append(name)
            continue
        is_space = isinstance(space, ConfigurationSpace)
        per_node[name] = len(list(space.values())) if is_space else 0
        conditions += len(space.conditions) if is_space else 0
    return {
        "name": "tpot",
        "description": "genetic programming over linear pipelines (scaler, selector, "
                       "transformers, inner estimators, final estimator); dimension counts each "
                       "node type's hyperparameters once",
        "dimension": sum(per_node.values()),
        "conditional": conditions,
        "per_node": per_node,
        "estimator_wrappers": wrappers,
    }


def _pipeline(individual: Any) -> str:
    """TPOT's own compact identity of a pipeline (printing the scikit-learn pipeline is slow)."""
    return str(individual.unique_id())


def _trials(evaluated: Any, column: str, sign: int, clock: float) -> list[Trial]:
    """Pipelines that were scored (complete) or raised an error (failed); pipelines cancelled at
    the time limit before they ran are left out."""
    ran = evaluated[evaluated[column].notna() | evaluated["Eval Error"].notna()]
    ran = ran.sort_values("Submitted Timestamp", kind="stable")
    trials = []
    for number, (_, row) in enumerate(ran.iterrows()):
        scored = bool(np.isfinite(row[column]))
        trials.append(Trial(
            number=number,
            config={"pipeline": _pipeline(row["Individual"])},
            score=sign * float(row[column]) if scored else None,
            start=max(0.0, float(row["Submitted Timestamp"]) - clock),
            end=max(0.0, float(row["Completed Timestamp"]) - clock),
            status="complete" if scored else "failed",
        ))
    return trials


# the Dask client (of its cluster) `warm` started in this process, for `work`
_CLIENTS: list[Any] = []


def warm(options: dict[str, Any], budget: Budget, folder: Path) -> None:
    """TPOT's imports and its Dask cluster, in this process (one single-threaded worker per
    core), before the budget starts: a server's start-up is not the search's."""
    import tpot  # noqa: F401
    from dask.distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=budget.cores, threads_per_worker=1, processes=False,
                           memory_limit=None, dashboard_address=None,
                           silence_logs=logging.ERROR, local_directory=str(folder / "dask"))
    # not closed at exit: closing would wait for a pipeline TPOT gave up on and cannot interrupt
    # (its thread ends with this process)
    cluster.shutdown_on_close = False
    _CLIENTS.append(Client(cluster))


def work(data: SearchData, ctx: RunContext, options: dict[str, Any], folder: Path) -> RunResult:
    import tpot
    from tpot import TPOTClassifier, TPOTRegressor

    cores = ctx.budget.cores
    classification = data.task_type != "regression"
    folds = options["cv_folds"]
    scorer, sign = SCORERS[data.metric]
    objects = {c: object for c in data.categorical_columns}  # TPOT one-hot encodes object columns
    X, X_holdout = data.X.astype(objects), data.X_holdout.astype(objects)
    clock = time.time() - ctx.elapsed()  # epoch seconds at the start of the run
    if not _CLIENTS:
        warm(options, ctx.budget, folder)
    client = _CLIENTS.pop()
    search_s = max(1.0, ctx.remaining() - RESERVE_S - RESERVE_FRACTION * ctx.remaining())
    estimator = (TPOTClassifier if classification else TPOTRegressor)(
        scorers=[scorer], scorers_weights=[1], cv=folds,
        max_time_mins=search_s / 60, max_eval_time_mins=search_s / 180,
        n_jobs=cores, client=client, preprocessing=True, random_state=ctx.seed, verbose=0,
    )
    try:
        estimator.fit(X, data.y)
    except Exception as exc:  # TPOT raises a bare Exception when its population is empty
        if "No individuals could be evaluated" in str(exc):
            raise BudgetFailure(f"TPOT evaluated no pipeline in {search_s:.0f} s: "
                                f"{str(exc).splitlines()[0][:200]}") from exc
        raise
    pipeline = estimator.fitted_pipeline_
    if classification:
        labels = pipeline.classes_
        if estimator.label_encoder_ is not None:
            labels = estimator.label_encoder_.inverse_transform(labels)
        preds = place_probabilities(estimator.predict_proba(X_holdout), labels,
                                    len(data.classes))
    else:
        preds = estimator.predict(X_holdout)
    column = estimator.objective_names[0]
    trials = _trials(estimator.evaluated_individuals, column, sign, clock)
    scored = sum(t.status == "complete" for t in trials)
    best = estimator.selected_best_score
    return RunResult(
        predictions=np.asarray(preds, dtype=float),
        reported_score=sign * float(best[column]),
        reported_on=(f"TPOT {folds}-fold CV score of its selected pipeline on the search rows, "
                     f"best of {scored} scored pipelines"),
        n_configs=scored,
        best_config={"pipeline": _pipeline(best["Individual"])},
        trials=trials,
        model_description=f"{type(pipeline[-1][-1]).__name__} pipeline (TPOT {tpot.__version__})",
        search_space=_search_space(classification, data, ctx.seed),
    )
