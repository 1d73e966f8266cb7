"""The fidelity ladder: a configuration climbs rungs of growing fidelity (fractions of each fold's
training rows), reporting every rung below the top to the study's pruner, which may stop it."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import optuna
from optuna.trial import TrialState


def ladder(eta: int = 3, rungs: int = 3) -> list[float]:
    """Fidelities 1/eta^(rungs-1), ..., 1/eta, 1 (1/9, 1/3, 1 by default)."""
    return [float(eta) ** (k - rungs + 1) for k in range(rungs)]


def resource_units(fidelities: Sequence[float]) -> list[int]:
    """Each rung in the pruner's resource units, the lowest rung being 1 (1, 3, 9)."""
    return [round(f / fidelities[0]) for f in fidelities]


def climb(study: optuna.Study, trial: optuna.Trial, fidelities: Sequence[float],
          evaluate: Callable[[int], float | None]) -> float | None:
    """Evaluate `trial` rung by rung (`evaluate(rung)` gives the score, None when it failed) and
    tell the study how it ended. Returns the top rung's score, or None when pruned or failed."""
    units = resource_units(fidelities)
    for rung in range(len(fidelities)):
        score = evaluate(rung)
        if score is None:
            study.tell(trial, state=TrialState.FAIL)
            return None
        if rung == len(fidelities) - 1:
            study.tell(trial, score)
            return score
        trial.report(score, units[rung])
        if trial.should_prune():
            study.tell(trial, state=TrialState.PRUNED)
            return None
    raise ValueError("a ladder needs at least one fidelity")
