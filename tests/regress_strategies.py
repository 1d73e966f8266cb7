"""Strategies the regression-gate tests name by import path: a prior draw written with numpy
alone, a propose function doing random search, and two deliberately broken candidates."""

from __future__ import annotations

from typing import Any

import numpy as np
from optuna.samplers import BaseSampler, RandomSampler

from adapters.contract import SearchSpace
from auditor.gate.strategies import PastTrial


def draw(space: SearchSpace, rng: np.random.Generator) -> dict[str, Any]:
    """One configuration from the space's prior (uniform, log-uniform where marked)."""
    config: dict[str, Any] = {}
    for hp in space.hyperparameters:
        if hp.condition is not None and config.get(hp.condition[0]) not in hp.condition[1]:
            continue
        if hp.kind == "categorical":
            config[hp.name] = hp.choices[int(rng.integers(len(hp.choices)))]
            continue
        low, high = (np.log(hp.low), np.log(hp.high)) if hp.log else (hp.low, hp.high)
        value = rng.uniform(low, high)
        value = float(np.exp(value)) if hp.log else float(value)
        config[hp.name] = round(value) if hp.kind == "int" else value
    return config


def random_propose(space: SearchSpace, history: list[PastTrial],
                   rng: np.random.Generator) -> dict[str, Any]:
    """Random search as a propose function."""
    return draw(space, rng)


def tenth_of_the_budget(space: SearchSpace, history: list[PastTrial],
                        rng: np.random.Generator) -> dict[str, Any]:
    """Broken: random search that stops exploring after 10 configurations and repeats them."""
    if len(history) < 10:
        return draw(space, rng)
    return history[len(history) % 10].config


class IgnorantSampler(BaseSampler):
    """Broken: ignores every result, proposing its seed's first random configuration again and
    again."""

    def __init__(self, seed: int | None = None) -> None:
        self._random = RandomSampler(seed=seed)
        self._fixed: dict[str, Any] = {}

    def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, Any]:
        return {}

    def sample_relative(self, study: Any, trial: Any, search_space: Any) -> dict[str, Any]:
        return {}

    def sample_independent(self, study: Any, trial: Any, param_name: str,
                           param_distribution: Any) -> Any:
        if param_name not in self._fixed:
            self._fixed[param_name] = self._random.sample_independent(
                study, trial, param_name, param_distribution)
        return self._fixed[param_name]
