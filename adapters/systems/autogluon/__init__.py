"""AutoGluon Tabular in its own environment (`adapters/systems/autogluon/requirements.txt`), with
the model families of `autogluon.tabular[all]` on CPU-only builds: the default portfolio's
LightGBM, CatBoost, XGBoost, random and extra trees, and neural nets in PyTorch and fastai.

Options: `presets`, AutoGluon's (default "medium_quality": no stacking), recorded in the result's
`best_config`, `reported_on` and `model_description`; `bagging`: "auto" (default), true or false.
Bagged, every model is fitted on the suite's `cv_folds` folds (`num_bag_folds`), so AutoGluon
validates by k-fold CV like the suite's other CV systems, and its score_val is out-of-fold on every
search row. A bagged model costs about k unbagged ones, so "auto" bags from a wall budget of
`BAG_MIN_WALL_S`; below it AutoGluon validates on its own internal holdout, and says so.

Budget mapping: `time_limit` = time left minus a reserve for prediction and hand-back;
`num_cpus` = cores; `memory_limit` = the budget less the harness's own job process (AutoGluon's
limit is soft: it skips or stops models it expects to exceed it; the harness's kill is the
backstop); the seed sets AutoGluon's train/validation split. After a stop request AutoGluon skips
the models it has not started and ensembles those it has. Reported score: `score_val` of
AutoGluon's best model on its internal holdout, in the metric's own units. Trial times are measured
around each model fit; models trained together by one call (hyperparameter tuning) share that
call's window.
"""

from __future__ import annotations

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

# harness metric -> AutoGluon eval_metric
METRICS = {
    "roc_auc": "roc_auc",
    "log_loss": "log_loss",
    "balanced_accuracy": "balanced_accuracy",
    "rmse": "root_mean_squared_error",
    "r2": "r2",
}
LABEL = "__auditor_label__"
# AutoGluon overshoots its time limit by ~1 s (1.5 s on a loaded machine); prediction,
# leaderboard, hand-back and the worker's exit take ~0.5-1 s; the fraction covers longer last models
# under bigger budgets
RESERVE_S = 3.0
RESERVE_FRACTION = 0.1
HARNESS_MB = 300  # the harness's job process (~150 MB measured), which the budget also covers
# "auto" bags from this wall budget: unbagged, the default portfolio takes about 50 s of a 90 s
# budget on Telco's 5,600 search rows; bagged on 5 folds, about 5 times that
BAG_MIN_WALL_S = 300.0
FitWatch: type[Any]  # bound by `_fit_callback`


class AutoGluon(CrossValidating):
    """Options: `cv_folds` (the suite's), `presets` (default "medium_quality"), `bagging`
    ("auto", true or false)."""

    name = "autogluon"
    env = EnvSpec("autogluon", "",
                  ("autogluon/requirements.txt", "autogluon/requirements-no-deps.txt"),
                  "import autogluon.tabular as ag, catboost, fastai.tabular.all, lightgbm, "
                  "torch, xgboost; print(ag.__version__)")
    module = "adapters.systems.autogluon"
    preload = ("torch", "autogluon.tabular")
    # worker start, 1-2 s of imports, preprocessing, a model, the reserve
    capabilities = Capabilities(
        metrics=tuple(METRICS), search="own-strategy", min_wall_seconds=10.0, cv_folds=True,
        title="AutoGluon")
    metric_map = METRICS

    def __init__(self, cv_folds: int = 5, **options: Any) -> None:
        bagging(options)  # refuse a bad `bagging` before any job starts
        super().__init__(cv_folds=cv_folds, **options)


def _fit_callback(ctx: RunContext, fits: dict[str, tuple[float, float, str]]) -> Any:
    """Records when each model fit starts and ends, and skips further models once the harness
    asks to stop. The class is bound at module level so that AutoGluon can pickle it along with
    its trainer."""
    global FitWatch
    from autogluon.core.callbacks import AbstractCallback

    class FitWatch(AbstractCallback):
        def __init__(self) -> None:
            super().__init__()
            self.ctx, self.fits, self.started, self.kind = ctx, fits, 0.0, ""

        def __getstate__(self) -> dict[str, Any]:
            # AutoGluon pickles its trainer, callbacks included, whenever it saves it; the
            # harness's context (which holds the worker's start-up closure) stays out of the copy:
            # only this live object records fits
            return {**self.__dict__, "ctx": None}

        def _before_model_fit(self, trainer: Any, model: Any, time_limit: float | None = None,
                              stack_name: str = "core", level: int = 1) -> tuple[bool, bool]:
            # a bagged model's family is that of its fold models
            self.kind = getattr(model, "_child_type", type(model)).__name__
            self.started = self.ctx.elapsed()
            # after a stop request, skip the remaining models but still fit the weighted
            # ensemble of those already trained
            return False, self.ctx.stop_requested and stack_name == "core"

        def _after_model_fit(self, trainer: Any, model_names: list[str],
                             stack_name: str = "core", level: int = 1) -> bool:
            for name in model_names:
                self.fits[name] = (self.started, self.ctx.elapsed(), self.kind)
            return False

    return FitWatch()


def bagging(options: dict[str, Any]) -> str | bool:
    """The `bagging` option: "auto" (the default), true or false."""
    value = options.get("bagging", "auto")
    if value != "auto" and not isinstance(value, bool):
        raise ValueError(f"bagging must be 'auto', true or false, not {value!r}")
    return value


def bags(options: dict[str, Any], wall_seconds: float) -> bool:
    """Whether AutoGluon bags: the `bagging` option, or for "auto" a wall budget of at least
    `BAG_MIN_WALL_S`."""
    value = bagging(options)
    return wall_seconds >= BAG_MIN_WALL_S if value == "auto" else bool(value)


def warm(options: dict[str, Any], budget: Budget, folder: Path) -> None:
    """AutoGluon's imports (with PyTorch's, for its neural nets), before the budget starts."""
    import torch  # noqa: F401
    from autogluon.tabular import TabularPredictor  # noqa: F401


def work(data: SearchData, ctx: RunContext, options: dict[str, Any], folder: Path) -> RunResult:
    import autogluon.tabular
    from autogluon.tabular import TabularPredictor

    predictor = TabularPredictor(
        label=LABEL, problem_type=data.task_type, eval_metric=METRICS[data.metric],
        path=str(folder / "autogluon"), verbosity=0, learner_kwargs={"random_state": ctx.seed},
    )
    fits: dict[str, tuple[float, float, str]] = {}
    presets = options.get("presets", "medium_quality")
    folds = options["cv_folds"] if bags(options, ctx.budget.wall_seconds) else 0
    reserve = RESERVE_S + RESERVE_FRACTION * ctx.remaining()
    predictor.fit(
        data.X.assign(**{LABEL: data.y}), time_limit=max(1.0, ctx.remaining() - reserve),
        presets=presets, num_cpus=ctx.budget.cores, num_bag_folds=folds, num_bag_sets=1,
        # folds one after another: the parallel strategy starts a Ray cluster inside the job,
        # which the sandbox's network namespace refuses (the bagged models were skipped)
        ag_args_ensemble={"fold_fitting_strategy": "sequential_local"},
        num_gpus=0, memory_limit=max(0.5, (ctx.budget.memory_mb - HARNESS_MB) / 1024),
        callbacks=[_fit_callback(ctx, fits)],
    )
    best = predictor.model_best
    if data.task_type == "regression":
        preds = predictor.predict(data.X_holdout, model=best).to_numpy()
    else:
        proba = predictor.predict_proba(data.X_holdout, model=best)
        preds = place_probabilities(proba, proba.columns, len(data.classes))
    to_score = predictor.eval_metric.convert_score_to_original
    validation = (f"out-of-fold on its {folds}-fold CV (bagging) of the search rows" if folds
                  else "on its internal holdout of the search rows")
    # refit copies (presets with refit_full) carry their parent's score and are not trials
    board = predictor.leaderboard(set_refit_score_to_parent=True).set_index("model")
    refits = set(predictor.model_refit_map().values())
    trials = [
        Trial(number=int(row.fit_order), config={"model": name, "type": fits[name][2]},
              score=float(to_score(row.score_val)), start=fits[name][0], end=fits[name][1])
        for name, row in board.sort_values("fit_order").iterrows() if name not in refits
    ]
    return RunResult(
        predictions=np.asarray(preds, dtype=float),
        reported_score=float(to_score(board.loc[best, "score_val"])),
        reported_on=(f"AutoGluon leaderboard score_val, {validation}, best of {len(trials)} "
                     f"models ({best}; presets {presets})"),
        validation_rows=len(data.X) if folds else None,
        n_configs=len(trials),
        best_config={"model": best, "presets": presets, "bag_folds": folds},
        trials=trials,
        model_description=f"{best} (AutoGluon {autogluon.tabular.__version__}, presets "
                          f"{presets})",
        search_space={
            "name": "autogluon",
            "description": "fixed portfolio of per-family configurations; no search space unless "
                           "hyperparameter_tune_kwargs",
            "dimension": 0,
            "portfolio": sorted({t.config["type"] for t in trials}),
        },
    )
