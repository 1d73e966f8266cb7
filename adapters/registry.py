"""Systems and reference searchers behind one small contract (see `adapters.contract`).

Adding a system: one module here with an `Adapter` subclass declaring its `Capabilities`, an
entry in `SYSTEMS`, and it must pass `adapters.testing.check_adapter`. A suite may also name any
adapter class by import path (`package.module:Class`). This module stays light: nothing heavy is
imported until `load()`.
"""

from __future__ import annotations

import importlib
from typing import Any

from adapters.contract import Adapter

SYSTEMS: dict[str, str] = {
    "constant": "adapters.searchers.baseline:ConstantPredictor",
    "lgbm-default": "adapters.searchers.lgbm_default:LightGBMDefault",
    "random": "adapters.searchers.optuna_search:RandomSearch",
    "tpe": "adapters.searchers.optuna_search:TPESearch",
    "grid": "adapters.searchers.optuna_search:GridSearch",
    "gp": "adapters.searchers.optuna_search:GPSearch",
    "cmaes": "adapters.searchers.optuna_search:CMAESSearch",
    "ga": "adapters.searchers.optuna_search:GeneticSearch",
    "sh": "adapters.searchers.optuna_search:SuccessiveHalving",
    "hyperband": "adapters.searchers.optuna_search:Hyperband",
    "bohb": "adapters.searchers.optuna_search:BOHB",
    "flaml": "adapters.systems.flaml:FLAML",
    "auto-sklearn": "adapters.systems.autosklearn:AutoSklearn",
    "autogluon": "adapters.systems.autogluon:AutoGluon",
    "h2o": "adapters.systems.h2o:H2OAutoML",
    "tpot": "adapters.systems.tpot:TPOT",
}


class UnknownSystem(ValueError):
    """The suite names a system that is neither registered nor importable."""


def resolve(system: str) -> str:
    """Import path `module:Class` for a registered name or an explicit import path."""
    if system in SYSTEMS:
        return SYSTEMS[system]
    if ":" in system:
        return system
    raise UnknownSystem(
        f"unknown system {system!r}; choose one of {', '.join(SYSTEMS)} or give module:Class"
    )


def modules(systems: list[str]) -> tuple[str, ...]:
    """The modules of the adapters of `systems` (those that resolve), sorted."""
    return tuple(sorted({resolve(s).partition(":")[0] for s in systems
                         if s in SYSTEMS or ":" in s}))


def adapter_class(system: str) -> type[Adapter]:
    """The adapter class of a registered name or an import path, without instantiating it."""
    module_name, _, class_name = resolve(system).partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise UnknownSystem(f"cannot import system {system!r}: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Adapter)):
        raise UnknownSystem(f"system {system!r} is not an adapter: subclass "
                            "adapters.contract.Adapter and declare its capabilities")
    return cls


def load(system: str, options: dict[str, Any] | None = None) -> Adapter:
    """Instantiate the adapter for `system` with the suite's `options`."""
    cls = adapter_class(system)
    try:
        return cls(**(options or {}))
    except (TypeError, ValueError) as exc:
        raise UnknownSystem(f"bad options for system {system!r}: {exc}") from None
