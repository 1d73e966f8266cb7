"""FLAML AutoML in its own environment (`adapters/systems/flaml/requirements.txt`).

Budget mapping: `time_budget` = time left minus a reserve for FLAML's final retrain, prediction and
hand-back; `n_jobs` = cores; FLAML has no hard memory limit (the harness's kill is the backstop).
Reported score: FLAML's `best_loss` turned back into the metric, measured on its own internal
holdout or CV of the search rows. Every evaluated configuration is logged (`log_type='all'`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from adapters.contract import (
    Budget,
    Capabilities,
    RunContext,
    RunResult,
    SearchData,
    Trial,
    place_probabilities,
)
from adapters.systems.environments import EnvSpec
from adapters.systems.external import CrossValidating

# harness metric -> (FLAML metric name, loss -> score)
METRICS = {
    "roc_auc": ("roc_auc", lambda loss: 1.0 - loss),
    "log_loss": ("log_loss", lambda loss: loss),
    "rmse": ("rmse", lambda loss: loss),
    "r2": ("r2", lambda loss: 1.0 - loss),
    "balanced_accuracy": (None, lambda loss: 1.0 - loss),
}


class FLAML(CrossValidating):
    """Options: `cv_folds` (the suite's), `estimator_list` (default FLAML's own), `eval_method`
    (default 'cv' with `cv_folds` folds, so that its own time rule cannot switch it to a 10 %
    holdout from seed to seed; 'auto' or 'holdout' to let it)."""

    name = "flaml"
    env = EnvSpec("flaml", "", ("flaml/requirements.txt",),
                  "import flaml; print(flaml.__version__)")
    module = "adapters.systems.flaml"
    preload = ("flaml",)
    capabilities = Capabilities(metrics=tuple(METRICS), search="own-strategy", cv_folds=True,
                                title="FLAML")
    metric_map = METRICS


def _balanced_accuracy_metric():
    from sklearn.metrics import balanced_accuracy_score

    def metric(X_val, y_val, estimator, labels, X_train, y_train, *args, **kwargs):
        loss = 1.0 - balanced_accuracy_score(y_val, estimator.predict(X_val))
        return loss, {"balanced_accuracy": 1.0 - loss}

    return metric


def _plain(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v.item() if hasattr(v, "item") else v for k, v in config.items()}


def _trials(log: Path, n_rows: int, to_score: Any, offset: float) -> list[Trial]:
    """Every configuration in FLAML's log, on the run's clock (FLAML's own starts `offset`
    seconds into the run)."""
    trials = []
    for line in log.read_text().splitlines():
        record = json.loads(line)
        if "record_id" not in record:
            continue
        end = offset + float(record["wall_clock_time"])
        trials.append(Trial(
            number=int(record["record_id"]),
            config={"learner": record["learner"], **record["config"]},
            score=float(to_score(float(record["validation_loss"]))),
            start=end - float(record["trial_time"]),
            end=end,
            fidelity=min(1.0, float(record["sample_size"]) / n_rows),
        ))
    return trials


def warm(options: dict[str, Any], budget: Budget, folder: Path) -> None:
    """FLAML's imports (with LightGBM's and XGBoost's), before the budget starts."""
    from flaml import AutoML  # noqa: F401


def work(data: SearchData, ctx: RunContext, options: dict[str, Any], folder: Path) -> RunResult:
    import flaml
    from flaml import AutoML

    name, to_score = METRICS[data.metric]
    task = "regression" if data.task_type == "regression" else "classification"
    reserve = 1.0 + 0.15 * ctx.remaining()
    automl = AutoML()
    log = folder / "flaml.log"
    offset = ctx.elapsed()
    automl.fit(
        data.X, data.y, task=task, metric=name or _balanced_accuracy_metric(),
        time_budget=max(1.0, ctx.remaining() - reserve), n_jobs=ctx.budget.cores,
        seed=ctx.seed, log_file_name=str(log), log_type="all", verbose=0,
        eval_method=options.get("eval_method", "cv"), n_splits=options["cv_folds"],
        **({"estimator_list": options["estimator_list"]} if "estimator_list" in options else {}),
        **({"max_iter": ctx.budget.max_trials} if ctx.budget.max_trials else {}),
    )
    trials = _trials(log, len(data.y), to_score, offset)
    if data.task_type == "regression":
        preds = automl.predict(data.X_holdout)
    else:
        preds = place_probabilities(automl.predict_proba(data.X_holdout), automl.classes_,
                                    len(data.classes))
    state = automl._state
    method = ("its internal holdout (10% of search rows)" if state.eval_method == "holdout"
              else f"its {options['cv_folds']}-fold CV on search rows")
    spaces = {learner: len(state.learner_classes[learner].search_space(
        data_size=data.X.shape, task=state.task)) for learner in automl.estimator_list}
    return RunResult(
        predictions=np.asarray(preds, dtype=float),
        reported_score=float(to_score(automl.best_loss)),
        reported_on=f"FLAML best loss on {method}, best of {len(trials)} configs",
        validation_rows=(len(state.y_val) if state.eval_method == "holdout"
                         and getattr(state, "y_val", None) is not None else None),
        n_configs=len(trials),
        best_config={"learner": automl.best_estimator, **_plain(automl.best_config)},
        trials=trials,
        model_description=f"{type(automl.model.estimator).__name__} (FLAML {flaml.__version__})",
        search_space={
            "name": "flaml",
            "description": "one choice of learner, then that learner's own space",
            "dimension": 1 + sum(spaces.values()),
            "conditional": sum(spaces.values()),
            "per_learner": spaces,
        },
    )
