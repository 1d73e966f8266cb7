"""The floor every system has to beat: class priors or the mean of the search rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from adapters.contract import Adapter, Capabilities, RunContext, RunResult, SearchData, Trial
from adapters.metrics import get_metric
from adapters.searchers.evaluation import kfold


def _constant(y: np.ndarray, n_rows: int, data: SearchData) -> np.ndarray:
    """Class priors (n_rows, K) or the mean (n_rows,) of `y`."""
    if data.task_type == "regression":
        return np.full(n_rows, float(np.mean(y)))
    priors = np.bincount(y, minlength=len(data.classes)) / len(y)
    return np.tile(priors, (n_rows, 1))


@dataclass
class ConstantPredictor(Adapter):
    """Predicts class priors (classification) or the mean (regression); scored by k-fold CV."""

    name: ClassVar[str] = "constant"
    capabilities: ClassVar[Capabilities] = Capabilities(search="fixed", cv_folds=True)
    cv_folds: int = 5

    def version(self) -> str:
        return f"numpy {np.__version__}"

    def run(self, data: SearchData, ctx: RunContext) -> RunResult:
        metric = get_metric(data.metric)
        start = ctx.elapsed()
        scores = [
            metric(data.y[valid], _constant(data.y[train], len(valid), data))
            for train, valid in kfold(data, self.cv_folds, ctx.seed)
        ]
        score = float(np.mean(scores))
        trial = Trial(number=0, config={}, score=score, start=start, end=ctx.elapsed())
        return RunResult(
            predictions=_constant(data.y, len(data.X_holdout), data),
            reported_score=score,
            reported_on=f"{self.cv_folds}-fold CV on search rows",
            n_configs=1,
            trials=[trial],
            model_description="mean" if data.task_type == "regression" else "class priors",
            fold_scores=[float(s) for s in scores],
        )
