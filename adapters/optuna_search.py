"""Reference searchers: Optuna's random and TPE samplers over a shared LightGBM space.

Each trial is scored by k-fold CV on the search rows; the best config is refit on all of them.
Time is managed by the searcher, not by Optuna: a new trial starts only while the time left covers
a typical trial, a refit of the incumbent and a small reserve, and a fit that runs into that margin
is aborted from a LightGBM callback.
"""

from __future__ import annotations

import statistics
import warnings
from dataclasses import dataclass
from typing import ClassVar

import lightgbm
import numpy as np
import optuna
from lightgbm.basic import LightGBMError
from optuna.samplers import BaseSampler, RandomSampler, TPESampler
from optuna.trial import TrialState

from adapters.contract import RunContext, RunResult, SearchData, SearchSpace, Trial
from adapters.lgbm import (
    CVResult,
    StopSearch,
    align_categories,
    cross_validate,
    describe,
    make_model,
    predict,
    reserve_seconds,
)
from adapters.metrics import get_metric
from adapters.spaces import SPACES, suggest


@dataclass
class _Evaluation:
    trial: Trial
    cv: CVResult | None = None
    error: str = ""


@dataclass
class OptunaSearch:
    """k-fold CV search over a space of `adapters.spaces`; subclasses choose the sampler."""

    name: ClassVar[str]
    space: str = "gbm11"
    cv_folds: int = 5

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise ValueError(f"unknown space {self.space!r}; choose one of {', '.join(SPACES)}")

    def sampler(self, seed: int) -> BaseSampler:
        raise NotImplementedError

    def version(self) -> str:
        return f"optuna {optuna.__version__} / lightgbm {lightgbm.__version__}"

    def search_space(self) -> SearchSpace | None:
        return SPACES[self.space]

    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        metric = get_metric(data.metric)
        direction = "maximize" if metric.greater_is_better else "minimize"
        study = optuna.create_study(direction=direction, sampler=self.sampler(ctx.seed))
        margin = reserve_seconds(ctx.budget)
        evaluations: list[_Evaluation] = []
        done: list[_Evaluation] = []
        while ctx.budget.max_trials is None or len(evaluations) < ctx.budget.max_trials:
            best = min(done, key=lambda e: metric.loss(e.trial.score), default=None)
            keep = margin + (best.cv.refit_seconds() if best else 0.0)
            typical = statistics.median(e.trial.end - e.trial.start for e in done) if done else 0.0
            if ctx.should_stop(keep + typical):
                break
            evaluation = self._evaluate(study, data, ctx, keep)
            evaluations.append(evaluation)
            if evaluation.trial.status == "stopped":
                break
            if evaluation.trial.status == "complete":
                done.append(evaluation)
        if not done:
            raise RuntimeError(self._nothing_completed(evaluations, ctx))
        best = min(done, key=lambda e: metric.loss(e.trial.score))
        model = make_model(data.task_type, best.trial.config, ctx).fit(data.X, data.y)
        X_holdout = align_categories(data.X_holdout, data.X)
        return RunResult(
            predictions=predict(model, X_holdout, data.task_type, len(data.classes)),
            reported_score=best.trial.score,
            reported_on=f"{self.cv_folds}-fold CV on search rows (best of {len(done)} trials)",
            n_configs=len(done),
            best_config=best.trial.config,
            trials=[e.trial for e in evaluations],
            model_description=describe(model),
        )

    def _evaluate(
        self, study: optuna.Study, data: SearchData, ctx: RunContext, keep: float
    ) -> _Evaluation:
        """Ask for one config, score it by CV (aborted if it eats into `keep`), tell the result."""
        asked = study.ask()
        config = suggest(asked, self.search_space())
        trial = Trial(number=asked.number, config=config, score=None, start=ctx.elapsed(), end=0.0)
        evaluation = _Evaluation(trial)
        try:
            evaluation.cv = cross_validate(data, config, ctx, self.cv_folds, keep)
        except StopSearch:
            trial.status = "stopped"
        except (LightGBMError, ValueError) as exc:
            trial.status, evaluation.error = "failed", str(exc)
        else:
            if np.isfinite(evaluation.cv.score):
                trial.score = evaluation.cv.score
            else:
                trial.status, evaluation.error = "failed", "non-finite CV score"
        trial.end = ctx.elapsed()
        if trial.status == "complete":
            study.tell(asked, trial.score)
        else:
            study.tell(asked, state=TrialState.FAIL)
        return evaluation

    def _nothing_completed(self, evaluations: list[_Evaluation], ctx: RunContext) -> str:
        failed = [e for e in evaluations if e.trial.status == "failed"]
        message = (
            f"{self.name}: no trial completed within the {ctx.budget.wall_seconds:g} s budget "
            f"({len(evaluations)} started, {len(failed)} failed)"
        )
        return f"{message}; last error: {failed[-1].error}" if failed else message


@dataclass
class RandomSearch(OptunaSearch):
    """Configs drawn uniformly (log-uniformly where marked) from the space."""

    name: ClassVar[str] = "random"

    def sampler(self, seed: int) -> BaseSampler:
        return RandomSampler(seed=seed)


@dataclass
class TPESearch(OptunaSearch):
    """Tree-structured Parzen estimator after `n_startup_trials` random configs."""

    name: ClassVar[str] = "tpe"
    multivariate: bool = False
    n_startup_trials: int = 10

    def sampler(self, seed: int) -> BaseSampler:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return TPESampler(
                seed=seed, multivariate=self.multivariate, n_startup_trials=self.n_startup_trials
            )
