"""Reference searchers: Optuna samplers and pruners over the shared spaces of `adapters.spaces`.

Each configuration is scored by k-fold CV on the search rows; the best full-fidelity configuration
is refit on all of them. Multi-fidelity searchers climb a ladder of fidelities (fractions of each
fold's training rows: 1/9, 1/3, 1 for eta = 3), report every rung to their pruner, and stop or
promote as it says; every partial evaluation is recorded with its fidelity and CPU seconds.

Time is managed by the searcher, not by Optuna: a new configuration starts only while the time
left covers a typical one, a refit of the incumbent and a small reserve, and a LightGBM fit that
runs into that margin is aborted from a callback.
"""

from __future__ import annotations

import statistics
import warnings
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import lightgbm
import numpy as np
import optuna
import sklearn
from optuna.pruners import BasePruner, HyperbandPruner, SuccessiveHalvingPruner
from optuna.samplers import (
    BaseSampler,
    CmaEsSampler,
    GPSampler,
    GridSampler,
    NSGAIISampler,
    RandomSampler,
    TPESampler,
)

from adapters.contract import (
    Adapter,
    BudgetFailure,
    Capabilities,
    RunContext,
    RunResult,
    SearchData,
    SearchSpace,
    Trial,
)
from adapters.metrics import get_metric
from adapters.searchers.evaluation import align_categories, cross_validate, predict, reserve_seconds
from adapters.searchers.families import FAMILIES, Family, StopSearch, describe
from adapters.searchers.fidelity import climb, ladder, resource_units
from adapters.spaces import FAMILY_OF, SPACES, bounds, suggest


@dataclass
class _Config:
    """One configuration's evaluations, lowest fidelity first."""

    config: dict[str, Any]
    trials: list[Trial] = field(default_factory=list)
    refit_s: float = 0.0
    fold_scores: list[float] = field(default_factory=list)

    @property
    def final(self) -> Trial:
        return self.trials[-1]

    @property
    def score(self) -> float:
        """The final score of a complete configuration."""
        assert self.final.score is not None, "a complete configuration has a score"
        return self.final.score


def _quiet(factory: Any, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return factory(**kwargs)


@dataclass
class OptunaSearch(Adapter):
    """k-fold CV search over a space; subclasses choose the sampler and, for multi-fidelity,
    the pruner and the ladder of fidelities."""

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities] = Capabilities(cv_folds=True)
    space: str = "gbm11"
    cv_folds: int = 5
    max_trials: int | None = None  # a cap below the suite budget's, for this searcher only

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise ValueError(f"unknown space {self.space!r}; choose one of {', '.join(SPACES)}")

    def sampler(self, seed: int) -> BaseSampler:
        raise NotImplementedError

    def pruner(self) -> BasePruner | None:
        return None

    def fidelities(self) -> list[float]:
        return [1.0]

    def version(self) -> str:
        return (f"optuna {optuna.__version__} / lightgbm {lightgbm.__version__} / "
                f"scikit-learn {sklearn.__version__}")

    def search_space(self) -> SearchSpace:
        return SPACES[self.space]

    def describe_space(self) -> dict[str, Any] | None:
        """What the run records as its search space (the grid adds its size)."""
        return None

    def _cap(self, ctx: RunContext) -> float:
        caps = [c for c in (ctx.budget.max_trials, self.max_trials) if c]
        return min(caps) if caps else float("inf")

    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        metric = get_metric(data.metric)
        family = FAMILIES[FAMILY_OF[self.space]]
        direction: Literal["maximize", "minimize"] = (
            "maximize" if metric.greater_is_better else "minimize")
        # a fixed study name: Hyperband assigns trials to brackets by hashing it
        study = optuna.create_study(study_name=f"{self.name}-{ctx.seed}", direction=direction,
                                    sampler=self.sampler(ctx.seed), pruner=self.pruner())
        margin = reserve_seconds(ctx.budget)
        configs: list[_Config] = []
        best: _Config | None = None
        while len(configs) < self._cap(ctx):
            keep = margin + (best.refit_s if best else 0.0)
            spans = [c.final.end - c.trials[0].start for c in configs if c.final.score is not None]
            if ctx.should_stop(keep + (statistics.median(spans) if spans else 0.0)):
                break
            done = self._evaluate(study, data, family, ctx, keep, best is not None,
                                  sum(len(c.trials) for c in configs))
            configs.append(done)
            if done.final.status == "stopped":
                break
            if done.final.status == "complete" and (
                    best is None or metric.better(done.score, best.score)):
                best = done
        if best is None:
            message = self._nothing_completed(configs, ctx)
            if configs and all(c.final.status == "failed" for c in configs):
                raise RuntimeError(message)  # every configuration raised: not the budget
            raise BudgetFailure(message)
        X_holdout = align_categories(data.X_holdout, data.X)
        model = family.fit(family.model(data.task_type, best.config, ctx, data.X), data.X,
                           data.y, None)
        trials = [t for c in configs for t in c.trials]
        complete = sum(c.final.status == "complete" for c in configs)
        return RunResult(
            predictions=predict(model, X_holdout, data.task_type, len(data.classes)),
            reported_score=best.final.score,
            reported_on=(f"{self.cv_folds}-fold CV on search rows (best of {complete} "
                         f"full-fidelity config{'s' * (complete != 1)})"),
            n_configs=sum(c.trials[0].status != "failed" for c in configs),
            best_config=best.config,
            trials=trials,
            model_description=describe(model),
            search_space=self.describe_space(),
            fold_scores=best.fold_scores,
        )

    def _evaluate(self, study: optuna.Study, data: SearchData, family: Family, ctx: RunContext,
                  keep: float, has_incumbent: bool, number: int) -> _Config:
        """Ask for a config and climb its fidelities until pruned, failed or complete."""
        asked = study.ask()
        entry = _Config(suggest(asked, self.search_space()))
        rungs = self.fidelities()

        def evaluate(rung: int) -> float | None:
            trial = Trial(number=number + len(entry.trials), config=entry.config, score=None,
                          start=ctx.elapsed(), end=0.0, fidelity=rungs[rung])
            entry.trials.append(trial)
            try:
                cv = cross_validate(data, family, entry.config, ctx, self.cv_folds, keep,
                                    rungs[rung], keep_own_refit=has_incumbent)
            except StopSearch:
                trial.status = "stopped"
            except (ValueError, ArithmeticError, lightgbm.basic.LightGBMError):
                trial.status = "failed"
            else:
                trial.cpu_s = cv.cpu_s
                if np.isfinite(cv.score):
                    trial.score = cv.score
                    entry.refit_s = cv.refit_seconds(rungs[rung])
                    entry.fold_scores = cv.fold_scores
                else:
                    trial.status = "failed"
            trial.end = ctx.elapsed()
            return trial.score

        climb(study, asked, rungs, evaluate)
        for trial in entry.trials[:-1]:
            trial.status = "partial"
        last = entry.trials[-1]
        if last.score is not None and len(entry.trials) < len(rungs):
            last.status = "pruned"
        return entry

    def _nothing_completed(self, configs: list[_Config], ctx: RunContext) -> str:
        failed = sum(c.final.status == "failed" for c in configs)
        return (f"{self.name}: no configuration completed at full fidelity within the "
                f"{ctx.budget.wall_seconds:g} s budget ({len(configs)} started, {failed} failed)")


@dataclass
class RandomSearch(OptunaSearch):
    """Configs drawn uniformly (log-uniformly where marked) from the space."""

    name: ClassVar[str] = "random"
    capabilities: ClassVar[Capabilities] = Capabilities(search="random", cv_folds=True)

    def sampler(self, seed: int) -> BaseSampler:
        return RandomSampler(seed=seed)


@dataclass
class GridSearch(OptunaSearch):
    """A full grid in random order: `levels` values per dimension (log-spaced where marked, all
    choices of a categorical) or explicit `values` per hyperparameter."""

    name: ClassVar[str] = "grid"
    capabilities: ClassVar[Capabilities] = Capabilities(search="random", cv_folds=True)
    levels: int = 3
    values: dict[str, list[Any]] = field(default_factory=dict)

    def grid(self) -> dict[str, list[Any]]:
        out = {}
        for hp in self.search_space().hyperparameters:
            if hp.name in self.values:
                out[hp.name] = list(self.values[hp.name])
            elif hp.kind == "categorical":
                out[hp.name] = list(hp.choices)
            else:
                points = (np.geomspace if hp.log else np.linspace)(*bounds(hp), self.levels)
                out[hp.name] = (sorted({int(np.round(v)) for v in points}) if hp.kind == "int"
                                else [float(v) for v in points])
        return out

    def grid_size(self) -> int:
        return int(np.prod([len(v) for v in self.grid().values()]))

    def describe_space(self) -> dict[str, Any]:
        return {**self.search_space().as_dict(), "grid_size": self.grid_size(),
                "grid": self.grid()}

    def sampler(self, seed: int) -> BaseSampler:
        return GridSampler(self.grid(), seed=seed)


@dataclass
class TPESearch(OptunaSearch):
    """Tree-structured Parzen estimator after `n_startup_trials` random configs."""

    name: ClassVar[str] = "tpe"
    capabilities: ClassVar[Capabilities] = Capabilities(search="model-based", cv_folds=True)
    multivariate: bool = False
    n_startup_trials: int = 10

    def sampler(self, seed: int) -> BaseSampler:
        return _quiet(TPESampler, seed=seed, multivariate=self.multivariate,
                      n_startup_trials=self.n_startup_trials)


@dataclass
class GPSearch(OptunaSearch):
    """Gaussian-process Bayesian optimisation (Optuna's GPSampler; needs torch)."""

    name: ClassVar[str] = "gp"
    capabilities: ClassVar[Capabilities] = Capabilities(search="model-based", cv_folds=True)
    n_startup_trials: int = 10

    def __post_init__(self) -> None:
        super().__post_init__()
        try:
            import torch  # noqa: F401  (GPSampler's surrogate runs on torch)
        except ImportError:
            raise ValueError("gp needs torch; install it with "
                             "`pip install 'automl-auditor[gp]'`") from None

    def sampler(self, seed: int) -> BaseSampler:
        return _quiet(GPSampler, seed=seed, n_startup_trials=self.n_startup_trials)


@dataclass
class CMAESSearch(OptunaSearch):
    """CMA-ES on the numeric dimensions (categoricals drawn at random); needs `cmaes`."""

    name: ClassVar[str] = "cmaes"
    capabilities: ClassVar[Capabilities] = Capabilities(search="model-based", cv_folds=True)
    n_startup_trials: int = 1

    def sampler(self, seed: int) -> BaseSampler:
        return _quiet(CmaEsSampler, seed=seed, n_startup_trials=self.n_startup_trials,
                      warn_independent_sampling=False)


@dataclass
class GeneticSearch(OptunaSearch):
    """A genetic algorithm: NSGA-II on the single objective (crossover, mutation, elitism)."""

    name: ClassVar[str] = "ga"
    capabilities: ClassVar[Capabilities] = Capabilities(search="model-based", cv_folds=True)
    population_size: int = 20

    def sampler(self, seed: int) -> BaseSampler:
        return NSGAIISampler(seed=seed, population_size=self.population_size)


@dataclass
class SuccessiveHalving(OptunaSearch):
    """Random configs, asynchronous successive halving over row fractions 1/eta^k ... 1."""

    name: ClassVar[str] = "sh"
    eta: int = 3
    rungs: int = 3

    def fidelities(self) -> list[float]:
        return ladder(self.eta, self.rungs)

    def sampler(self, seed: int) -> BaseSampler:
        return RandomSampler(seed=seed)

    def pruner(self) -> BasePruner | None:
        return SuccessiveHalvingPruner(min_resource=1, reduction_factor=self.eta,
                                       min_early_stopping_rate=0)


@dataclass
class Hyperband(SuccessiveHalving):
    """Random configs; Hyperband's brackets of successive halving over the same ladder."""

    name: ClassVar[str] = "hyperband"

    def pruner(self) -> BasePruner | None:
        return HyperbandPruner(min_resource=1, max_resource=resource_units(self.fidelities())[-1],
                               reduction_factor=self.eta)


@dataclass
class BOHB(Hyperband):
    """Hyperband's brackets with TPE proposing the configurations (BOHB-style)."""

    name: ClassVar[str] = "bohb"
    capabilities: ClassVar[Capabilities] = Capabilities(search="model-based", cv_folds=True)
    n_startup_trials: int = 10

    def sampler(self, seed: int) -> BaseSampler:
        return _quiet(TPESampler, seed=seed, multivariate=True,
                      n_startup_trials=self.n_startup_trials)
