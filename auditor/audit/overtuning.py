"""Overtuning: did the tuned incumbent end up worse on the holdout than where the search began?

The incumbent's holdout predictions are compared, on the same holdout rows, with two references
fitted here on the same search rows: the library-default configuration and the first
configuration the search evaluated (Schneider et al. 2025 found about 10 % of HPO runs end worse
than the default on test data). The difference comes with a paired bootstrap 95 % CI; the run is
flagged when the incumbent is worse beyond it; a zero-width CI gives no verdict.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from adapters.contract import Budget, RunContext
from adapters.metrics import Metric
from adapters.searchers.evaluation import align_categories, predict
from adapters.searchers.families import FAMILIES
from adapters.spaces import FAMILY_OF, SPACES, default_config
from auditor.audit.checks import Finding
from auditor.data.split import SealedSplit
from auditor.stats.bootstrap import paired_gain
from auditor.stats.gap import ZERO_WIDTH, zero_width
from reports import decimals, fmt_score


def refit_predict(split: SealedSplit, space: str, config: dict[str, Any], seed: int,
                  cores: int) -> np.ndarray:
    """Fit `config` of the space's family on the search rows and predict the holdout."""
    family = FAMILIES[FAMILY_OF[space]]
    ctx = RunContext(time.monotonic() + 3600, seed, Budget(3600, cores=cores))
    d = split.dataset
    X = split.search_X
    with threadpool_limits(cores):
        model = family.fit(family.model(d.task_type, config, ctx, X), X, split.search_y, None)
    return predict(model, align_categories(split.holdout_X, X), d.task_type, len(d.classes))


def overtuning(metric: Metric, split: SealedSplit, space: str, incumbent: np.ndarray,
               first_config: dict[str, Any], seed: int, cores: int) -> Finding:
    y = split.holdout_y
    stratified = split.dataset.task_type != "regression"
    lines, detail, worse = [], {}, False
    default = default_config(SPACES[space])
    for name, config in (("library default", default), ("first configuration", first_config)):
        reference = refit_predict(split, space, config, seed, cores)
        gain, lo, hi = paired_gain(metric, y, incumbent, reference, stratified, seed)
        detail[name] = {"gain": gain, "lo": lo, "hi": hi, "config": config,
                        "reference_holdout": metric(y, reference)}
        places = decimals(gain, hi - lo)
        if zero_width(lo, hi):
            lines.append(f"vs the {name}: {ZERO_WIDTH} ({fmt_score(gain, True, places)} "
                         f"{metric.name})")
        elif hi < 0:
            worse = True
            lines.append(f"worse than the {name} by {fmt_score(-gain, places=places)} "
                         f"{metric.name} on the holdout (95 % CI {fmt_score(-hi, places=places)}"
                         f" to {fmt_score(-lo, places=places)})")
        else:
            lines.append(f"vs the {name}: {fmt_score(gain, True, places)} {metric.name} "
                         f"(95 % CI {fmt_score(lo, True, places)} to "
                         f"{fmt_score(hi, True, places)})")
    summary = ("overtuned: the tuned incumbent is " if worse else "not overtuned: ") + "; ".join(
        lines)
    return Finding("overtuning", worse, summary, detail)
