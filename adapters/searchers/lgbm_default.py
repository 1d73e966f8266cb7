"""LightGBM with its library defaults: the reference a search has to improve on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import lightgbm

from adapters.contract import (
    Adapter,
    BudgetFailure,
    Capabilities,
    RunContext,
    RunResult,
    SearchData,
    Trial,
)
from adapters.searchers.evaluation import align_categories, cross_validate, predict, reserve_seconds
from adapters.searchers.families import FAMILIES, StopSearch, describe

LGBM = FAMILIES["lgbm"]


@dataclass
class LightGBMDefault(Adapter):
    """Default LightGBM, scored by k-fold CV on the search rows, refit on all of them."""

    name: ClassVar[str] = "lgbm-default"
    capabilities: ClassVar[Capabilities] = Capabilities(search="fixed", cv_folds=True)
    cv_folds: int = 5

    def version(self) -> str:
        return lightgbm.__version__

    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        start = ctx.elapsed()
        try:
            cv = cross_validate(data, LGBM, {}, ctx, self.cv_folds, reserve_seconds(ctx.budget))
        except StopSearch:
            raise BudgetFailure(
                f"{self.name}: {self.cv_folds}-fold CV of the default config did not finish "
                f"within the {ctx.budget.wall_seconds:g} s budget"
            ) from None
        trial = Trial(number=0, config={}, score=cv.score, start=start, end=ctx.elapsed(),
                      cpu_s=cv.cpu_s)
        model = LGBM.fit(LGBM.model(data.task_type, {}, ctx, data.X), data.X, data.y, None)
        X_holdout = align_categories(data.X_holdout, data.X)
        return RunResult(
            predictions=predict(model, X_holdout, data.task_type, len(data.classes)),
            reported_score=cv.score,
            reported_on=f"{self.cv_folds}-fold CV on search rows",
            n_configs=1,
            best_config={},
            trials=[trial],
            model_description=describe(model),
            fold_scores=cv.fold_scores,
        )
